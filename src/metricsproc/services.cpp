#include "metricsproc/services.hpp"

#include "metricsproc/metrics_processor_service.hpp"

namespace selfheal {

void register_metricsproc_services(ServiceRegistry& r) {
  r.add(ServiceInfo{"metrics-processor",
                    "Cleans metric samples and builds event-time windows (rates, p50/p95/p99, memory slope)",
                    {"metrics-generator"},
                    &MetricsProcessorService::declare_config,
                    [](const Config& config) {
                      return std::make_unique<MetricsProcessorService>(MetricsProcessorService::options_from(config));
                    }});
}

}  // namespace selfheal
