// The remediator's view of a Kubernetes cluster: exactly the API calls it makes, each one a real
// Kubernetes REST call (HttpKubernetesClient) against cluster-sim or any real cluster. The RBAC Role
// in deploy/k8s grants exactly kubernetes_api_calls().
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "contracts/events.hpp"

namespace selfheal {

struct K8sPod {
  std::string name;
  std::string namespace_name;
  std::map<std::string, std::string> labels;  // app=<deployment>
  std::string phase;
  bool ready = false;
  bool terminating = false;
  int restarts = 0;
  std::string waiting_reason;           // CrashLoopBackOff, ...
  std::string last_termination_reason;  // OOMKilled, ...
  TimeMs start_time = 0;
};

struct K8sDeployment {
  std::string name;
  std::string namespace_name;
  int replicas = 0;
  int ready_replicas = 0;
  int updated_replicas = 0;
  int available_replicas = 0;
  std::int64_t generation = 0;
  std::int64_t observed_generation = 0;
};

// The outcome of one API call. `status` is the HTTP status (0: no answer, e.g. connection refused);
// `reason`/`message` come from the Kubernetes Status object when there is one.
struct K8sResult {
  bool ok = false;
  int status = 0;
  std::string reason;
  std::string message;
};

// One kind of request the client can make, for the least-privilege RBAC test.
struct K8sApiCall {
  std::string verb;       // get, list, watch, delete, patch (RBAC verbs)
  std::string api_group;  // "" (core) or "apps"
  std::string resource;   // pods, deployments, deployments/scale
};

class KubernetesClient {
 public:
  virtual ~KubernetesClient() = default;
  virtual K8sResult list_pods(const std::string& ns, const std::string& label_selector,
                              std::vector<K8sPod>& out) = 0;
  virtual K8sResult get_pod(const std::string& ns, const std::string& name, K8sPod& out) = 0;
  virtual K8sResult delete_pod(const std::string& ns, const std::string& name) = 0;
  virtual K8sResult list_deployments(const std::string& ns, std::vector<K8sDeployment>& out) = 0;
  virtual K8sResult get_deployment(const std::string& ns, const std::string& name, K8sDeployment& out) = 0;
  // PATCH .../deployments/NAME/scale (merge patch {"spec":{"replicas":N}}).
  virtual K8sResult scale_deployment(const std::string& ns, const std::string& name, int replicas) = 0;
  // PATCH .../deployments/NAME (strategic merge patch of the restartedAt template annotation).
  virtual K8sResult rollout_restart(const std::string& ns, const std::string& name, TimeMs at) = 0;
  // POST to a service's clear-state admin hook (URL from remediator config); not a Kubernetes call.
  virtual K8sResult clear_state(const std::string& ns, const std::string& service) = 0;
};

// Every Kubernetes API call HttpKubernetesClient can make.
const std::vector<K8sApiCall>& kubernetes_api_calls();

}  // namespace selfheal
