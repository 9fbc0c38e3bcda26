// The incident-classifier service: feeds anomalies, feature windows and remediation events to the
// IncidentClassifier and publishes every changed incident snapshot on `incidents`.
//
// Lifecycle: start() parses the call graph (a malformed entry is fatal, with the entry named) and
// subscribes; on_tick() publishes incidents whose decision delay has passed and resolves those back
// to normal. Threading: one executor thread.
//
// State: its per-service state (open incidents and what they need, see
// IncidentClassifier::save_service) is checkpointed per event key and moves with the key's
// partition (keep_state, runtime/keyed_state.hpp).
#include "classifier/services.hpp"

#include <map>

#include "classifier/incident_classifier.hpp"
#include "contracts/topics.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "runtime/event_service.hpp"

namespace selfheal {
namespace {

constexpr std::string_view kName = "incident-classifier";

classifier::ClassifierOptions options_from(const Config& c) {
  classifier::ClassifierOptions o;
  try {
    o.graph = classifier::CallGraph::parse(c.strings("incident_classifier.call_graph"));
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string("incident_classifier.call_graph: ") + e.what());
  }
  o.database_services = c.strings("incident_classifier.database_services");
  o.namespace_name = c.str("incident_classifier.namespace");
  o.min_score = c.number("incident_classifier.min_score");
  o.open_score = c.number("incident_classifier.open_score");
  o.open_min_anomalies = static_cast<int>(c.integer("incident_classifier.open_min_anomalies"));
  o.confirm_window_ms = c.duration_ms("incident_classifier.confirm_window");
  o.decide_delay_ms = c.duration_ms("incident_classifier.decide_delay");
  o.catch_up_max_ms = c.duration_ms("incident_classifier.catch_up_max");
  o.correlation_window_ms = c.duration_ms("incident_classifier.correlation_window");
  o.resolve_hold_ms = c.duration_ms("incident_classifier.resolve_hold");
  o.reopen_window_ms = c.duration_ms("incident_classifier.reopen_window");
  o.baseline_alpha = c.number("incident_classifier.baseline_alpha");
  o.back_fraction = c.number("incident_classifier.back_fraction");
  auto in_unit = [](double v, const char* key) {
    if (!(v >= 0.0 && v <= 1.0)) throw std::runtime_error(std::string(key) + ": must be within [0,1]");
  };
  in_unit(o.min_score, "incident_classifier.min_score");
  in_unit(o.open_score, "incident_classifier.open_score");
  in_unit(o.baseline_alpha, "incident_classifier.baseline_alpha");
  in_unit(o.back_fraction, "incident_classifier.back_fraction");
  if (o.open_min_anomalies < 1) throw std::runtime_error("incident_classifier.open_min_anomalies: must be at least 1");
  return o;
}

class IncidentClassifierService final : public EventService, public KeyedState {
 public:
  explicit IncidentClassifierService(const Config& c) : options_(options_from(c)) {}

  std::string_view name() const override { return kName; }

  void start(ServiceContext& ctx) override {
    bind(ctx);
    options_.id_prefix = "inc-" + (ctx.run_id.empty() ? std::string("r") : ctx.run_id);
    // Over Kafka a classifier may restart or run beside another: its numbering starts again at 1,
    // so the process tag keeps its ids apart from every earlier process's (whose incidents it may
    // have restored, ids and all).
    if (!process_tag().empty()) options_.id_prefix += "-" + process_tag();
    classifier_ = std::make_unique<classifier::IncidentClassifier>(options_);
    snapshots_ = &ctx.metrics.counter("selfheal_incident_snapshots_total", "Incident snapshots published (every change)");
    duplicates_ = &ctx.metrics.counter("selfheal_classifier_duplicates_total",
                                       "Anomalies and remediation events seen twice and ignored");
    active_ = &ctx.metrics.gauge("selfheal_incidents_active", "Incidents open, mitigating or escalated");
    keep_state(*this);
    consume(topics::kAnomalies);
    consume(topics::kFeatures);
    consume(topics::kActions);
  }

  void on_tick(TimeMs now) override {
    publish(classifier_->on_tick(now));
    for (const auto& n : classifier_->take_notices()) log::info(kName, "{}", n);
  }

  // Every event is keyed by its monitored service, and so is the classifier's state.
  nlohmann::json save_key(const std::string& key) const override { return classifier_->save_service(key); }
  void restore_key(const std::string& key, const nlohmann::json& state) override {
    classifier_->restore_service(key, state);  // throws before changing anything on a bad state
    // The restored incidents' last published status, so a resolution is counted once, and not
    // again for one the previous owner already counted.
    for (const Incident& i : classifier_->incidents_of(key)) last_status_[i.id] = i.status;
    active_->set(static_cast<double>(classifier_->active_incidents()));
  }

