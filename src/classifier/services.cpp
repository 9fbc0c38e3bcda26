// PLACEHOLDER: registers the services of this module with a stand-in that does nothing.
#include "classifier/services.hpp"

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

void register_classifier_services(ServiceRegistry& r) {
  r.add(ServiceInfo{"incident-classifier", "Correlates anomalies and rule hits into typed, explained incidents with a root cause", {"anomaly-detector", "rule-engine"}, {}, [](const Config&) { return std::make_unique<Placeholder>("incident-classifier"); }});
}

}  // namespace selfheal
