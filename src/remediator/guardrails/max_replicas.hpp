// Maximum replicas: a scale step never takes a deployment above `remediator.max_replicas`. A step
// that would overshoot is capped (and the cap is recorded); one that cannot add anything is refused.
// Stateless.
#pragma once

#include "remediator/guardrails/guardrail.hpp"

namespace selfheal::remediation {

class MaxReplicas final : public Guardrail {
 public:
  explicit MaxReplicas(int max_replicas) : max_(max_replicas) {}
  std::string_view name() const override { return "max_replicas"; }
  bool needs_cluster() const override { return true; }
  Verdict check(const ProposedAction& a, TimeMs) override {
    if (a.kind != ActionKind::ScaleDeployment || a.desired_replicas <= max_) return Verdict::allow();
    if (a.current_replicas >= max_ || a.desired_replicas <= a.current_replicas)
      return Verdict::refuse(workload_key(a) + " has " + std::to_string(a.current_replicas) + " replicas; scaling to " +
                             std::to_string(a.desired_replicas) + " would pass the maximum of " +
                             std::to_string(max_));
    Verdict v;
    v.capped_replicas = max_;
    v.reason = "capped at " + std::to_string(max_) + " replicas (asked " + std::to_string(a.desired_replicas) + ")";
    return v;
  }

 private:
  int max_;
};

}  // namespace selfheal::remediation
