// Registers the remediator service: config, playbooks, Kubernetes client, guardrails.
#include "remediator/services.hpp"

#include "core/config.hpp"
#include "remediator/kubernetes_factory.hpp"
#include "remediator/remediator.hpp"

namespace selfheal {

void register_remediator_services(ServiceRegistry& r) {
  r.add(ServiceInfo{
      "remediator",
      "Runs playbooks through the Kubernetes API behind guardrails, and verifies recovery",
      {"incident-classifier"},
      [](ConfigSchema& s) { remediation::declare_remediator_config(s); },
      [](const Config& c) -> std::unique_ptr<Service> {
        auto options = remediation::RemediatorOptions::from_config(c);
        std::string path = c.str("remediator.playbooks");
        auto playbooks = path.empty() ? remediation::PlaybookSet::defaults() : remediation::PlaybookSet::from_file(path);
        auto kube = remediation::make_kubernetes_client(remediation::KubernetesSettings{
            c.str("remediator.kubeconfig"), c.str("remediator.kube_context"), c.boolean("remediator.in_cluster"),
            c.str("remediator.clear_state_url")});
        return std::make_unique<remediation::Remediator>(std::move(options), std::move(playbooks), std::move(kube));
      }});
}

}  // namespace selfheal
