// The event contracts every selfheal service speaks. One struct per event type; all of them travel
// on the bus inside `Event`, and all of them have a versioned JSON encoding (events_json.hpp).
//
// Conventions:
//  * Times are event times in milliseconds since the Unix epoch (`TimeMs`), taken from the scenario's
//    clock, never from the machine.
//  * Every event has a `service` (the bus key: a service's events stay ordered in one partition) and an
//    `id` that is unique per producer, so consumers can drop duplicates.
//  * Optional numbers use NaN for "absent"; the JSON encoding writes them as null.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace selfheal {

using TimeMs = std::int64_t;
inline constexpr double kAbsent = std::numeric_limits<double>::quiet_NaN();
inline bool is_absent(double v) { return std::isnan(v); }

using Labels = std::vector<std::pair<std::string, std::string>>;

// ---------------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------------

// One physical line exactly as a container wrote it (no trailing newline). Continuation lines of a
// multi-line record (stack traces) are separate RawLogs; the log processor joins them.
struct RawLog {
  std::string id;
  TimeMs ts = 0;
  std::string service;
  std::string pod;
  std::string line;
};

enum class LogLevel : std::uint8_t { Unknown, Trace, Debug, Info, Warn, Error, Fatal };

// Which layout a line was recognised as. `Unparsed` lines still become records (raw message,
// level unknown) and are counted.
enum class LogFormat : std::uint8_t { Unparsed, Json, Logfmt, Text, Access, Syslog };

// A normalised log record: the output of the log processor.
struct LogRecord {
  std::string id;
  TimeMs ts = 0;
  std::string service;
  std::string pod;
  LogLevel level = LogLevel::Unknown;
  LogFormat format = LogFormat::Unparsed;
  std::string logger;
  std::string message;                  // first line's message; continuation lines are in `stack`
  std::uint64_t template_id = 0;        // stable across restarts (see logproc/README.md)
  std::string template_text;            // the message with parameters replaced by <*>
  std::vector<std::string> params;      // the values behind each <*>, in order
  Labels attributes;                    // request_id, duration_ms, status, user, ... as found
  std::vector<std::string> stack;       // continuation lines joined to this record
};

// ---------------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------------

enum class MetricKind : std::uint8_t { Gauge, Counter, Histogram };

struct HistogramBucket {
  double upper_bound = 0;       // `le`; +inf for the last bucket
  double cumulative_count = 0;  // Prometheus semantics: cumulative, monotonic like a counter
};

// One sample of one series. For histograms `value` is the observation count (`_count`), `sum` the
// `_sum`, and `buckets` the cumulative buckets.
struct MetricSample {
  std::string name;  // see contracts/metric_names.hpp
  MetricKind kind = MetricKind::Gauge;
  double value = 0;
  Labels labels;     // extra labels beyond service and pod (e.g. route); usually empty
  std::vector<HistogramBucket> buckets;
  double sum = 0;
};

// Everything one scrape of one pod returned: the unit the metrics generator publishes on
// `metrics.raw`.
struct MetricBatch {
  std::string id;
  TimeMs ts = 0;
  std::string service;
  std::string pod;
  std::vector<MetricSample> samples;
};

// ---------------------------------------------------------------------------------------------------
// Features
// ---------------------------------------------------------------------------------------------------

enum class FeatureSource : std::uint8_t { Metrics, Logs };

struct TemplateCount {
  std::uint64_t template_id = 0;
  std::string template_text;
  std::uint64_t count = 0;
  std::string example;  // one real line of this template seen in the window
  bool is_new = false;  // first seen in this window
};

// Aggregates of one service (pod empty) or one pod over [start, end) of event time. Feature names
// are in contracts/feature_names.hpp; a feature that could not be computed is simply absent.
struct FeatureWindow {
  std::string id;
  TimeMs start = 0;
  TimeMs end = 0;
  std::string service;
  std::string pod;  // empty: the whole service
  FeatureSource source = FeatureSource::Metrics;
  std::vector<std::pair<std::string, double>> features;
  std::vector<TemplateCount> top_templates;  // logs windows only

  // Linear lookup: windows hold tens of features, and this keeps the struct trivially encodable.
  double get(std::string_view name, double fallback = kAbsent) const {
    for (const auto& [k, v] : features)
      if (k == name) return v;
    return fallback;
  }
  void set(std::string name, double value) {
    for (auto& [k, v] : features)
      if (k == name) { v = value; return; }
    features.emplace_back(std::move(name), value);
  }
};

