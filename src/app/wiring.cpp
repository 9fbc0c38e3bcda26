// The one place that lists every service of selfheal, in dependency order. Each module registers
// its own services (name, deps, config, factory) through its register_*_services function.
#include "api/services.hpp"
#include "classifier/services.hpp"
#include "detector/services.hpp"
#include "logproc/services.hpp"
#include "metricsproc/services.hpp"
#include "remediator/services.hpp"
#include "rules/services.hpp"
#include "app/app.hpp"
#include "app/narrator.hpp"
#include "sim/services.hpp"

namespace selfheal {

const ServiceRegistry& service_registry() {
  static const ServiceRegistry registry = [] {
    ServiceRegistry r;
    register_sim_services(r);          // cluster-sim, log-generator, metrics-generator
    register_logproc_services(r);      // log-processor
    register_metricsproc_services(r);  // metrics-processor
    register_detector_services(r);     // anomaly-detector
    register_rules_services(r);        // rule-engine
    register_classifier_services(r);   // incident-classifier
    register_remediator_services(r);   // remediator
    register_api_services(r);          // api (also persists anomalies, incidents, actions)
    register_narrator_service(r);      // narrator (hidden): the story on the terminal
    return r;
  }();
  return registry;
}

}  // namespace selfheal
