#include "logproc/services.hpp"

#include "logproc/log_processor_service.hpp"

namespace selfheal {

void register_logproc_services(ServiceRegistry& r) {
  r.add(ServiceInfo{"log-processor",
                    "Parses raw log lines into structured records with mined templates; log features per window",
                    {"log-generator"},
                    &logproc::LogProcessorService::declare_config,
                    [](const Config& config) {
                      return std::make_unique<logproc::LogProcessorService>(
                          logproc::LogProcessorService::options_from(config));
                    }});
}

}  // namespace selfheal
