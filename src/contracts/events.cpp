#include "contracts/events.hpp"

#include <array>

namespace selfheal {
namespace {

template <typename E, std::size_t N>
std::string_view name_of(E v, const std::array<std::string_view, N>& names) {
  auto i = static_cast<std::size_t>(v);
  return i < N ? names[i] : std::string_view("invalid");
}

template <typename E, std::size_t N>
bool parse_of(std::string_view s, E& out, const std::array<std::string_view, N>& names) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == s) {
      out = static_cast<E>(i);
      return true;
    }
  }
  return false;
}

// Order must match the enum declarations in events.hpp.
constexpr std::array<std::string_view, 7> kLogLevels = {"unknown", "trace", "debug", "info",
                                                        "warn",    "error", "fatal"};
constexpr std::array<std::string_view, 6> kLogFormats = {"unparsed", "json",   "logfmt",
                                                         "text",     "access", "syslog"};
constexpr std::array<std::string_view, 3> kMetricKinds = {"gauge", "counter", "histogram"};
constexpr std::array<std::string_view, 2> kFeatureSources = {"metrics", "logs"};
constexpr std::array<std::string_view, 2> kAnomalySources = {"model", "rule"};
constexpr std::array<std::string_view, 9> kIncidentTypes = {
    "unknown",      "memory_leak",   "cpu_saturation", "db_latency",       "error_burst",
    "crash_loop",   "traffic_surge", "bad_state",      "dependency_outage"};
constexpr std::array<std::string_view, 4> kIncidentStatuses = {"open", "mitigating", "resolved",
                                                               "escalated"};
constexpr std::array<std::string_view, 3> kSeverities = {"info", "warning", "critical"};
constexpr std::array<std::string_view, 5> kActionKinds = {"delete_pod", "rollout_restart",
                                                          "scale_deployment", "clear_state",
                                                          "notify_only"};
constexpr std::array<std::string_view, 10> kActionStatuses = {
    "pending", "approved", "rejected", "executing", "succeeded",
    "failed",  "skipped",  "dry_run",  "verified",  "not_recovered"};

}  // namespace

std::string_view to_string(LogLevel v) { return name_of(v, kLogLevels); }
std::string_view to_string(LogFormat v) { return name_of(v, kLogFormats); }
std::string_view to_string(MetricKind v) { return name_of(v, kMetricKinds); }
std::string_view to_string(FeatureSource v) { return name_of(v, kFeatureSources); }
std::string_view to_string(AnomalySource v) { return name_of(v, kAnomalySources); }
std::string_view to_string(IncidentType v) { return name_of(v, kIncidentTypes); }
std::string_view to_string(IncidentStatus v) { return name_of(v, kIncidentStatuses); }
std::string_view to_string(Severity v) { return name_of(v, kSeverities); }
std::string_view to_string(ActionKind v) { return name_of(v, kActionKinds); }
std::string_view to_string(ActionStatus v) { return name_of(v, kActionStatuses); }

bool parse_enum(std::string_view s, LogLevel& out) { return parse_of(s, out, kLogLevels); }
bool parse_enum(std::string_view s, LogFormat& out) { return parse_of(s, out, kLogFormats); }
bool parse_enum(std::string_view s, MetricKind& out) { return parse_of(s, out, kMetricKinds); }
bool parse_enum(std::string_view s, FeatureSource& out) { return parse_of(s, out, kFeatureSources); }
bool parse_enum(std::string_view s, AnomalySource& out) { return parse_of(s, out, kAnomalySources); }
bool parse_enum(std::string_view s, IncidentType& out) { return parse_of(s, out, kIncidentTypes); }
bool parse_enum(std::string_view s, IncidentStatus& out) { return parse_of(s, out, kIncidentStatuses); }
bool parse_enum(std::string_view s, Severity& out) { return parse_of(s, out, kSeverities); }
bool parse_enum(std::string_view s, ActionKind& out) { return parse_of(s, out, kActionKinds); }
bool parse_enum(std::string_view s, ActionStatus& out) { return parse_of(s, out, kActionStatuses); }

const std::string& event_key(const Event& e) {
  return std::visit([](const auto& ev) -> const std::string& { return ev.service; }, e);
}

const std::string& event_id(const Event& e) {
  return std::visit([](const auto& ev) -> const std::string& { return ev.id; }, e);
}

TimeMs event_time(const Event& e) {
  return std::visit(
      [](const auto& ev) -> TimeMs {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, FeatureWindow>)
          return ev.end;
        else if constexpr (std::is_same_v<T, Incident>)
          return ev.updated_at ? ev.updated_at : ev.opened_at;
        else
          return ev.ts;
      },
      e);
}

std::string_view event_type_name(const Event& e) {
  static constexpr std::array<std::string_view, std::variant_size_v<Event>> kNames = {
      "raw_log", "log_record",         "metric_batch",  "feature_window", "anomaly",
      "incident", "remediation_action", "action_result", "service_state",  "fault_label"};
  return kNames[e.index()];
}

}  // namespace selfheal
