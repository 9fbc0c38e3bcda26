// The ordered list of guardrails an action passes. Cheap checks that need no API call come first
// (kill switch, namespace, cooldown, rate limit); those that read the cluster (max replicas,
// disruption budget) run after the remediator has read the deployment and its pods.
#pragma once

#include <memory>
#include <vector>

#include "remediator/guardrails/guardrail.hpp"

namespace selfheal::remediation {

class GuardrailChain {
 public:
  void add(std::unique_ptr<Guardrail> g) { guards_.push_back(std::move(g)); }

  // Runs the guardrails of one phase (needs_cluster false, then true). Applies caps to `a` and
  // appends their notes to `notes`; returns the first refusal, named.
  Verdict check(ProposedAction& a, TimeMs now, bool cluster_phase, std::string& notes) {
    for (auto& g : guards_) {
      if (g->needs_cluster() != cluster_phase) continue;
      Verdict v = g->check(a, now);
      v.guardrail = std::string(g->name());
      if (!v.allowed) return v;
      if (v.capped_replicas) {
        a.desired_replicas = *v.capped_replicas;
        notes += (notes.empty() ? "" : "; ") + v.guardrail + ": " + v.reason;
      }
    }
    return Verdict::allow();
  }
  void record(const ProposedAction& a, TimeMs now) {
    for (auto& g : guards_) g->record(a, now);
  }

 private:
  std::vector<std::unique_ptr<Guardrail>> guards_;
};

}  // namespace selfheal::remediation
