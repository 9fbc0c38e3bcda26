#include "api/services.hpp"

#include "api/api_service.hpp"

namespace selfheal {

void register_api_services(ServiceRegistry& r) {
  r.add(ServiceInfo{"api", "REST API for incidents, actions and anomalies; persists them to the store",
                    {"anomaly-detector", "incident-classifier", "remediator"}, declare_api_config,
                    [](const Config& c) { return std::make_unique<ApiService>(c); }});
}

}  // namespace selfheal
