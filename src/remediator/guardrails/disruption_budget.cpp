#include "remediator/guardrails/disruption_budget.hpp"

#include <algorithm>
#include <cmath>

namespace selfheal::remediation {

Verdict DisruptionBudget::check(const ProposedAction& a, TimeMs) {
  if (a.kind == ActionKind::NotifyOnly || a.kind == ActionKind::ClearState) return Verdict::allow();
  if (a.kind == ActionKind::ScaleDeployment && a.desired_replicas >= a.current_replicas) return Verdict::allow();
  if (!a.cluster || !a.cluster->loaded) return Verdict::refuse("the deployment's pods could not be read");
  const auto& pods = a.cluster->pods;
  int ready = 0;
  bool target_ready = false;
  for (const auto& p : pods) {
    bool up = p.ready && !p.terminating;
    if (up) ++ready;
    if (up && p.name == a.pod) target_ready = true;
  }
  int total = std::max<int>(a.cluster->deployment.replicas, static_cast<int>(pods.size()));
  int unavailable = std::max(0, total - ready);
  int takes_down = 0;
  switch (a.kind) {
    case ActionKind::DeletePod: takes_down = target_ready ? 1 : 0; break;
    // A rolling restart replaces pods one at a time (maxUnavailable rounds down to 0 for small
    // deployments, maxSurge brings the new pod up first), so at most one ready pod is in flight.
    case ActionKind::RolloutRestart: takes_down = ready > 0 ? 1 : 0; break;
    case ActionKind::ScaleDeployment: takes_down = std::min(ready, a.current_replicas - a.desired_replicas); break;
    default: break;
  }
  if (takes_down == 0) return Verdict::allow();
  int budget = total <= 0 ? 0 : static_cast<int>(std::ceil(total * max_percent_ / 100.0 - 1e-9));
  if (unavailable + takes_down <= budget) return Verdict::allow();
  return Verdict::refuse(std::to_string(unavailable) + " of " + std::to_string(total) + " pods of " +
                         workload_key(a) + " are unavailable; taking " + std::to_string(takes_down) +
                         " more down would pass the budget of " + std::to_string(budget) + " (" +
                         std::to_string(static_cast<int>(max_percent_)) + "%)");
}

}  // namespace selfheal::remediation
