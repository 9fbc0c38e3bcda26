// PLACEHOLDER: registers the services of this module with a stand-in that does nothing.
#include "logproc/services.hpp"

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

void register_logproc_services(ServiceRegistry& r) {
  r.add(ServiceInfo{"log-processor", "Parses raw log lines into structured records with mined templates; log features per window", {"log-generator"}, {}, [](const Config&) { return std::make_unique<Placeholder>("log-processor"); }});
}

}  // namespace selfheal
