// PLACEHOLDER: registers the services of this module with a stand-in that does nothing.
#include "remediator/services.hpp"

#include "runtime/service.hpp"

namespace selfheal {
namespace {
class Placeholder final : public Service {
 public:
  explicit Placeholder(std::string name) : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  void start(ServiceContext&) override {}
 private:
  std::string name_;
};
}  // namespace

void register_remediator_services(ServiceRegistry& r) {
  r.add(ServiceInfo{"remediator", "Runs playbooks through the Kubernetes API behind guardrails, and verifies recovery", {"incident-classifier"}, {}, [](const Config&) { return std::make_unique<Placeholder>("remediator"); }});
}

}  // namespace selfheal
