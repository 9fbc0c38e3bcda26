// PLACEHOLDER: registers the services of this module with a stand-in that does nothing.
#include "rules/services.hpp"

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

void register_rules_services(ServiceRegistry& r) {
  r.add(ServiceInfo{"rule-engine", "Deterministic threshold rules over window features (Prometheus-style, hot reload)", {"log-processor", "metrics-processor"}, {}, [](const Config&) { return std::make_unique<Placeholder>("rule-engine"); }});
}

}  // namespace selfheal