 protected:
  void handle(const Delivery& d) override {
    if (const auto* a = std::get_if<Anomaly>(&d.event)) publish(classifier_->on_anomaly(*a));
    else if (const auto* w = std::get_if<FeatureWindow>(&d.event)) publish(classifier_->on_features(*w));
    else if (const auto* act = std::get_if<RemediationAction>(&d.event)) publish(classifier_->on_action(*act));
    else if (const auto* r = std::get_if<ActionResult>(&d.event)) publish(classifier_->on_result(*r));
  }

 private:
  void publish(std::vector<Incident> snapshots) {
    for (Incident& i : snapshots) {
      if (i.revision == 1) {
        log::info(kName, "{} opened: {} ({}, {})", i.id, i.title, to_string(i.type), to_string(i.severity));
        ctx().metrics
            .counter("selfheal_incidents_opened_total", "Incidents opened, by type and root-cause service at opening",
                     {{"type", std::string(to_string(i.type))}, {"service", i.service}})
            .inc();
      }
      // Count each transition into resolved once (a reopened incident that resolves again counts again).
      auto [it, fresh] = last_status_.try_emplace(i.id, i.status);
      if (i.status == IncidentStatus::Resolved && (fresh || it->second != IncidentStatus::Resolved))
        ctx().metrics
            .counter("selfheal_incidents_resolved_total", "Incidents resolved, by type",
                     {{"type", std::string(to_string(i.type))}})
            .inc();
      it->second = i.status;
      snapshots_->inc();
      emit(topics::kIncidents, std::move(i));
    }
    duplicates_->inc(static_cast<double>(classifier_->duplicates_ignored()) - duplicates_->value());
    // Bounded memory on a long run: forget resolved incidents once there are many.
    if (last_status_.size() > 10'000)
      std::erase_if(last_status_, [](const auto& e) { return e.second == IncidentStatus::Resolved; });
    active_->set(static_cast<double>(classifier_->active_incidents()));
  }

  classifier::ClassifierOptions options_;
  std::unique_ptr<classifier::IncidentClassifier> classifier_;
  Counter* snapshots_ = nullptr;
  Counter* duplicates_ = nullptr;
  Gauge* active_ = nullptr;
  std::map<std::string, IncidentStatus> last_status_;  // incident id -> status of its last snapshot
};

}  // namespace

void register_classifier_services(ServiceRegistry& r) {
  r.add(ServiceInfo{
      "incident-classifier",
      "Correlates anomalies and rule hits into typed, explained incidents with a root cause",
      {"anomaly-detector", "rule-engine"},
      [](ConfigSchema& s) {
        s.add("incident_classifier.call_graph", ConfigType::StringList,
              "frontend->orders|search,orders->payments|inventory|postgres,payments->postgres,"
              "search->cache|inventory,inventory->postgres",
              "Service call graph, entries caller->callee1|callee2: groups a fault's alerts and tells culprits "
              "from victims");
        s.add("incident_classifier.database_services", ConfigType::StringList, "postgres",
              "Services that are databases (db_latency incidents are rooted there)");
        s.add("incident_classifier.namespace", ConfigType::String, "shop", "Kubernetes namespace of the services");
        s.add("incident_classifier.min_score", ConfigType::Double, "0.5", "Model anomalies below this score are ignored");
        s.add("incident_classifier.open_score", ConfigType::Double, "0.9",
              "One model anomaly at least this strong opens an incident (a rule hit always does)");
        s.add("incident_classifier.open_min_anomalies", ConfigType::Int, "2",
              "Otherwise this many anomalies of a service within confirm_window open one");
        s.add("incident_classifier.confirm_window", ConfigType::Duration, "60s",
              "How long weak evidence of a service waits for confirmation");
        s.add("incident_classifier.decide_delay", ConfigType::Duration, "10s",
              "Wait after an incident qualifies before publishing it, so signals moving together are weighed together");
        s.add("incident_classifier.catch_up_max", ConfigType::Duration, "30s",
              "After decide_delay, wait at most this long for every related service's windows to cover the first "
              "signal's time (metrics windows show a change a scrape later than logs), so victims are told from culprits");
        s.add("incident_classifier.correlation_window", ConfigType::Duration, "5m",
              "A related anomaly within this long of an incident's last signal joins it");
        s.add("incident_classifier.resolve_hold", ConfigType::Duration, "2m",
              "No anomaly for this long and signals back near baseline: resolved");
        s.add("incident_classifier.reopen_window", ConfigType::Duration, "10m",
              "A relapse of the root service within this long after resolution reopens the incident");
        s.add("incident_classifier.baseline_alpha", ConfigType::Double, "0.05",
              "EWMA weight of one calm window in the classifier's own baselines (evidence text, back-to-normal)");
        s.add("incident_classifier.back_fraction", ConfigType::Double, "0.25",
              "A signal is back to normal within this share of its excursion from baseline");
      },
      [](const Config& c) { return std::make_unique<IncidentClassifierService>(c); }});
}

}  // namespace selfheal