// ---------------------------------------------------------------------------------------------------
// Anomalies (from models and from rules)
// ---------------------------------------------------------------------------------------------------

enum class AnomalySource : std::uint8_t { Model, Rule };

// Why a score is high: one feature's observed value against what the model expected.
struct Contribution {
  std::string feature;
  double value = kAbsent;
  double expected = kAbsent;
  double score = 0;  // this feature's own score in [0,1]
};

struct Anomaly {
  std::string id;
  TimeMs ts = 0;              // end of the window that was scored
  std::string service;
  std::string pod;            // empty when the series is per service
  std::string series;         // "service[/pod]:feature"
  std::string signal;         // the feature (metrics) or "log:<kind>" that drove the score
  double score = 0;           // [0,1]; anomalies are emitted when score >= the alert threshold
  double value = kAbsent;     // observed value of `signal`
  double expected = kAbsent;  // baseline value of `signal`
  AnomalySource source = AnomalySource::Model;
  std::string model;          // model name (source=Model) or rule name (source=Rule)
  std::string model_version;  // artifact version; rules: the rule file's version
  std::string window_id;      // the FeatureWindow scored
  double time_to_exhaustion_s = kAbsent;  // memory models: predicted seconds until the limit
  std::vector<Contribution> contributions;
  Labels labels;              // rules: their labels; models: free-form hints
};

// ---------------------------------------------------------------------------------------------------
// Incidents
// ---------------------------------------------------------------------------------------------------

enum class IncidentType : std::uint8_t {
  Unknown, MemoryLeak, CpuSaturation, DbLatency, ErrorBurst, CrashLoop, TrafficSurge, BadState,
  DependencyOutage
};
enum class IncidentStatus : std::uint8_t { Open, Mitigating, Resolved, Escalated };
enum class Severity : std::uint8_t { Info, Warning, Critical };

struct Evidence {
  std::string kind;     // "metric" | "log" | "model" | "rule"
  std::string signal;   // feature, template or rule name
  std::string text;     // human-readable: "memory 91% of limit, +38 MB/min (baseline 42%)"
  double value = kAbsent;
  double baseline = kAbsent;
  TimeMs ts = 0;
};

struct TimelineEntry {
  TimeMs ts = 0;
  std::string text;
};

// An incident snapshot. The classifier publishes a new snapshot on every change, with `revision`
// incremented, so consumers keep the highest revision per id.
struct Incident {
  std::string id;
  std::uint32_t revision = 0;
  IncidentType type = IncidentType::Unknown;
  IncidentStatus status = IncidentStatus::Open;
  Severity severity = Severity::Warning;
  std::string service;                       // root-cause service; the bus key
  std::string namespace_name = "default";
  std::string target_pod;                    // the pod most affected, if one stands out
  std::vector<std::string> affected_services;
  std::string title;
  std::string summary;
  TimeMs opened_at = 0;
  TimeMs updated_at = 0;
  TimeMs resolved_at = 0;                    // 0 while not resolved
  std::vector<Evidence> evidence;
  std::vector<TimelineEntry> timeline;
  std::vector<std::string> anomaly_ids;
};

// ---------------------------------------------------------------------------------------------------
// Remediation
// ---------------------------------------------------------------------------------------------------

enum class ActionKind : std::uint8_t { DeletePod, RolloutRestart, ScaleDeployment, ClearState, NotifyOnly };

// Pending: waiting for approval. Skipped: a guardrail refused it (reason says which). DryRun:
// decided but not executed. Succeeded/Failed: the Kubernetes call's outcome. Verified/NotRecovered:
// the outcome of the check after acting.
enum class ActionStatus : std::uint8_t {
  Pending, Approved, Rejected, Executing, Succeeded, Failed, Skipped, DryRun, Verified, NotRecovered
};

// A decision of the remediator. Every decision is published, including refused ones: the audit
// trail is the stream of these events (and of ActionResults).
struct RemediationAction {
  std::string id;
  TimeMs ts = 0;
  std::string incident_id;
  std::string service;        // the bus key
  ActionKind kind = ActionKind::NotifyOnly;
  std::string namespace_name = "default";
  std::string target;         // pod name (DeletePod) or deployment name
  int replicas = 0;           // ScaleDeployment: the desired count
  std::string playbook;
  int step = 0;               // index in the playbook
  ActionStatus status = ActionStatus::Pending;
  std::string reason;         // why this action; for Skipped, which guardrail and why
  bool dry_run = false;
};

