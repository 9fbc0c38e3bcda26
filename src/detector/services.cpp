// PLACEHOLDER: registers the services of this module with a stand-in that does nothing.
#include "detector/services.hpp"

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

void register_detector_services(ServiceRegistry& r) {
  r.add(ServiceInfo{"anomaly-detector", "Scores feature windows with streaming models and emits anomalies", {"log-processor", "metrics-processor"}, {}, [](const Config&) { return std::make_unique<Placeholder>("anomaly-detector"); }});
}

}  // namespace selfheal
