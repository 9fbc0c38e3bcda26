// Scores a run of a scenario against its ground truth: detection recall, type and root-cause
// accuracy, false incidents per simulated day, time to detect and to recover, unnecessary actions,
// and how long before the first OOM kill a memory leak was caught. Pure functions over recorded
// events, so they are unit-tested on hand-made runs.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "contracts/events.hpp"

namespace selfheal::eval {

// What one run of one scenario published, as the evaluation needs it.
struct RunRecord {
  std::string scenario;
  TimeMs start = 0, end = 0;
  std::vector<FaultLabel> faults;       // latest label per fault id
  std::vector<Incident> incidents;      // latest revision per incident id
  std::vector<RemediationAction> actions;
  std::vector<FeatureWindow> service_windows;  // metrics windows of whole services (pod empty)
  std::map<std::string, std::vector<TimeMs>> oom_kills;  // service -> times of OOM kills
  std::map<std::string, std::vector<std::string>> calls;  // the scenario's call graph: caller -> callees
};

// Whether `caller` calls `callee` directly or through other services in the run's call graph.
bool calls_transitively(const RunRecord& run, const std::string& caller, const std::string& callee);

// Which signals say a service is healthy, and the band each must be back in.
struct HealthBand {
  std::string feature;
  double upper = 0;  // in band when value <= upper (NaN values are ignored)
};

// Static threshold alerting with `for:` (what Prometheus rules give), used as the baseline detector.
struct BaselineRule {
  std::string name;
  std::string feature;
  double threshold = 0;  // fires while feature > threshold
  std::string incident_type;
};
const std::vector<BaselineRule>& baseline_rules();
inline constexpr TimeMs kBaselineFor = 5 * 60 * 1000;

// Per-fault outcome.
struct FaultOutcome {
  FaultLabel fault;
  bool detected = false;
  bool type_correct = false;
  bool root_cause_correct = false;
  double mttd_s = kAbsent;  // onset -> first matching incident opened
  double mttr_s = kAbsent;  // onset -> health signals back in band (or the fault's end)
  double leak_lead_time_s = kAbsent;  // first OOM kill (no-remediation run) - detection
  int duplicate_incidents = 0;
};

struct Figures {
  int faults = 0;
  double recall = kAbsent;
  double type_accuracy = kAbsent;
  double rca_top1 = kAbsent;
  double false_incidents_per_day = kAbsent;
  double mttd_median_s = kAbsent, mttd_p90_s = kAbsent;
  double mttr_median_s = kAbsent, mttr_p90_s = kAbsent;
  int unnecessary_actions = 0;
  double leak_lead_time_median_s = kAbsent;
  int false_incidents = 0;
  int duplicate_incidents = 0;
  double simulated_days = 0;
};

// How an incident is matched to a fault: it opened between the fault's start and its end plus
// this grace, and it names the fault's service as root cause or as affected.
inline constexpr TimeMs kMatchGrace = 5 * 60 * 1000;
// Health must hold this long to count as recovered.
inline constexpr TimeMs kRecoveryHold = 60 * 1000;

bool incident_matches(const Incident& i, const FaultLabel& f);

// The normal band of each health signal of each service, learned from the windows before the
// first fault starts.
std::map<std::string, std::vector<HealthBand>> learn_bands(const RunRecord& run);

// Outcomes of every fault of one run. `no_remediation` is the same scenario run without any
// remediation (for the leak lead time: when the first OOM kill would have come); may be null.
std::vector<FaultOutcome> score_faults(const RunRecord& run, const RunRecord* no_remediation);
// Baseline outcomes: static rules with for: 5m on `baseline_run` (remediation off: only
// Kubernetes' own OOM and liveness restarts act). An alert episode matches a fault the way an
// incident does: it fired within the fault's match window on the fault's service or on one of its
// (transitive) callers, which are the services an incident would list as affected. Every other
// episode is a false alert, counted like our false incidents.
std::vector<FaultOutcome> score_baseline(const RunRecord& baseline_run, int* false_alerts);

// Incidents that match no fault; executed actions that were unnecessary or harmful (on a false
// incident, or any action on a dependency outage, which no remediation can fix).
int count_false_incidents(const RunRecord& run);
int count_unnecessary_actions(const RunRecord& run);

Figures aggregate(const std::vector<FaultOutcome>& outcomes, int false_incidents, int unnecessary_actions,
                  double simulated_days);

double percentile(std::vector<double> values, double p);

}  // namespace selfheal::eval
