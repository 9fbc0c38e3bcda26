// Disruption budget: never more than `remediator.max_disruption_percent` of a deployment's pods
// unavailable at once because of us. Like a PodDisruptionBudget's maxUnavailable percentage, the
// budget is ceil(pods x percent / 100) pods, so a single-replica deployment may lose its pod only
// when nothing else is down. The action may proceed when the pods already unavailable (not ready,
// terminating, or missing against spec.replicas) plus the ready pods it takes down fit the budget.
// An action that takes down no ready pod (deleting a crash-looping pod) never makes it worse.
// Stateless: it reads the deployment and its pods through the API for every decision.
#pragma once

#include "remediator/guardrails/guardrail.hpp"

namespace selfheal::remediation {

class DisruptionBudget final : public Guardrail {
 public:
  explicit DisruptionBudget(double max_percent) : max_percent_(max_percent) {}
  std::string_view name() const override { return "disruption_budget"; }
  bool needs_cluster() const override { return true; }
  Verdict check(const ProposedAction& a, TimeMs) override;

 private:
  double max_percent_;
};

}  // namespace selfheal::remediation
