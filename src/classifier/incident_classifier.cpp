#include "classifier/incident_classifier.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "contracts/events_json.hpp"

namespace selfheal::classifier {
namespace {

constexpr std::size_t kMaxTimeline = 60;
constexpr std::size_t kMaxAnomalyIds = 200;
constexpr std::size_t kMaxEvidence = 14;
constexpr std::int64_t kSeenIdsTtlMs = 3'600'000;
constexpr std::int64_t kPodWindowStaleMs = 120'000;
constexpr double kSurgeRatio = 1.5;
constexpr double kRetypeMargin = 1.0;
constexpr std::int64_t kRefreshMs = 30'000;  // repeated alerts refresh a snapshot at most this often
constexpr std::int64_t kMaxCatchUpMs = 30'000;  // longest wait for callees' windows before deciding
// A service's busiest pod at this share of its CPU limit (and at twice its baseline) is saturated:
// its callers' latency is its doing, whether or not its own latency has tripled yet.
constexpr double kCpuSaturated = 0.9;

std::string key2(const std::string& a, const std::string& b) { return a + '\x1f' + b; }

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool contains_any(const std::string& text, std::initializer_list<const char*> words) {
  for (const char* w : words)
    if (text.find(w) != std::string::npos) return true;
  return false;
}

// Whether `text` names `peer` as the other end of a call: "upstream <peer>", "call to <peer>",
// "calling <peer>", "connect to <peer>", "dial tcp <peer>:" — the name followed by no letter or digit.
bool names_call_to(const std::string& text, const std::string& peer) {
  for (const char* lead : {"upstream ", "call to ", "calling ", "connect to ", "dial tcp "}) {
    const std::string phrase = lead + peer;
    for (std::size_t at = text.find(phrase); at != std::string::npos; at = text.find(phrase, at + 1)) {
      const std::size_t after = at + phrase.size();
      if (after == text.size() || !std::isalnum(static_cast<unsigned char>(text[after]))) return true;
    }
  }
  return false;
}

enum class Category { Memory, Cpu, Requests, Restarts, Readiness, Latency, Errors, Database, NewTemplates, Logs, Other };

Category category_of(const std::string& signal) {
  const std::string s = lower(signal);
  if (s.rfind("log", 0) == 0) {
    if (contains_any(s, {"new", "novel", "unseen"})) return Category::NewTemplates;
    if (contains_any(s, {"error", "fatal", "exception"})) return Category::Errors;
    return Category::Logs;
  }
  if (s.rfind("memory", 0) == 0) return Category::Memory;
  if (s.rfind("cpu", 0) == 0) return Category::Cpu;
  if (s == "requests_per_s") return Category::Requests;
  if (s == "restarts") return Category::Restarts;
  if (s == "pods_ready" || s == "pods") return Category::Readiness;
  if (s.rfind("latency", 0) == 0) return Category::Latency;
  if (s == "error_ratio" || s == "errors_per_s") return Category::Errors;
  if (s.rfind("db_", 0) == 0) return Category::Database;
  return Category::Other;
}

std::string fmt(double v) {
  if (std::isnan(v)) return "n/a";
  char buf[32];
  double a = std::fabs(v);
  if (a >= 1e9) std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  else if (a >= 1e6) std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  else if (a >= 1e4) std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string change_text(double value, double baseline) {
  if (std::isnan(value) || std::isnan(baseline)) return "";
  if (std::fabs(baseline) < 1e-12) return value == 0 ? " (baseline 0)" : " (baseline 0, new)";
  double pct = (value - baseline) / std::fabs(baseline) * 100.0;
  char buf[64];
  std::snprintf(buf, sizeof buf, " (baseline %s, %+.0f%%)", fmt(baseline).c_str(), pct);
  return buf;
}

const char* type_title(IncidentType t) {
  switch (t) {
    case IncidentType::MemoryLeak: return "Memory leak";
    case IncidentType::CpuSaturation: return "CPU saturation";
    case IncidentType::DbLatency: return "Slow database";
    case IncidentType::ErrorBurst: return "Error burst";
    case IncidentType::CrashLoop: return "Crash loop";
    case IncidentType::TrafficSurge: return "Traffic surge";
    case IncidentType::BadState: return "Service in a bad state";
    case IncidentType::DependencyOutage: return "External dependency outage";
    case IncidentType::Unknown: break;
  }
  return "Anomalous behaviour";
}

}  // namespace

IncidentClassifier::IncidentClassifier(ClassifierOptions options) : opt_(std::move(options)) {}

std::size_t IncidentClassifier::active_incidents() const {
  std::size_t n = 0;
  for (const auto& [id, t] : incidents_)
    if (t.incident.status != IncidentStatus::Resolved) ++n;
  return n;
}

std::size_t IncidentClassifier::pending_anomalies() const {
  std::size_t n = 0;
  for (const auto& [s, q] : pending_) n += q.size();
  return n;
}

void IncidentClassifier::add_observation(std::map<std::string, Observation>& into, const Anomaly& a) const {
  Observation& o = into[key2(a.service, a.signal)];
  if (o.count == 0) {
    o.service = a.service;
    o.signal = a.signal;
    o.first_ts = a.ts;
  }
  o.first_ts = std::min(o.first_ts, a.ts);
  o.last_ts = std::max(o.last_ts, a.ts);
  ++o.count;
  if (a.score > o.max_score || o.pod.empty()) {
    if (a.score >= o.max_score) o.max_score = a.score;
    if (!a.pod.empty()) o.pod = a.pod;
  }
  if (!std::isnan(a.expected)) o.expected = a.expected;
  const double ref = std::isnan(o.expected) ? baseline_of(a.service, a.signal) : o.expected;
  if (!std::isnan(a.value)) {
    if (std::isnan(o.peak) || std::isnan(ref) || std::fabs(a.value - ref) > std::fabs(o.peak - ref)) o.peak = a.value;
  }
  if (!std::isnan(a.time_to_exhaustion_s) && (std::isnan(o.tte_s) || a.time_to_exhaustion_s < o.tte_s))
    o.tte_s = a.time_to_exhaustion_s;
  o.models.insert(a.source == AnomalySource::Rule ? "rule " + a.model
                                                  : "model " + a.model + (a.model_version.empty() ? "" : "@" + a.model_version));
  for (const auto& [k, v] : a.labels) {
    if (k == "incident_type" && !v.empty() && v != "unknown") o.type_hints.insert(v);
    if (k == "severity" && v == "critical") o.critical = true;
    if (k == "summary" && a.source == AnomalySource::Rule) o.summaries[a.model] = v;
  }
}

double IncidentClassifier::baseline_of(const std::string& service, const std::string& feature) const {
  auto it = baselines_.find(key2(service, feature));
  return it == baselines_.end() || it->second.count < 3 ? kAbsent : it->second.mean;
}

double IncidentClassifier::latest_of(const std::string& service, const std::string& pod, const std::string& feature) const {
  for (const char* source : {"metrics", "logs"}) {
    auto it = latest_.find(service + '\x1f' + pod + '\x1f' + source);
    if (it == latest_.end()) continue;
    double v = it->second.get(feature);
    if (!std::isnan(v)) return v;
  }
  return kAbsent;
}

double IncidentClassifier::degradation(const std::string& service, std::string& sign) const {
  // How far the service's latest window is outside its baseline, as a multiple of the baseline
  // (0: within). Thresholds are wide (3x and an absolute floor) so noise never reads as a fault.
  double worst = 0;
  auto check = [&](const char* feature, double floor, const char* text) {
    const double v = latest_of(service, "", feature);
    const double base = baseline_of(service, feature);
    if (std::isnan(v) || std::isnan(base)) return;
    if (v < 3 * base || v < base + floor) return;
    const double ratio = v / std::max(base, floor);
    if (ratio > worst) { worst = ratio; sign = std::string(text); }
  };
  check("db_query_p95_s", 0.05, "db_query_p95_s is up");
  check("error_ratio", 0.05, "error_ratio is up");
  check("latency_p95_s", 0.2, "latency_p95_s is up");
  // CPU moves before latency: over Kafka a caller's latency alert can be handled before any
  // anomaly of a saturated callee, whose windows already show it (seen in the microservice loop:
  // a CPU spike on search blamed on frontend as a bad state).
  if (const double ratio = cpu_saturation(service); ratio > worst) {
    worst = ratio;
    sign = "cpu_utilization_max is at its limit";
  }
  const double pods = latest_of(service, "", "pods"), ready = latest_of(service, "", "pods_ready");
  if (!std::isnan(pods) && !std::isnan(ready) && pods > 0 && ready < pods * 0.5 && worst < 5) {
    worst = 5;
    sign = "pods are not ready";
  }
  return worst;
}

double IncidentClassifier::cpu_saturation(const std::string& service) const {
  const double v = latest_of(service, "", "cpu_utilization_max"), base = baseline_of(service, "cpu_utilization_max");
  if (std::isnan(v) || std::isnan(base) || v < kCpuSaturated || v < 2 * base) return 0;
  return v / std::max(base, 0.05);
}

bool IncidentClassifier::callees_caught_up(const Tracked& t) const {
  // The culprit is told from its victims by the other services' own windows: wait (boundedly)
  // until the windows of every service related to the root cover the time its first signal moved. Windows of services
  // close at different moments (log windows show a change a scrape interval before metrics do).
  TimeMs first = 0;
  for (const auto& [k, o] : t.observations)
    if (o.service == t.incident.service && (first == 0 || o.first_ts < first)) first = o.first_ts;
  if (first == 0) return true;
  // Callees tell a victim from a culprit; callers tell a surge (traffic comes from upstream).
  for (const auto& other : opt_.graph.services()) {
    if (other == t.incident.service || !opt_.graph.related(other, t.incident.service)) continue;
    auto it = latest_.find(other + '\x1f' + "" + '\x1f' + "metrics");
    // A scrape at time T reports the interval before T and lands in the windows ending after T,
    // so the window that shows the callee at `first` ends strictly later.
    if (it != latest_.end() && it->second.end <= first) return false;
  }
  return true;
}

bool IncidentClassifier::awaiting_logs(const Tracked& t) const {
  // An error burst or a bad state is told from a dependency's outage and from a callee's failure
  // only by what the failing requests log: hold the first decision (at most catch_up_max) until a
  // new log template of the root is in. The remediator acts on the first decision.
  const IncidentType type = t.incident.type;
  if (type != IncidentType::ErrorBurst && type != IncidentType::BadState) return false;
  auto it = t.templates.find(t.incident.service);
  if (it == t.templates.end()) return true;
  for (const auto& [id, tpl] : it->second)
    if (tpl.is_new) return false;
  return true;
}

bool IncidentClassifier::service_in_active_incident(const std::string& service) const {
  for (const auto& [id, t] : incidents_) {
    if (t.incident.status == IncidentStatus::Resolved) continue;
    for (const auto& [k, o] : t.observations)
      if (o.service == service) return true;
  }
  return false;
}

bool IncidentClassifier::qualifies(const std::string& service) const {
  auto it = pending_.find(service);
  if (it == pending_.end() || it->second.empty()) return false;
  int count = 0;
  for (const Anomaly& a : it->second) {
    if (a.source == AnomalySource::Rule) {
      bool info = false;
      for (const auto& [k, v] : a.labels)
        if (k == "severity" && v == "info") info = true;
      if (!info) return true;
    } else if (a.score >= opt_.open_score) {
      return true;
    }
    ++count;
  }
  return count >= opt_.open_min_anomalies;
}

IncidentClassifier::Tracked* IncidentClassifier::find_incident_for(const Anomaly& a) {
  // An incident still driven (open or mitigating) is still its root service's fault, however long
  // no signal came (a broker outage, a detector restart): a later anomaly of that service joins it rather
  // than opening a second incident on the same service. Related services join only within
  // `correlation_window` of its last signal. Among candidates, the incident rooted at the
  // anomaly's own service first, then the one with the most recent signal.
  Tracked* best = nullptr;
  bool best_own = false;
  for (auto& [id, t] : incidents_) {
    if (t.incident.status == IncidentStatus::Resolved) continue;
    const bool own = t.incident.service == a.service;
    // An escalated incident is in a person's hands and no longer driven: after the window, a new
    // anomaly of its service is a new fault (seen in eval-30: a frontend error 27 min after an
    // escalated surge's last signal had joined it).
    const bool driven = t.incident.status != IncidentStatus::Escalated;
    if (!(own && driven) && a.ts - t.last_signal_ts > opt_.correlation_window_ms) continue;
    bool related = own || opt_.graph.related(a.service, t.incident.service);
    for (const auto& s : t.incident.affected_services) related = related || s == a.service;
    if (!related) continue;
    if (!best || (own && !best_own) || (own == best_own && t.last_signal_ts > best->last_signal_ts)) {
      best = &t;
      best_own = own;
    }
  }
  return best;
}

IncidentClassifier::Tracked* IncidentClassifier::find_relapse_for(const Anomaly& a) {
  Tracked* best = nullptr;
  for (auto& [id, t] : incidents_) {
    if (t.incident.status != IncidentStatus::Resolved) continue;
    if (t.incident.service != a.service || a.ts - t.incident.resolved_at > opt_.reopen_window_ms) continue;
    if (!best || t.incident.resolved_at > best->incident.resolved_at) best = &t;
  }
  return best;
}

void IncidentClassifier::note(Tracked& t, TimeMs ts, std::string text) {
  auto& tl = t.incident.timeline;
  tl.push_back(TimelineEntry{ts, std::move(text)});
  // Keep the opening entry and the most recent ones: snapshots stay small on long incidents.
  if (tl.size() > kMaxTimeline) tl.erase(tl.begin() + 1);
  t.dirty = true;
}

std::vector<Incident> IncidentClassifier::on_anomaly(const Anomaly& a) {
  if (!seen_ids_.insert(a.id).second) {
    ++duplicates_;
    return {};
  }
  seen_order_.push_back(Seen{a.ts, a.id, a.service});
  now_ = std::max(now_, a.ts);
  if (a.source == AnomalySource::Model && a.score < opt_.min_score) return {};

  if (Tracked* t = find_incident_for(a)) {
    const bool new_signal = !t->observations.count(key2(a.service, a.signal));
    add_observation(t->observations, a);
    t->last_signal_ts = std::max(t->last_signal_ts, a.ts);
    if (t->incident.anomaly_ids.size() < kMaxAnomalyIds) t->incident.anomaly_ids.push_back(a.id);
    t->stale = true;
    if (new_signal) {
      if (auto lt = latest_templates_.find(a.service); lt != latest_templates_.end())
        for (const auto& tc : lt->second) {
          auto& seen = t->templates[a.service][tc.template_id];
          if (seen.text.empty()) seen = TemplateSeen{tc.template_text, tc.example, tc.count, tc.is_new};
        }
      classify(*t, a.ts);
      if (t->published) t->dirty = true;
    }
    return flush();
  }

  auto& queue = pending_[a.service];
  queue.push_back(a);
  while (!queue.empty() && queue.front().ts < a.ts - opt_.confirm_window_ms) queue.pop_front();
  if (!qualifies(a.service)) return flush();

  if (Tracked* t = find_relapse_for(a)) {
    for (const Anomaly& p : queue) {
      add_observation(t->observations, p);
      if (t->incident.anomaly_ids.size() < kMaxAnomalyIds) t->incident.anomaly_ids.push_back(p.id);
    }
    queue.clear();
    t->last_signal_ts = a.ts;
    t->incident.status = IncidentStatus::Open;
    t->incident.resolved_at = 0;
    classify(*t, a.ts);
    note(*t, a.ts, "reopened: " + a.signal + " on " + a.service + " moved again within " +
                       std::to_string(opt_.reopen_window_ms / 1000) + "s of resolution (relapse)");
    return flush();
  }
  open_incident(a);
  return flush();
}

void IncidentClassifier::open_incident(const Anomaly& a) {
  char seq[16];
  std::snprintf(seq, sizeof seq, "%04llu", static_cast<unsigned long long>(next_seq_++));
  std::string id = opt_.id_prefix + "-" + seq;
  Tracked& t = incidents_[id];
  t.incident.id = id;
  t.incident.namespace_name = opt_.namespace_name;
  t.incident.service = a.service;
  t.publish_at = a.ts + opt_.decide_delay_ms;
  // The pending evidence of this service and of every related one is this fault's early signal.
  for (auto& [service, queue] : pending_) {
    if (!opt_.graph.related(service, a.service)) continue;
    for (const Anomaly& p : queue) {
      add_observation(t.observations, p);
      t.last_signal_ts = std::max(t.last_signal_ts, p.ts);
      if (t.incident.anomaly_ids.size() < kMaxAnomalyIds) t.incident.anomaly_ids.push_back(p.id);
      if (auto lt = latest_templates_.find(service); lt != latest_templates_.end())
        for (const auto& tc : lt->second) {
          auto& seen = t.templates[service][tc.template_id];
          if (seen.text.empty()) seen = TemplateSeen{tc.template_text, tc.example, tc.count, tc.is_new};
        }
    }
    queue.clear();
  }
  classify(t, a.ts);
}

void IncidentClassifier::classify(Tracked& t, TimeMs now) {
  struct Profile {
    bool memory = false, cpu = false, restarts = false, not_ready = false, latency = false, errors = false,
         database = false, new_templates = false;
    double rps_ratio = kAbsent;
    double tte_s = kAbsent;
    double error_ratio_peak = kAbsent;
    bool oom = false, connection = false, external = false, stuck = false, crash = false, db_words = false,
         change = false, exception = false, db_words_new = false;
    bool critical = false;
    std::set<std::string> failing_callees;  // callees its log lines say calls to are failing
    bool scanned = false;                   // log templates looked at
    TimeMs first = 0;
    double max_score = 0;
    std::map<std::string, int> hints;
    bool own_cause() const { return memory || cpu || restarts || not_ready || database; }
  };
  std::map<std::string, Profile> profiles;
  for (const auto& [k, o] : t.observations) {
    Profile& p = profiles[o.service];
    if (p.first == 0 || o.first_ts < p.first) p.first = o.first_ts;
    p.max_score = std::max(p.max_score, o.max_score);
    p.critical = p.critical || o.critical;
    for (const auto& h : o.type_hints) ++p.hints[h];
    if (!std::isnan(o.tte_s)) p.tte_s = std::isnan(p.tte_s) ? o.tte_s : std::min(p.tte_s, o.tte_s);
    switch (category_of(o.signal)) {
      case Category::Memory: p.memory = true; break;
      case Category::Cpu: p.cpu = true; break;
      case Category::Restarts: p.restarts = true; break;
      case Category::Readiness: p.not_ready = true; break;
      case Category::Latency: p.latency = true; break;
      case Category::Errors:
        p.errors = true;
        if (o.signal == "error_ratio") p.error_ratio_peak = o.peak;
        break;
      case Category::Database: p.database = true; break;
      case Category::NewTemplates: p.new_templates = true; break;
      case Category::Requests:
        // Traffic is judged on whole-service windows below: a pod's request rate also jumps when
        // its siblings stop serving (the load is split over fewer ready pods).
        break;
      case Category::Logs:
      case Category::Other: break;
    }
    if (!std::isnan(o.tte_s)) p.memory = true;
  }
  // The current windows say what the anomalies may not have yet: traffic and error levels vs baseline.
  for (auto& [service, p] : profiles) {
    const double rps = latest_of(service, "", "requests_per_s");
    const double rps_base = baseline_of(service, "requests_per_s");
    if (!std::isnan(rps) && !std::isnan(rps_base) && rps_base > 0) {
      const double ratio = rps / rps_base;
      if (std::isnan(p.rps_ratio) || ratio > p.rps_ratio) p.rps_ratio = ratio;
    }
    const double err = latest_of(service, "", "error_ratio");
    const double err_base = baseline_of(service, "error_ratio");
    if (!std::isnan(err) && !std::isnan(err_base) && err > 3 * err_base + 0.02) p.errors = true;
  }
  std::vector<std::string> all_services;
  for (const auto& [s, p] : profiles) all_services.push_back(s);
  // What a service's log templates say. A service the incident holds no log evidence of yet (a
  // callee the root moved down to) is judged on its latest log window.
  auto scan_templates = [&](const std::string& service, Profile& p) {
    p.scanned = true;
    auto& templates = t.templates[service];
    bool observed = false;
    for (const auto& [k, o] : t.observations) observed = observed || o.service == service;
    if (!observed)
      if (auto lt = latest_templates_.find(service); lt != latest_templates_.end())
        for (const auto& tc : lt->second) {
          auto& seen = templates[tc.template_id];
          if (seen.text.empty()) seen = TemplateSeen{tc.template_text, tc.example, tc.count, tc.is_new};
        }
    for (const auto& [id, tpl] : templates) {
      const std::string text = lower(tpl.text + " " + tpl.example);
      if (tpl.is_new) p.new_templates = true;
      if (contains_any(text, {"out of memory", "outofmemory", "oom", "heap space", "memory limit", "gc overhead"})) p.oom = true;
      if (contains_any(text, {"stuck", "deadlock", "stale", "inconsistent", "corrupt", "invalid state", "poison", "hung",
                              "wedged", "not made progress", "failed to deserialize"}))
        p.stuck = true;
      if (contains_any(text, {"crash", "back-off", "backoff", "exited with", "panic", "segfault", "liveness",
                              "failed to start", "application run failed", "failed to load"}))
        p.crash = true;
      if (contains_any(text, {"slow query", "query took", "pool exhausted", "hikaripool",
                              "connection is not available", "statement timeout", "too many clients", "sharelock",
                              "could not acquire a database connection", "lock wait"}))
      {
        p.db_words = true;
        p.db_words_new = p.db_words_new || tpl.is_new;
      }
      if (contains_any(text, {"deploy", "rollout", "new version", "release", "config change"})) p.change = true;
      if (contains_any(text, {"unhandled exception", "exception:", "nullpointer", "stacktrace"})) p.exception = true;
      // Only failures to reach a peer at all: timeouts are what slow internal dependencies cause too.
      if (contains_any(text, {"connection refused", "econnrefused", "dial tcp", "no route to host", "name resolution",
                              "could not resolve", "connection reset", "unreachable"})) {
        p.connection = true;
        bool internal = false;
        for (const auto& s : all_services) internal = internal || (text.find(lower(s)) != std::string::npos && s != service);
        for (const auto& s : opt_.graph.services())
          internal = internal || (s != service && text.find(lower(s)) != std::string::npos);
        if (!internal) p.external = true;
      }
      // Errors on calls to a callee named as the peer of the call ("upstream payments answered
      // 503", "call to inventory failed", "dial tcp orders:8080"): the errors are the callee's, not
      // this service's own. Only the name in a call phrase counts ("cached value" is no call to cache).
      if (contains_any(text, {"fail", "refused", "unavailable", "answered 5", "circuit breaker", "reset", "error"}))
        for (const auto& s : opt_.graph.services())
          if (s != service && opt_.graph.calls_transitively(service, s) && names_call_to(text, lower(s)))
            p.failing_callees.insert(s);
    }
  };
  for (auto& [service, p] : profiles) scan_templates(service, p);
  if (profiles.empty()) return;

  auto earlier = [&](const std::string& a, const std::string& b) {
    const Profile& pa = profiles[a];
    const Profile& pb = profiles[b];
    if (pa.first != pb.first) return pa.first < pb.first;
    if (pa.max_score != pb.max_score) return pa.max_score > pb.max_score;
    return a < b;
  };
  // The culprit among `candidates`: one that calls no other candidate (the cause sits downstream).
  auto downstream_most = [&](const std::vector<std::string>& candidates) {
    std::vector<std::string> leaves;
    for (const auto& c : candidates) {
      bool calls_other = false;
      for (const auto& d : candidates) calls_other = calls_other || (d != c && opt_.graph.calls_transitively(c, d));
      if (!calls_other) leaves.push_back(c);
    }
    if (leaves.empty()) leaves = candidates;
    return *std::min_element(leaves.begin(), leaves.end(), earlier);
  };
  auto upstream_most = [&](const std::vector<std::string>& candidates) {
    std::vector<std::string> roots;
    for (const auto& c : candidates) {
      bool called = false;
      for (const auto& d : candidates) called = called || (d != c && opt_.graph.calls_transitively(d, c));
      if (!called) roots.push_back(c);
    }
    if (roots.empty()) roots = candidates;
    return *std::min_element(roots.begin(), roots.end(), earlier);
  };
  auto is_db = [&](const std::string& s) {
    return std::find(opt_.database_services.begin(), opt_.database_services.end(), s) != opt_.database_services.end();
  };

  std::vector<std::string> surging, own_cause, database;
  // Traffic comes from callers: a surging caller that shows no symptom yet is still the origin.
  for (const auto& svc : opt_.graph.services()) {
    if (profiles.count(svc)) continue;
    const double rps = latest_of(svc, "", "requests_per_s");
    const double base = baseline_of(svc, "requests_per_s");
    if (std::isnan(rps) || std::isnan(base) || base <= 0 || rps / base < kSurgeRatio) continue;
    bool calls_affected = false;
    for (const auto& [other, prof] : profiles) calls_affected = calls_affected || opt_.graph.calls_transitively(svc, other);
    if (calls_affected) surging.push_back(svc);
  }
  // Containers restarting: not what a surge does. (Memory growth, unready pods, slow queries and
  // saturated CPU downstream are what five times the traffic does to a fleet sized for one.)
  bool any_hard_cause = false;
  for (const auto& [s, p] : profiles) {
    if (!std::isnan(p.rps_ratio) && p.rps_ratio >= kSurgeRatio) surging.push_back(s);
    if (p.own_cause()) own_cause.push_back(s);
    if (p.database && is_db(s)) database.push_back(s);
    any_hard_cause = any_hard_cause || p.restarts;
  }
  // Traffic enters at the entry points (services nobody in the graph calls); an internal service's
  // rate rises on its own only through retries or load shifting, which is not a surge.
  std::erase_if(surging, [&](const std::string& s) { return !opt_.graph.callers(s).empty(); });
  std::string root;
  std::string why;
  if (!surging.empty() && !any_hard_cause) {
    root = upstream_most(surging);
    why = "request rate rose at " + root + ", the most upstream service whose traffic grew";
  } else if (!database.empty()) {
    root = downstream_most(database);
    why = "database signals moved on " + root;
  } else if (!own_cause.empty()) {
    root = downstream_most(own_cause);
    why = root + " shows resource signals and calls no other service that does";
  } else {
    root = downstream_most(all_services);
    why = root + " is the deepest service in the call graph with symptoms";
  }
  // Callers blaming a slow database without any database signal of its own yet.
  if (database.empty() && own_cause.empty()) {
    for (const auto& db : opt_.database_services) {
      bool words = false;
      for (const auto& [s, prof] : profiles) words = words || (prof.db_words_new && opt_.graph.calls_transitively(s, db));
      if (words) {
        root = db;
        why = "callers log slow queries or pool exhaustion against " + db;
        break;
      }
    }
  }
  // Follow the call graph down while a callee of the chosen root is itself degraded right now
  // (its latest window far outside its baseline): a caller that only waits on a broken callee is a
  // victim, and the culprit's own windows often move before its alerts fire (rules hold for 30 s+).
  // Not for a surge (the callees are loaded by it) nor for a root whose containers restart.
  const bool surge_root = !surging.empty() && !any_hard_cause;
  if (!surge_root) {
    std::set<std::string> visited{root};
    for (int depth = 0; depth < 8; ++depth) {
      auto pit = profiles.find(root);
      if (pit != profiles.end() && (pit->second.restarts || pit->second.crash)) break;
      std::string next;
      double worst = 0;
      std::string what;
      for (const auto& callee : opt_.graph.callees(root)) {
        if (visited.count(callee)) continue;
        std::string sign;
        const double d = degradation(callee, sign);
        if (d > worst) { worst = d; next = callee; what = sign; }
      }
      if (next.empty()) {
        // The callee's windows may not show it yet, but the root's own log lines say which
        // callee its failing calls go to: a root with no resource signal of its own is its victim.
        Profile& rp = profiles[root];
        if (!rp.scanned) scan_templates(root, rp);
        if (rp.memory || rp.cpu || rp.restarts || rp.not_ready || rp.database) break;
        for (const auto& callee : rp.failing_callees)
          if (!visited.count(callee) && opt_.graph.calls_transitively(root, callee)) {
            next = callee;
            break;
          }
        if (next.empty()) break;
        visited.insert(next);
        why = root + " logs failing calls to " + next;
        root = next;
        continue;
      }
      visited.insert(next);
      why = root + " waits on " + next + ", whose own " + what + " (its callees are healthy)";
      root = next;
    }
  }
  Profile& p = profiles[root];
  if (!p.scanned) scan_templates(root, p);
  // The culprit's current windows count as its own evidence even before its alerts arrive.
  {
    auto up = [&](const char* feature, double floor) {
      const double v = latest_of(root, "", feature), base = baseline_of(root, feature);
      return !std::isnan(v) && !std::isnan(base) && v >= 3 * base && v >= base + floor;
    };
    if (up("db_query_p95_s", 0.05)) p.database = true;
    if (up("error_ratio", 0.05)) p.errors = true;
    if (up("latency_p95_s", 0.2)) p.latency = true;
    if (cpu_saturation(root) > 0) p.cpu = true;
  }

  auto hint = [&](const char* type) { return 2.0 * (p.hints.count(type) ? p.hints[type] : 0); };
  const bool resource = p.memory || p.cpu || p.restarts || p.not_ready || p.database;
  const bool root_surging = std::find(surging.begin(), surging.end(), root) != surging.end();
  const bool upstream_surge = [&] {
    for (const auto& s : surging)
      if (s == root || opt_.graph.calls_transitively(s, root)) return true;
    return false;
  }();
  std::array<std::pair<IncidentType, double>, 8> scores = {{
      // Memory that grows with a surge at this very service is load (in-flight buffers), not a leak,
      // unless the pods run out of memory.
      {IncidentType::MemoryLeak, (p.memory ? 3 : 0) + (!std::isnan(p.tte_s) ? 2 : 0) + (p.oom ? 2 : 0) + hint("memory_leak") -
                                     (surge_root && root_surging && !p.oom && !p.restarts ? 4 : 0)},
      {IncidentType::CrashLoop, (p.restarts ? 2 : 0) + (p.not_ready ? 2 : 0) + (p.crash ? 1 : 0) + hint("crash_loop") -
                                    (p.memory || p.oom ? 4 : 0)},
      {IncidentType::CpuSaturation, (p.cpu ? 3 : 0) + hint("cpu_saturation") - (upstream_surge ? 4 : 0)},
      {IncidentType::TrafficSurge, (upstream_surge ? 4 : 0) + (p.cpu || p.latency ? 1 : 0) + hint("traffic_surge") -
                                       (any_hard_cause ? 3 : 0)},
      {IncidentType::DbLatency, (is_db(root) && p.database ? 5 : 0) + (!database.empty() ? 1 : 0) +
                                    (is_db(root) && p.db_words ? 2 : 0) + hint("db_latency")},
      {IncidentType::DependencyOutage, (p.connection && p.external ? 3.5 : 0) + (p.errors || p.latency ? 0.5 : 0) -
                                           (resource ? 3 : 0) + hint("dependency_outage")},
      // Errors on calls to a dependency (an external host, or a callee named in the failing
      // lines) are not this service's own burst or bad state: restarting it fixes nothing.
      {IncidentType::ErrorBurst, (p.errors ? 2 : 0) + (p.new_templates ? 1.5 : 0) + (p.change ? 1 : 0) +
                                     (p.exception ? 0.5 : 0) -
                                     (resource ? 2 : 0) - (p.connection && p.external ? 1 : 0) -
                                     (!p.failing_callees.empty() ? 2 : 0) + hint("error_burst")},
      {IncidentType::BadState, (p.errors || p.latency ? 1.5 : 0) + (p.stuck ? 3 : 0) + (!p.new_templates ? 0.6 : 0) -
                                   (resource ? 2 : 0) - (p.connection && p.external ? 1 : 0) -
                                   (!p.failing_callees.empty() ? 2 : 0) + hint("bad_state")},
  }};
  IncidentType type = IncidentType::Unknown;
  double best = 1.4;  // below this, no type has enough support (new templates alone just pass)
  for (const auto& [ty, score] : scores)
    if (score > best) { best = score; type = ty; }
  // Hysteresis: a published diagnosis changes only when new evidence clearly favours another type,
  // so the remediator is not sent back and forth by signals that arrive a window apart.
  // After an action the diagnosis stays what the remediator acted on (its own actions move memory,
  // restarts and readiness, which would otherwise retype the incident); only an unknown is refined.
  if (t.published && t.acted && t.incident.type != IncidentType::Unknown) {
    type = t.incident.type;
    root = t.incident.service;
  } else if (t.published && type != t.incident.type && t.incident.type != IncidentType::Unknown) {
    for (const auto& [ty, score] : scores)
      if (ty == t.incident.type && score + kRetypeMargin > best) type = ty;
  }

  // The pod most affected: for leaks the one closest to its limit, for crash loops the one
  // restarting most, for CPU the hottest; otherwise the pod behind the strongest anomaly.
  std::string target_pod;
  auto pick_pod = [&](const char* feature, const char* tiebreak) {
    TimeMs newest = 0;
    for (const auto& [k, w] : latest_)
      if (w.service == root && !w.pod.empty() && w.source == FeatureSource::Metrics) newest = std::max(newest, w.end);
    double best_v = -1, best_tb = -1e300;
    for (const auto& [k, w] : latest_) {
      if (w.service != root || w.pod.empty() || w.source != FeatureSource::Metrics || w.end < newest - kPodWindowStaleMs) continue;
      double v = w.get(feature);
      double tb = tiebreak ? w.get(tiebreak, 0) : 0;
      if (std::isnan(v)) continue;
      if (v > best_v || (v == best_v && tb > best_tb)) { best_v = v; best_tb = tb; target_pod = w.pod; }
    }
  };
  if (type == IncidentType::MemoryLeak) pick_pod("memory_utilization_max", "memory_slope_bytes_per_s");
  else if (type == IncidentType::CrashLoop) pick_pod("restarts", nullptr);
  else if (type == IncidentType::CpuSaturation) pick_pod("cpu_utilization_max", "cpu_utilization_mean");
  if (target_pod.empty() && (type == IncidentType::MemoryLeak || type == IncidentType::CrashLoop ||
                             type == IncidentType::CpuSaturation || type == IncidentType::BadState)) {
    double best_score = -1;
    for (const auto& [k, o] : t.observations)
      if (o.service == root && !o.pod.empty() && o.max_score > best_score) { best_score = o.max_score; target_pod = o.pod; }
  }

  Severity severity = Severity::Warning;
  if (p.critical || p.not_ready || type == IncidentType::CrashLoop || type == IncidentType::DependencyOutage ||
      (!std::isnan(p.tte_s) && p.tte_s < 600) || (!std::isnan(p.error_ratio_peak) && p.error_ratio_peak >= 0.2))
    severity = Severity::Critical;
  else if (p.max_score < 0.7 && type == IncidentType::Unknown)
    severity = Severity::Info;

  std::vector<std::string> affected{root};
  std::vector<std::string> others;
  for (const auto& s : all_services)
    if (s != root) others.push_back(s);
  std::sort(others.begin(), others.end(), earlier);
  affected.insert(affected.end(), others.begin(), others.end());

  Incident& inc = t.incident;
  const bool changed = inc.type != type || inc.service != root || inc.severity != severity || inc.target_pod != target_pod;
  if (changed && t.published) {
    // Says what changed: "cpu_saturation on search -> cpu_saturation on search" read as nothing.
    std::string what;
    if (inc.type != type || inc.service != root)
      what = "reclassified: " + std::string(to_string(inc.type)) + " on " + inc.service + " -> " +
             std::string(to_string(type)) + " on " + root + " (" + why + ")";
    if (inc.severity != severity)
      what += (what.empty() ? "" : "; ") + std::string("severity ") + std::string(to_string(inc.severity)) + " -> " +
              std::string(to_string(severity));
    if (inc.target_pod != target_pod)
      what += (what.empty() ? "" : "; ") + std::string("most affected pod ") +
              (inc.target_pod.empty() ? std::string("none") : inc.target_pod) + " -> " +
              (target_pod.empty() ? std::string("none") : target_pod);
    note(t, now, what);
  }
  inc.type = type;
  inc.service = root;
  inc.severity = severity;
  inc.target_pod = target_pod;
  inc.affected_services = affected;
  t.root_reason = why;
  describe(t);
}

void IncidentClassifier::describe(Tracked& t) {
  Incident& inc = t.incident;
  const std::string& root = inc.service;

  std::vector<const Observation*> obs;
  for (const auto& [k, o] : t.observations) obs.push_back(&o);
  std::sort(obs.begin(), obs.end(), [&](const Observation* a, const Observation* b) {
    if ((a->service == root) != (b->service == root)) return a->service == root;
    if (a->max_score != b->max_score) return a->max_score > b->max_score;
    if (a->first_ts != b->first_ts) return a->first_ts < b->first_ts;
    return a->signal < b->signal;
  });

  std::vector<Evidence> evidence;
  std::vector<std::string> moved;  // short phrases for the summary
  std::set<std::string> fired;
  for (const Observation* o : obs) {
    const double base = std::isnan(o->expected) ? baseline_of(o->service, o->signal) : o->expected;
    Evidence e;
    e.kind = o->signal.rfind("log", 0) == 0 ? "log" : "metric";
    e.signal = o->signal;
    e.value = o->peak;
    e.baseline = base;
    e.ts = o->first_ts;
    std::string where = o->service + (o->pod.empty() ? "" : "/" + o->pod);
    e.text = o->signal + " on " + where + ": " + fmt(o->peak) + change_text(o->peak, base);
    if (!std::isnan(o->tte_s)) e.text += ", limit reached in ~" + std::to_string(static_cast<long long>(o->tte_s / 60)) + " min";
    if (moved.size() < 4) moved.push_back(e.text);
    evidence.push_back(std::move(e));
    for (const auto& m : o->models) fired.insert(m);
  }
  if (evidence.size() > kMaxEvidence - 4) evidence.resize(kMaxEvidence - 4);

  // Log templates of the root service: new ones first, then the most frequent.
  std::vector<const TemplateSeen*> tpls;
  if (auto it = t.templates.find(root); it != t.templates.end())
    for (const auto& [id, tpl] : it->second) tpls.push_back(&tpl);
  std::stable_sort(tpls.begin(), tpls.end(), [](const TemplateSeen* a, const TemplateSeen* b) {
    if (a->is_new != b->is_new) return a->is_new;
    return a->count > b->count;
  });
  std::string top_log;
  for (std::size_t i = 0; i < tpls.size() && i < 2; ++i) {
    Evidence e;
    e.kind = "log";
    e.signal = tpls[i]->text;
    e.value = static_cast<double>(tpls[i]->count);
    e.text = "log template '" + tpls[i]->text + "' x" + std::to_string(tpls[i]->count) +
             (tpls[i]->is_new ? " (new)" : "") + (tpls[i]->example.empty() ? "" : ", e.g. \"" + tpls[i]->example + "\"");
    if (i == 0) top_log = e.text;
    evidence.push_back(std::move(e));
  }
  for (const Observation* o : obs) {
    for (const auto& [rule, summary] : o->summaries) {
      if (evidence.size() >= kMaxEvidence) break;
      Evidence e;
      e.kind = "rule";
      e.signal = rule;
      e.text = "rule " + rule + ": " + summary;
      e.value = o->peak;
      e.ts = o->first_ts;
      evidence.push_back(std::move(e));
    }
  }
  for (const auto& m : fired) {
    if (evidence.size() >= kMaxEvidence) break;
    if (m.rfind("model ", 0) != 0) continue;
    Evidence e;
    e.kind = "model";
    e.signal = m.substr(6);
    e.text = m + " scored the signals anomalous";
    evidence.push_back(std::move(e));
  }
  inc.evidence = std::move(evidence);

  inc.title = std::string(type_title(inc.type)) + " on " + root + (inc.target_pod.empty() ? "" : " (pod " + inc.target_pod + ")");
  std::string summary = std::string(type_title(inc.type)) + " suspected on " + root + ": ";
  for (std::size_t i = 0; i < moved.size(); ++i) summary += (i ? "; " : "") + moved[i];
  if (!top_log.empty()) summary += ". Top log: " + top_log;
  if (inc.affected_services.size() > 1) {
    summary += ". Also affected (callers/callees, treated as victims): ";
    for (std::size_t i = 1; i < inc.affected_services.size(); ++i) summary += (i > 1 ? ", " : "") + inc.affected_services[i];
  }
  if (!t.root_reason.empty()) summary += ". Root cause: " + t.root_reason;
  if (!fired.empty()) {
    summary += ". Fired: ";
    std::size_t i = 0;
    for (const auto& m : fired) summary += (i++ ? ", " : "") + m;
  }
  inc.summary = summary + ".";
}

IncidentClassifier::StillOut IncidentClassifier::still_out(const Tracked& t) const {
  for (const auto& [k, o] : t.observations) {
    if (o.signal.rfind("log", 0) == 0 && o.signal.find(':') != std::string::npos) continue;  // detector log kinds
    double v = latest_of(o.service, "", o.signal);
    if (std::isnan(v) && !o.pod.empty()) v = latest_of(o.service, o.pod, o.signal);
    if (std::isnan(v)) continue;  // no current value: the quiet period decides
    const double base = std::isnan(o.expected) ? baseline_of(o.service, o.signal) : o.expected;
    if (std::isnan(base) || std::isnan(o.peak)) continue;
    // Judged in the direction the signal moved: CPU per pod that went up and is now below its
    // baseline (the service was given more replicas than before the fault) is back, not abnormal.
    const double excursion = o.peak - base;
    const double still = excursion >= 0 ? v - base : base - v;  // how far it still is out, that way
    if (still <= opt_.back_fraction * std::fabs(excursion) || still <= 0.1 * std::fabs(base)) continue;
    return {k, o.signal + " on " + o.service + " is " + fmt(v) + " (baseline " + fmt(base) + ", peak " + fmt(o.peak) + ")"};
  }
  return {};
}

std::vector<Incident> IncidentClassifier::on_features(const FeatureWindow& w) {
  now_ = std::max(now_, w.end);
  const char* source = w.source == FeatureSource::Metrics ? "metrics" : "logs";
  latest_[w.service + '\x1f' + w.pod + '\x1f' + source] = w;
  if (w.pod.empty()) {
    // Baselines learn only from calm windows, so a fault does not become the new normal.
    const bool calm = !service_in_active_incident(w.service);
    if (calm)
      for (const auto& [name, v] : w.features) {
        if (std::isnan(v)) continue;
        Baseline& b = baselines_[key2(w.service, name)];
        b.mean = b.count == 0 ? v : b.mean + opt_.baseline_alpha * (v - b.mean);
        ++b.count;
      }
  }
  if (w.source == FeatureSource::Logs && !w.top_templates.empty()) {
    latest_templates_[w.service] = w.top_templates;
    for (auto& [id, t] : incidents_) {
      if (t.incident.status == IncidentStatus::Resolved) continue;
      bool involved = false;
      for (const auto& [k, o] : t.observations) involved = involved || o.service == w.service;
      if (!involved) continue;
      bool added = false;
      for (const auto& tc : w.top_templates) {
        auto& seen = t.templates[w.service][tc.template_id];
        if (seen.text.empty()) {
          seen = TemplateSeen{tc.template_text, tc.example, tc.count, tc.is_new};
          added = true;
        } else {
          seen.count += tc.count;
          seen.is_new = seen.is_new || tc.is_new;
        }
      }
      if (added) classify(t, w.end);
    }
  }
  return flush();
}

std::vector<Incident> IncidentClassifier::on_action(const RemediationAction& a) {
  now_ = std::max(now_, a.ts);
  auto it = incidents_.find(a.incident_id);
  if (it == incidents_.end() || !it->second.published) return {};
  if (!seen_ids_.insert(a.id + "#" + std::string(to_string(a.status))).second) {
    ++duplicates_;
    return {};
  }
  seen_order_.push_back(Seen{a.ts, a.id + "#" + std::string(to_string(a.status)), a.service});
  Tracked& t = it->second;
  std::string what = std::string(to_string(a.kind)) + " " + a.namespace_name + "/" + a.target;
  if (a.kind == ActionKind::ScaleDeployment) what += " to " + std::to_string(a.replicas);
  note(t, a.ts, "action " + what + " [" + std::string(to_string(a.status)) + "]" + (a.reason.empty() ? "" : ": " + a.reason));
  const bool executed = a.kind != ActionKind::NotifyOnly &&
                        (a.status == ActionStatus::Executing || a.status == ActionStatus::Succeeded ||
                         a.status == ActionStatus::Approved);
  if (executed && t.incident.status != IncidentStatus::Resolved) {
    t.acted = true;
    if (t.incident.status != IncidentStatus::Mitigating) {
      t.incident.status = IncidentStatus::Mitigating;
      note(t, a.ts, "mitigating: remediation under way");
    }
  }
  return flush();
}

std::vector<Incident> IncidentClassifier::on_result(const ActionResult& r) {
  now_ = std::max(now_, r.ts);
  auto it = incidents_.find(r.incident_id);
  if (it == incidents_.end() || !it->second.published) return {};
  if (!seen_ids_.insert("result#" + r.id).second) {
    ++duplicates_;
    return {};
  }
  seen_order_.push_back(Seen{r.ts, "result#" + r.id, r.service});
  Tracked& t = it->second;
  note(t, r.ts, "result of " + r.action_id + ": " + std::string(to_string(r.status)) + (r.detail.empty() ? "" : " (" + r.detail + ")"));
  if (r.status == ActionStatus::NotRecovered && t.incident.status != IncidentStatus::Resolved &&
      t.incident.status != IncidentStatus::Escalated) {
    t.incident.status = IncidentStatus::Escalated;
    note(t, r.ts, "escalated: remediation did not recover the service");
  }
  return flush();
}

std::vector<Incident> IncidentClassifier::on_tick(TimeMs now) {
  now_ = std::max(now_, now);
  for (auto& [id, t] : incidents_) {
    const bool waited_enough = now_ >= t.publish_at + opt_.catch_up_max_ms;
    bool publish = false;
    if (!t.published && t.publish_at <= now_ && (waited_enough || callees_caught_up(t))) {
      classify(t, now_);
      publish = waited_enough || !awaiting_logs(t);
    }
    if (publish) {
      t.published = true;
      t.incident.opened_at = now_;
      note(t, now_, "opened: " + t.incident.title);
    } else if (t.published && t.stale && now_ - t.incident.updated_at >= kRefreshMs) {
      describe(t);
      t.dirty = true;
    }
    if (t.published && t.incident.status != IncidentStatus::Resolved && now_ - t.last_signal_ts >= opt_.resolve_hold_ms) {
      StillOut out = still_out(t);
      if (out.key.empty()) {
        t.incident.status = IncidentStatus::Resolved;
        t.incident.resolved_at = now_;
        t.holding_on.clear();
        note(t, now_, "resolved: no anomaly for " + std::to_string((now_ - t.last_signal_ts) / 1000) +
                          "s and the signals that moved are back near their baselines");
      } else {
        // Quiet long enough but not back: say once per blocking signal why it stays open (an SRE
        // asks why an incident the remediator verified is still mitigating).
        if (out.key != t.holding_on)
          notices_.push_back(id + " stays " + std::string(to_string(t.incident.status)) + ": no anomaly for " +
                             std::to_string((now_ - t.last_signal_ts) / 1000) + "s but " + out.text);
        t.holding_on = std::move(out.key);
      }
    }
  }
  for (auto& [service, queue] : pending_)
    while (!queue.empty() && queue.front().ts < now_ - opt_.confirm_window_ms) queue.pop_front();
  while (!seen_order_.empty() && seen_order_.front().ts < now_ - kSeenIdsTtlMs) {
    seen_ids_.erase(seen_order_.front().id);
    seen_order_.pop_front();
  }
  std::vector<Incident> out = flush();
  for (auto it = incidents_.begin(); it != incidents_.end();) it = kept(it->second) ? std::next(it) : incidents_.erase(it);
  for (auto it = latest_.begin(); it != latest_.end();)
    it = it->second.end < now_ - 10 * kPodWindowStaleMs ? latest_.erase(it) : std::next(it);
  return out;
}

std::vector<Incident> IncidentClassifier::flush() {
  std::vector<Incident> out;
  for (auto& [id, t] : incidents_) {
    if (!t.published || !t.dirty) continue;
    t.dirty = false;
    t.stale = false;
    ++t.incident.revision;
    t.incident.updated_at = now_;
    out.push_back(t.incident);
  }
  return out;
}

bool IncidentClassifier::kept(const Tracked& t) const {
  const Incident& inc = t.incident;
  return inc.status != IncidentStatus::Resolved || now_ - inc.resolved_at <= opt_.reopen_window_ms;
}

// ----------------------------------------------------------------------------- state per service
//
// Layout (version 1):
//   {"v":1, "now":ms, "next_seq":n,
//    "incidents":[{"incident":<incident event data>, "published":b, "publish_at":ms,
//                  "last_signal_ts":ms, "acted":b, "dirty":b, "stale":b, "root_reason":s,
//                  "observations":[{...}], "templates":[{"service","template_id","template",
//                  "example","count","is_new"}]}],
//    "pending":[<anomaly event data>], "baselines":[{"feature","mean","count"}],
//    "latest":[<feature_window event data>], "latest_templates":[{...}], "seen":[{"ts","id"}]}
// Events are written with contracts/events_json (the bus's own encoding); NaN is null.
// "now" and "next_seq" are the whole classifier's: the process that restores takes the larger, so
// it never mints an id the saving process had already given out.

namespace {

using json = nlohmann::json;
constexpr int kStateVersion = 1;

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

[[noreturn]] void bad(const std::string& path, const std::string& what) { throw std::invalid_argument(path + ": " + what); }

std::string at(const std::string& path, const char* key) { return path.empty() ? key : path + "." + key; }

const json& field(const json& o, const std::string& path, const char* key) {
  if (!o.is_object()) bad(path.empty() ? "state" : path, "expected an object, got " + std::string(o.type_name()));
  auto it = o.find(key);
  if (it == o.end()) bad(at(path, key), "missing");
  return *it;
}
std::int64_t get_int(const json& o, const std::string& path, const char* key) {
  const json& v = field(o, path, key);
  if (!v.is_number_integer()) bad(at(path, key), "expected an integer, got " + std::string(v.type_name()));
  return v.get<std::int64_t>();
}
double get_num(const json& o, const std::string& path, const char* key) {
  const json& v = field(o, path, key);
  if (v.is_null()) return kAbsent;
  if (!v.is_number()) bad(at(path, key), "expected a number, got " + std::string(v.type_name()));
  return v.get<double>();
}
bool get_bool(const json& o, const std::string& path, const char* key) {
  const json& v = field(o, path, key);
  if (!v.is_boolean()) bad(at(path, key), "expected a boolean, got " + std::string(v.type_name()));
  return v.get<bool>();
}
std::string get_str(const json& o, const std::string& path, const char* key) {
  const json& v = field(o, path, key);
  if (!v.is_string()) bad(at(path, key), "expected a string, got " + std::string(v.type_name()));
  return v.get<std::string>();
}
// An optional array field (missing: empty); calls fn(element, its path) for each element.
template <typename Fn>
void each(const json& o, const std::string& path, const char* key, Fn&& fn) {
  if (!o.contains(key)) return;
  const json& v = o.at(key);
  if (!v.is_array()) bad(at(path, key), "expected an array, got " + std::string(v.type_name()));
  for (std::size_t i = 0; i < v.size(); ++i) fn(v[i], at(path, key) + "[" + std::to_string(i) + "]");
}
std::set<std::string> get_strings(const json& o, const std::string& path, const char* key) {
  std::set<std::string> out;
  each(o, path, key, [&](const json& v, const std::string& p) {
    if (!v.is_string()) bad(p, "expected a string, got " + std::string(v.type_name()));
    out.insert(v.get<std::string>());
  });
  return out;
}
std::uint64_t get_u64_text(const json& o, const std::string& path, const char* key) {
  const std::string s = get_str(o, path, key);
  if (s.empty() || s.size() > 20 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    bad(at(path, key), "expected a decimal number in a string, got \"" + s + "\"");
  try {
    return std::stoull(s);
  } catch (const std::exception&) {
    bad(at(path, key), "out of range: \"" + s + "\"");
  }
}

// An event as its bus encoding's "data" object, and back (errors named under `path`).
json event_data(const Event& e) { return json::parse(encode_event(e)).at("data"); }

template <typename T>
T event_from(const json& data, const std::string& path, const char* type) {
  const json env = {{"type", type}, {"v", kEventSchemaVersion}, {"data", data}};
  DecodeResult r = decode_event(env.dump(-1, ' ', false, json::error_handler_t::replace));
  if (!r.ok) {
    std::string err = r.error;
    if (err.rfind("data", 0) == 0) err = path + err.substr(4);  // "data.x: ..." -> "<path>.x: ..."
    else err = path + ": " + err;
    throw std::invalid_argument(err);
  }
  T* out = std::get_if<T>(&r.event);
  if (!out) bad(path, std::string("expected a ") + type);
  return std::move(*out);
}

json template_json(std::uint64_t id, const std::string& text, const std::string& example, std::uint64_t count, bool is_new) {
  return {{"template_id", std::to_string(id)}, {"template", text}, {"example", example}, {"count", count}, {"is_new", is_new}};
}

std::uint64_t get_count(const json& o, const std::string& path, const char* key) {
  const json& v = field(o, path, key);
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0))
    bad(at(path, key), "expected a non-negative integer, got " + std::string(v.type_name()));
  return v.get<std::uint64_t>();
}

}  // namespace

std::vector<Incident> IncidentClassifier::incidents_of(const std::string& service) const {
  std::vector<Incident> out;
  for (const auto& [id, t] : incidents_)
    if (t.incident.service == service && kept(t)) out.push_back(t.incident);
  return out;
}

nlohmann::json IncidentClassifier::save_service(const std::string& service) const {
  json incidents = json::array();
  for (const auto& [id, t] : incidents_) {
    // Resolved incidents are kept while they may still reopen on a relapse.
    if (t.incident.service != service || !kept(t)) continue;
    json obs = json::array();
    for (const auto& [k, o] : t.observations) {
      json summaries = json::object();
      for (const auto& [rule, text] : o.summaries) summaries[rule] = text;
      obs.push_back({{"service", o.service},     {"pod", o.pod},
                     {"signal", o.signal},       {"first_ts", o.first_ts},
                     {"last_ts", o.last_ts},     {"max_score", num(o.max_score)},
                     {"peak", num(o.peak)},      {"expected", num(o.expected)},
                     {"tte_s", num(o.tte_s)},    {"models", o.models},
                     {"type_hints", o.type_hints}, {"summaries", summaries},
                     {"critical", o.critical},   {"count", o.count}});
    }
    json templates = json::array();
    for (const auto& [svc, by_id] : t.templates)
      for (const auto& [tid, tpl] : by_id) {
        json j = template_json(tid, tpl.text, tpl.example, tpl.count, tpl.is_new);
        j["service"] = svc;
        templates.push_back(std::move(j));
      }
    incidents.push_back({{"incident", event_data(Event(t.incident))},
                         {"published", t.published},
                         {"publish_at", t.publish_at},
                         {"last_signal_ts", t.last_signal_ts},
                         {"acted", t.acted},
                         {"dirty", t.dirty},
                         {"stale", t.stale},
                         {"root_reason", t.root_reason},
                         {"observations", std::move(obs)},
                         {"templates", std::move(templates)}});
  }
  json pending = json::array();
  if (auto it = pending_.find(service); it != pending_.end())
    for (const Anomaly& a : it->second) pending.push_back(event_data(Event(a)));
  const std::string prefix = service + '\x1f';
  json baselines = json::array();
  for (auto it = baselines_.lower_bound(prefix); it != baselines_.end() && it->first.rfind(prefix, 0) == 0; ++it)
    baselines.push_back({{"feature", it->first.substr(prefix.size())}, {"mean", num(it->second.mean)}, {"count", it->second.count}});
  json latest = json::array();
  for (auto it = latest_.lower_bound(prefix); it != latest_.end() && it->first.rfind(prefix, 0) == 0; ++it)
    latest.push_back(event_data(Event(it->second)));
  json seen = json::array();
  for (const Seen& e : seen_order_)
    if (e.service == service) seen.push_back({{"ts", e.ts}, {"id", e.id}});
  const auto lt = latest_templates_.find(service);
  if (incidents.empty() && pending.empty() && baselines.empty() && latest.empty() && seen.empty() &&
      (lt == latest_templates_.end() || lt->second.empty()))
    return nullptr;
  json out = {{"v", kStateVersion},           {"now", now_},           {"next_seq", next_seq_},
              {"incidents", std::move(incidents)}, {"pending", std::move(pending)}, {"baselines", std::move(baselines)},
              {"latest", std::move(latest)},  {"seen", std::move(seen)}};
  if (lt != latest_templates_.end() && !lt->second.empty()) {
    json tpls = json::array();
    for (const auto& tc : lt->second) tpls.push_back(template_json(tc.template_id, tc.template_text, tc.example, tc.count, tc.is_new));
    out["latest_templates"] = std::move(tpls);
  }
  return out;
}

void IncidentClassifier::restore_service(const std::string& service, const nlohmann::json& state) {
  // Everything is read into locals first: a malformed state throws before anything changes.
  std::vector<Tracked> incidents;
  std::deque<Anomaly> pending;
  std::map<std::string, Baseline> baselines;
  std::map<std::string, FeatureWindow> latest;
  std::vector<TemplateCount> templates;
  std::vector<Seen> seen;
  TimeMs now = 0;
  std::uint64_t next_seq = 0;
  const std::string prefix = service + '\x1f';

  if (!state.is_null()) {
    const std::string p;  // the top level
    const std::int64_t version = get_int(state, p, "v");
    if (version < 1 || version > kStateVersion)
      bad("v", "unsupported state version " + std::to_string(version) + " (this build reads up to " +
                   std::to_string(kStateVersion) + ")");
    now = get_int(state, p, "now");
    next_seq = get_count(state, p, "next_seq");
    each(state, p, "incidents", [&](const json& j, const std::string& path) {
      Tracked t;
      t.incident = event_from<Incident>(field(j, path, "incident"), at(path, "incident"), "incident");
      if (t.incident.id.empty()) bad(at(path, "incident.id"), "empty");
      if (t.incident.service != service)
        bad(at(path, "incident.service"), "\"" + t.incident.service + "\" is not the service restored (\"" + service + "\")");
      t.published = get_bool(j, path, "published");
      t.publish_at = get_int(j, path, "publish_at");
      t.last_signal_ts = get_int(j, path, "last_signal_ts");
      t.acted = get_bool(j, path, "acted");
      t.dirty = get_bool(j, path, "dirty");
      t.stale = get_bool(j, path, "stale");
      t.root_reason = get_str(j, path, "root_reason");
      each(j, path, "observations", [&](const json& oj, const std::string& op) {
        Observation o;
        o.service = get_str(oj, op, "service");
        o.pod = get_str(oj, op, "pod");
        o.signal = get_str(oj, op, "signal");
        o.first_ts = get_int(oj, op, "first_ts");
        o.last_ts = get_int(oj, op, "last_ts");
        o.max_score = get_num(oj, op, "max_score");
        if (std::isnan(o.max_score)) bad(at(op, "max_score"), "expected a number, got null");
        o.peak = get_num(oj, op, "peak");
        o.expected = get_num(oj, op, "expected");
        o.tte_s = get_num(oj, op, "tte_s");
        o.models = get_strings(oj, op, "models");
        o.type_hints = get_strings(oj, op, "type_hints");
        const json& sums = field(oj, op, "summaries");
        if (!sums.is_object()) bad(at(op, "summaries"), "expected an object, got " + std::string(sums.type_name()));
        for (auto it = sums.begin(); it != sums.end(); ++it) {
          if (!it.value().is_string()) bad(at(op, "summaries") + "." + it.key(), "expected a string");
          o.summaries[it.key()] = it.value().get<std::string>();
        }
        o.critical = get_bool(oj, op, "critical");
        o.count = static_cast<int>(get_int(oj, op, "count"));
        if (o.service.empty()) bad(at(op, "service"), "empty");
        const std::string key = key2(o.service, o.signal);
        if (t.observations.count(key)) bad(at(op, "signal"), "repeats " + o.service + "/" + o.signal);
        t.observations.emplace(key, std::move(o));
      });
      each(j, path, "templates", [&](const json& tj, const std::string& tp) {
        TemplateSeen seen_tpl{get_str(tj, tp, "template"), get_str(tj, tp, "example"), get_count(tj, tp, "count"),
                              get_bool(tj, tp, "is_new")};
        t.templates[get_str(tj, tp, "service")][get_u64_text(tj, tp, "template_id")] = std::move(seen_tpl);
      });
      for (const Tracked& other : incidents)
        if (other.incident.id == t.incident.id) bad(at(path, "incident.id"), "repeats \"" + t.incident.id + "\"");
      incidents.push_back(std::move(t));
    });
    each(state, p, "pending", [&](const json& j, const std::string& path) {
      Anomaly a = event_from<Anomaly>(j, path, "anomaly");
      if (a.service != service) bad(at(path, "service"), "\"" + a.service + "\" is not the service restored");
      pending.push_back(std::move(a));
    });
    each(state, p, "baselines", [&](const json& j, const std::string& path) {
      Baseline b;
      b.mean = get_num(j, path, "mean");
      b.count = static_cast<int>(get_int(j, path, "count"));
      baselines[prefix + get_str(j, path, "feature")] = b;
    });
    each(state, p, "latest", [&](const json& j, const std::string& path) {
      FeatureWindow w = event_from<FeatureWindow>(j, path, "feature_window");
      if (w.service != service) bad(at(path, "service"), "\"" + w.service + "\" is not the service restored");
      const char* source = w.source == FeatureSource::Metrics ? "metrics" : "logs";
      latest[w.service + '\x1f' + w.pod + '\x1f' + source] = std::move(w);
    });
    each(state, p, "latest_templates", [&](const json& j, const std::string& path) {
      TemplateCount tc;
      tc.template_id = get_u64_text(j, path, "template_id");
      tc.template_text = get_str(j, path, "template");
      tc.example = get_str(j, path, "example");
      tc.count = get_count(j, path, "count");
      tc.is_new = get_bool(j, path, "is_new");
      templates.push_back(std::move(tc));
    });
    each(state, p, "seen", [&](const json& j, const std::string& path) {
      seen.push_back(Seen{get_int(j, path, "ts"), get_str(j, path, "id"), service});
    });
  }

  // Replace what is held for `service`.
  for (auto it = incidents_.begin(); it != incidents_.end();)
    it = it->second.incident.service == service ? incidents_.erase(it) : std::next(it);
  const std::string own = opt_.id_prefix + "-";
  for (Tracked& t : incidents) {
    // Ids this classifier mints are "<prefix>-<seq>": never mint a restored one again.
    const std::string id = t.incident.id;
    if (id.size() > own.size() && id.rfind(own, 0) == 0 && id.size() - own.size() <= 19 &&
        std::all_of(id.begin() + static_cast<std::ptrdiff_t>(own.size()), id.end(), [](char c) { return c >= '0' && c <= '9'; }))
      next_seq_ = std::max<std::uint64_t>(next_seq_, std::stoull(id.substr(own.size())) + 1);
    incidents_[id] = std::move(t);  // the same incident held under another root is superseded
  }
  next_seq_ = std::max(next_seq_, next_seq);
  if (pending.empty()) pending_.erase(service);
  else pending_[service] = std::move(pending);
  for (auto it = baselines_.lower_bound(prefix); it != baselines_.end() && it->first.rfind(prefix, 0) == 0;)
    it = baselines_.erase(it);
  baselines_.insert(baselines.begin(), baselines.end());
  for (auto it = latest_.lower_bound(prefix); it != latest_.end() && it->first.rfind(prefix, 0) == 0;) it = latest_.erase(it);
  latest_.insert(std::make_move_iterator(latest.begin()), std::make_move_iterator(latest.end()));
  if (templates.empty()) latest_templates_.erase(service);
  else latest_templates_[service] = std::move(templates);
  std::erase_if(seen_order_, [&](const Seen& e) {
    if (e.service != service) return false;
    seen_ids_.erase(e.id);
    return true;
  });
  for (Seen& e : seen)
    if (seen_ids_.insert(e.id).second) seen_order_.push_back(std::move(e));
  // Forgetting goes from the front by age: keep the merged record oldest first.
  std::stable_sort(seen_order_.begin(), seen_order_.end(), [](const Seen& a, const Seen& b) { return a.ts < b.ts; });
  now_ = std::max(now_, now);
}

}  // namespace selfheal::classifier
