// PLACEHOLDER: registers the services of this module with a stand-in that does nothing.
#include "api/services.hpp"

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

void register_api_services(ServiceRegistry& r) {
  r.add(ServiceInfo{"api", "REST API for incidents, actions and anomalies; persists them to the store", {"anomaly-detector", "incident-classifier", "remediator"}, {}, [](const Config&) { return std::make_unique<Placeholder>("api"); }});
}

}  // namespace selfheal