// The outcome of executing or verifying an action.
struct ActionResult {
  std::string id;
  TimeMs ts = 0;
  std::string action_id;
  std::string incident_id;
  std::string service;
  ActionStatus status = ActionStatus::Succeeded;
  std::string detail;         // Kubernetes' answer, or what the verification saw
};

// ---------------------------------------------------------------------------------------------------
// Simulation (test bench): the workload state the generators render, and ground truth
// ---------------------------------------------------------------------------------------------------

// The state of one simulated pod during one simulation tick. cluster-sim publishes these on
// `sim.state`; the log and metrics generators render them into lines and samples, so the generators
// can run in other processes than the simulation.
struct PodState {
  std::string pod;
  std::string node;
  std::string phase;  // Pending | Running | CrashLoopBackOff | Terminating
  bool ready = false;
  double cpu_millicores = 0;
  double cpu_limit_millicores = 0;
  double memory_bytes = 0;
  double memory_limit_bytes = 0;
  std::uint32_t restarts = 0;
  double requests_per_s = 0;
  double errors_per_s = 0;
  double latency_median_s = 0;  // request latency is log-normal with this median ...
  double latency_sigma = 0;     // ... and this log-space standard deviation
  double db_query_median_s = kAbsent;  // database pods only
  double db_connections_active = kAbsent;
  double db_pool_waits_per_s = kAbsent;
  std::vector<std::string> conditions;  // fault effects to log about: "gc_pressure", "pool_exhausted", ...
  std::vector<std::string> events;      // lifecycle during the tick: "started", "oom_killed", "deleted", ...
};

struct ServiceState {
  std::string id;
  TimeMs ts = 0;
  std::int64_t tick_ms = 0;  // length of the tick this state covers
  std::string service;
  std::string namespace_name = "default";
  std::uint64_t seed = 0;    // per-service seed the generators derive their randomness from
  std::vector<PodState> pods;
};

// Ground truth for evaluation: one injected fault, written when it starts and again when it ends.
struct FaultLabel {
  std::string id;
  TimeMs ts = 0;
  std::string service;       // the fault's target
  std::string fault_type;    // memory_leak | cpu_spike | db_latency | error_burst | crash_loop |
                             // traffic_surge | stuck_state | dependency_outage
  std::string expected_incident_type;  // the IncidentType name an ideal classifier reports
  TimeMs start = 0;
  TimeMs end = 0;            // 0 while still active
  double strength = 0;
};

// ---------------------------------------------------------------------------------------------------

using Event = std::variant<RawLog, LogRecord, MetricBatch, FeatureWindow, Anomaly, Incident,
                           RemediationAction, ActionResult, ServiceState, FaultLabel>;

// The bus key of any event: the service it is about.
const std::string& event_key(const Event& e);
const std::string& event_id(const Event& e);
TimeMs event_time(const Event& e);
std::string_view event_type_name(const Event& e);

// Names of enum values as they appear in JSON, the API and the store ("memory_leak", "open", ...).
std::string_view to_string(LogLevel v);
std::string_view to_string(LogFormat v);
std::string_view to_string(MetricKind v);
std::string_view to_string(FeatureSource v);
std::string_view to_string(AnomalySource v);
std::string_view to_string(IncidentType v);
std::string_view to_string(IncidentStatus v);
std::string_view to_string(Severity v);
std::string_view to_string(ActionKind v);
std::string_view to_string(ActionStatus v);

// Parse an enum name; returns false (leaving `out` untouched) for an unknown name.
bool parse_enum(std::string_view s, LogLevel& out);
bool parse_enum(std::string_view s, LogFormat& out);
bool parse_enum(std::string_view s, MetricKind& out);
bool parse_enum(std::string_view s, FeatureSource& out);
bool parse_enum(std::string_view s, AnomalySource& out);
bool parse_enum(std::string_view s, IncidentType& out);
bool parse_enum(std::string_view s, IncidentStatus& out);
bool parse_enum(std::string_view s, Severity& out);
bool parse_enum(std::string_view s, ActionKind& out);
bool parse_enum(std::string_view s, ActionStatus& out);

}  // namespace selfheal
