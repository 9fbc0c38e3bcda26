// The guardrail interface: every action the remediator is about to take (and again right before it
// runs, after an approval wait) passes each guardrail in order; the first refusal stops it and is
// published as a `skipped` RemediationAction naming the guardrail and the reason.
//
// Threading: guardrails are called from the remediator's executor thread only, except KillSwitch,
// whose runtime flag may be flipped from the admin HTTP thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "contracts/events.hpp"
#include "remediator/kubernetes_client.hpp"

namespace selfheal::remediation {

// What the cluster looked like when the action was judged (read through the Kubernetes API).
struct ClusterSnapshot {
  bool loaded = false;
  K8sDeployment deployment;
  std::vector<K8sPod> pods;  // the deployment's pods (label app=<deployment>)
};

// The action under judgement.
struct ProposedAction {
  std::string run_key;        // the playbook run (incident + episode) it belongs to
  std::string incident_id;
  std::string service;        // = the deployment name
  std::string namespace_name;
  ActionKind kind = ActionKind::NotifyOnly;
  std::string pod;            // DeletePod: the pod to delete
  int current_replicas = 0;   // ScaleDeployment: from the snapshot
  int desired_replicas = 0;   // ScaleDeployment: what the step asks for
  const ClusterSnapshot* cluster = nullptr;  // set for guardrails that need_cluster()
};

struct Verdict {
  bool allowed = true;
  std::string guardrail;               // who refused (or capped)
  std::string reason;                  // why, for the audit trail
  std::optional<int> capped_replicas;  // MaxReplicas lowered the desired count
  // Set on a refusal that only holds the step back until then (the cooldown of an earlier episode
  // of the SAME incident): the remediator defers the step to this time instead of giving up.
  TimeMs retry_at = 0;
  static Verdict allow() { return {}; }
  static Verdict refuse(std::string why) { return Verdict{false, {}, std::move(why), {}}; }
};

class Guardrail {
 public:
  virtual ~Guardrail() = default;
  virtual std::string_view name() const = 0;
  // True when check() reads ProposedAction::cluster (the remediator reads the API only if needed).
  virtual bool needs_cluster() const { return false; }
  virtual Verdict check(const ProposedAction& action, TimeMs now) = 0;
  // The action was carried out (or decided in dry-run): stateful guardrails count it.
  virtual void record(const ProposedAction& action, TimeMs now) {}
};

// Target of cooldowns and disruption: the workload. Pods are replaced under new names, so a
// per-pod key would never see the same target twice.
inline std::string workload_key(const ProposedAction& a) { return a.namespace_name + "/" + a.service; }
// The service of a workload key ("shop/orders" -> "orders"): checkpoints are kept per service.
inline std::string_view workload_service(std::string_view workload) {
  auto slash = workload.find('/');
  return slash == std::string_view::npos ? workload : workload.substr(slash + 1);
}

}  // namespace selfheal::remediation
