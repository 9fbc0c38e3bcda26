// PLACEHOLDER: registers the services of this module with a stand-in that does nothing.
#include "sim/services.hpp"

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

void register_sim_services(ServiceRegistry& r) {
  r.add(ServiceInfo{"cluster-sim", "Simulated Kubernetes cluster: workload, faults and a Kubernetes API kubectl can drive", {}, {}, [](const Config&) { return std::make_unique<Placeholder>("cluster-sim"); }});
  r.add(ServiceInfo{"log-generator", "Renders the simulated workload into application logs (JSON, logfmt, text, access logs)", {"cluster-sim"}, {}, [](const Config&) { return std::make_unique<Placeholder>("log-generator"); }});
  r.add(ServiceInfo{"metrics-generator", "Renders the simulated workload into per-pod metrics scrapes", {"cluster-sim"}, {}, [](const Config&) { return std::make_unique<Placeholder>("metrics-generator"); }});
}

}  // namespace selfheal
