// PLACEHOLDER: registers the services of this module with a stand-in that does nothing.
#include "metricsproc/services.hpp"

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

void register_metricsproc_services(ServiceRegistry& r) {
  r.add(ServiceInfo{"metrics-processor", "Cleans metric samples and builds event-time windows (rates, p50/p95/p99, memory slope)", {"metrics-generator"}, {}, [](const Config&) { return std::make_unique<Placeholder>("metrics-processor"); }});
}

}  // namespace selfheal
