#include "remediator/kubernetes_factory.hpp"

#include <stdexcept>

#ifdef SELFHEAL_HAVE_HTTP_KUBERNETES_CLIENT
#include "remediator/kubernetes/http_kubernetes_client.hpp"
#endif

namespace selfheal::remediation {
namespace {

// Creates the real client on first use; while that fails, every call fails with the reason.
// Threading: like the client it wraps (the remediator calls it from its executor thread only).
class LazyKubernetesClient final : public KubernetesClient {
 public:
  explicit LazyKubernetesClient(KubernetesSettings s) : settings_(std::move(s)) {}

  K8sResult list_pods(const std::string& ns, const std::string& sel, std::vector<K8sPod>& out) override {
    if (auto* c = client()) return c->list_pods(ns, sel, out);
    return unavailable();
  }
  K8sResult get_pod(const std::string& ns, const std::string& name, K8sPod& out) override {
    if (auto* c = client()) return c->get_pod(ns, name, out);
    return unavailable();
  }
  K8sResult delete_pod(const std::string& ns, const std::string& name) override {
    if (auto* c = client()) return c->delete_pod(ns, name);
    return unavailable();
  }
  K8sResult list_deployments(const std::string& ns, std::vector<K8sDeployment>& out) override {
    if (auto* c = client()) return c->list_deployments(ns, out);
    return unavailable();
  }
  K8sResult get_deployment(const std::string& ns, const std::string& name, K8sDeployment& out) override {
    if (auto* c = client()) return c->get_deployment(ns, name, out);
    return unavailable();
  }
  K8sResult scale_deployment(const std::string& ns, const std::string& name, int replicas) override {
    if (auto* c = client()) return c->scale_deployment(ns, name, replicas);
    return unavailable();
  }
  K8sResult rollout_restart(const std::string& ns, const std::string& name, TimeMs at) override {
    if (auto* c = client()) return c->rollout_restart(ns, name, at);
    return unavailable();
  }
  K8sResult clear_state(const std::string& ns, const std::string& service) override {
    if (auto* c = client()) return c->clear_state(ns, service);
    return unavailable();
  }

 private:
  KubernetesClient* client() {
    if (inner_) return inner_.get();
#ifdef SELFHEAL_HAVE_HTTP_KUBERNETES_CLIENT
    try {
      KubeCredentials creds = settings_.in_cluster ? load_in_cluster_credentials()
                                                   : load_kubeconfig(settings_.kubeconfig, settings_.context);
      inner_ = make_http_kubernetes_client(std::move(creds), settings_.clear_state_url);
    } catch (const std::exception& e) {
      error_ = std::string("no Kubernetes client: ") + e.what();
    }
#else
    error_ = "no Kubernetes client: this build has no HTTP Kubernetes client (src/remediator/kubernetes)";
#endif
    return inner_.get();
  }
  K8sResult unavailable() const { return K8sResult{false, 0, "ClientUnavailable", error_}; }

  KubernetesSettings settings_;
  std::unique_ptr<KubernetesClient> inner_;
  std::string error_;
};

}  // namespace

std::unique_ptr<KubernetesClient> make_kubernetes_client(KubernetesSettings settings) {
  return std::make_unique<LazyKubernetesClient>(std::move(settings));
}

}  // namespace selfheal::remediation
