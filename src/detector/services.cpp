#include "detector/services.hpp"

#include "core/config.hpp"
#include "detector/anomaly_detector.hpp"

namespace selfheal {

void register_detector_services(ServiceRegistry& r) {
  r.add(ServiceInfo{"anomaly-detector", "Scores feature windows with streaming models and emits anomalies",
                    {"log-processor", "metrics-processor"},
                    [](ConfigSchema& s) { detector::DetectorSettings::declare(s); },
                    [](const Config& c) {
                      return std::make_unique<detector::AnomalyDetectorService>(detector::DetectorSettings::from_config(c));
                    }});
}

}  // namespace selfheal
