// Where the remediator's KubernetesClient comes from. The real client (kubernetes/, HTTPS against
// cluster-sim or a real cluster) is created lazily on first use and again after a failure: in
// `selfheal all` cluster-sim writes the kubeconfig when it starts, and a separately deployed
// remediator may start before its cluster answers.
#pragma once

#include <memory>
#include <string>

#include "remediator/kubernetes_client.hpp"

namespace selfheal::remediation {

struct KubernetesSettings {
  std::string kubeconfig;       // remediator.kubeconfig
  std::string context;          // remediator.kube_context
  bool in_cluster = false;      // remediator.in_cluster
  std::string clear_state_url;  // remediator.clear_state_url
};

// Never throws: credential problems surface as failed calls (status 0) naming the cause, which
// the remediator records as failed actions.
std::unique_ptr<KubernetesClient> make_kubernetes_client(KubernetesSettings settings);

}  // namespace selfheal::remediation
