// The incident classifier's logic, without a bus: turns a stream of anomalies (from models and
// rules), feature windows and remediation events into incident snapshots. The
// incident-classifier service (services.cpp) feeds it and publishes what it returns.
//
//  * Correlation: an anomaly joins the active incident whose root-cause service it is related to
//    through the call graph (caller or callee, directly or not) if that incident saw a signal
//    within `correlation_window`; otherwise it waits as pending evidence of its service until the
//    evidence is strong enough to open an incident (one strong anomaly, a rule hit, or
//    `open_min_anomalies` anomalies). One fault gives one incident however many alerts it raises.
//  * Decision: an incident is published `decide_delay` after it qualified, so signals that move
//    together (the same windows) are weighed together; a published type changes only when another
//    type clearly scores higher, and not at all once a remediation action ran (unless unknown).
//  * Lifecycle: open -> mitigating (an action executed) -> resolved (no anomaly for `resolve_hold`
//    and every moved signal back near its baseline) or escalated (verification: not recovered);
//    a resolved incident reopens when its root service relapses within `reopen_window`.
//  * State per service (save_service/restore_service): what the classifier holds that belongs to
//    one monitored service, as JSON, so that it can move with that service's bus partition.
//
// Deterministic: ordered containers only, no clock but the times it is given.
// Threading: single-threaded; owned by one service.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "classifier/call_graph.hpp"
#include "contracts/events.hpp"

namespace selfheal::classifier {

struct ClassifierOptions {
  CallGraph graph = CallGraph::parse(CallGraph::demo_shop_edges());
  std::vector<std::string> database_services = {"postgres"};
  std::string namespace_name = "shop";
  std::string id_prefix = "inc";
  double min_score = 0.5;                 // model anomalies below this are ignored
  double open_score = 0.9;                // one model anomaly this strong opens an incident
  int open_min_anomalies = 2;             // ... or this many within `confirm_window`
  std::int64_t confirm_window_ms = 60'000;
  std::int64_t decide_delay_ms = 10'000;
  // After decide_delay, wait at most this long for the windows of every related service to cover
  // the time the incident's first signal moved (0: decide on what is there).
  std::int64_t catch_up_max_ms = 30'000;
  std::int64_t correlation_window_ms = 300'000;
  std::int64_t resolve_hold_ms = 120'000;
  std::int64_t reopen_window_ms = 600'000;
  double baseline_alpha = 0.05;           // EWMA weight of a normal window in the classifier's baselines
  double back_fraction = 0.25;            // a signal is back when within this share of its excursion
};

class IncidentClassifier {
 public:
  explicit IncidentClassifier(ClassifierOptions options);

  // Each returns the incident snapshots that changed (revision already incremented).
  std::vector<Incident> on_anomaly(const Anomaly& a);
  std::vector<Incident> on_features(const FeatureWindow& w);
  std::vector<Incident> on_action(const RemediationAction& a);
  std::vector<Incident> on_result(const ActionResult& r);
  std::vector<Incident> on_tick(TimeMs now);
  // Why quiet incidents stay unresolved ("<id> stays mitigating: no anomaly for 150s but
  // latency_p95_s on search is 0.4 (baseline 0.05, peak 2.1)"), once per blocking signal; for the log.
  std::vector<std::string> take_notices() { return std::exchange(notices_, {}); }

  // Everything held for `service`: incidents rooted there that are not resolved or may still reopen
  // (with their bookkeeping), its pending anomalies, baselines, latest windows and log templates,
  // and the ids of its events seen recently (so a replayed one is still a duplicate). Null when
  // nothing is held for it.
  nlohmann::json save_service(const std::string& service) const;
  // Replaces what is held for `service` with `state` (from save_service, possibly in another
  // process; null: nothing). Restored incidents keep their ids, and no id minted afterwards can
  // equal one of them. Throws std::invalid_argument naming the field on a malformed state; nothing
  // is changed then.
  void restore_service(const std::string& service, const nlohmann::json& state);
  // Snapshots of the incidents held whose root-cause service is `service`.
  std::vector<Incident> incidents_of(const std::string& service) const;

  std::size_t duplicates_ignored() const { return duplicates_; }
  std::size_t active_incidents() const;
  std::size_t pending_anomalies() const;

 private:
  // One signal of one service as seen during an incident (or while pending).
  struct Observation {
    std::string service;
    std::string pod;            // pod with the highest score
    std::string signal;
    TimeMs first_ts = 0;
    TimeMs last_ts = 0;
    double max_score = 0;
    double peak = kAbsent;      // the value farthest from `expected`
    double expected = kAbsent;
    double tte_s = kAbsent;     // memory models: smallest time to exhaustion seen
    std::set<std::string> models;  // "rule:Name" / "model:name@version"
    std::set<std::string> type_hints;
    std::map<std::string, std::string> summaries;  // rule name -> its rendered summary
    bool critical = false;      // a critical rule fired
    int count = 0;
  };
  struct TemplateSeen {
    std::string text;
    std::string example;
    std::uint64_t count = 0;
    bool is_new = false;
  };
  struct Tracked {
    Incident incident;
    bool published = false;
    TimeMs publish_at = 0;
    TimeMs last_signal_ts = 0;
    bool acted = false;         // a remediation action ran
    bool dirty = false;
    bool stale = false;         // figures changed without a snapshot (refreshed at most every 30 s)
    std::string root_reason;    // why the root-cause service was chosen, for the summary
    std::string holding_on;     // observation key of the signal that kept it from resolving (said once)
    std::map<std::string, Observation> observations;  // key: service \x1f signal
    std::map<std::string, std::map<std::uint64_t, TemplateSeen>> templates;  // per service
  };
  struct Baseline {
    double mean = kAbsent;
    int count = 0;
  };
  struct Seen {
    TimeMs ts = 0;
    std::string id;
    std::string service;  // the event's key: its state carries the id (save_service)
  };

  void add_observation(std::map<std::string, Observation>& into, const Anomaly& a) const;
  bool qualifies(const std::string& service) const;
  Tracked* find_incident_for(const Anomaly& a);
  Tracked* find_relapse_for(const Anomaly& a);
  void open_incident(const Anomaly& a);
  void classify(Tracked& t, TimeMs now);
  void describe(Tracked& t);
  // The first signal that moved and is not back near its baseline: its observation key and what it
  // reads now ("<signal> on <service> is V (baseline B, peak P)"); an empty key when all are back.
  struct StillOut {
    std::string key;
    std::string text;
  };
  StillOut still_out(const Tracked& t) const;
  double baseline_of(const std::string& service, const std::string& feature) const;
  double latest_of(const std::string& service, const std::string& pod, const std::string& feature) const;
  bool service_in_active_incident(const std::string& service) const;
  double degradation(const std::string& service, std::string& sign) const;
  // Its busiest pod's CPU over its baseline when at its limit (service-wide window, now); 0 when not.
  double cpu_saturation(const std::string& service) const;
  bool callees_caught_up(const Tracked& t) const;
  bool awaiting_logs(const Tracked& t) const;
  void note(Tracked& t, TimeMs ts, std::string text);
  bool kept(const Tracked& t) const;  // not yet forgotten by on_tick (may still reopen)
  std::vector<Incident> flush();

  ClassifierOptions opt_;
  std::map<std::string, Tracked> incidents_;  // by id
  std::vector<std::string> notices_;          // for take_notices()
  std::map<std::string, std::deque<Anomaly>> pending_;  // per service, oldest first
  std::set<std::string> seen_ids_;
  std::deque<Seen> seen_order_;
  std::map<std::string, Baseline> baselines_;      // service \x1f feature
  std::map<std::string, FeatureWindow> latest_;    // service \x1f pod \x1f source
  std::map<std::string, std::vector<TemplateCount>> latest_templates_;  // per service
  std::uint64_t next_seq_ = 1;
  std::size_t duplicates_ = 0;
  TimeMs now_ = 0;
};

}  // namespace selfheal::classifier
