#include "eval/scoring.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace selfheal::eval {
namespace {

double value_of(const FeatureWindow& w, const std::string& feature) {
  if (feature == "pods_not_ready") {
    double pods = w.get("pods"), ready = w.get("pods_ready");
    return std::isnan(pods) || std::isnan(ready) ? kAbsent : pods - ready;
  }
  return w.get(feature);
}

// The signals MTTR judges, as issue 5 point 10 defines it: the affected service's latency and error
// rate back in their normal band. A fault's own resource signal (memory of a leak, CPU of a spike)
// is not one of them: a spike served within its latency band by more replicas is repaired for its
// users although each pod still burns more CPU, and a leak caught before it hurt anyone has
// nothing to recover from. (Until 2026-11-25 the fault type's own signal was judged too, which
// made a cpu_spike repaired by scaling count as unrepaired until the fault ended.)
bool judged_for_recovery(const std::string& feature) {
  return feature == "latency_p95_s" || feature == "error_ratio";
}

// A service with pods but none of them ready serves nothing: every call to it fails (its error
// rate, as its callers see it, is 100%), although its own windows carry no latency or error ratio
// (no pod answered a request). A crash loop is exactly that; without this rule it would look like
// a fault that never left the normal band.
bool serves_nothing(const FeatureWindow& w) {
  const double pods = w.get("pods"), ready = w.get("pods_ready");
  return !std::isnan(pods) && !std::isnan(ready) && pods > 0 && ready < 0.5;
}

double absolute_floor(const std::string& feature) {
  if (feature == "latency_p95_s" || feature == "db_query_p95_s") return 0.05;
  if (feature == "error_ratio") return 0.01;
  if (feature == "pods_not_ready") return 0.5;
  return 0.05;  // utilisations
}

const std::vector<std::string> kHealthSignals = {"latency_p95_s", "error_ratio", "memory_utilization_max",
                                                 "cpu_utilization_mean", "db_query_p95_s", "pods_not_ready"};

bool matches(const Incident& i, const FaultLabel& f) { return incident_matches(i, f); }

}  // namespace

bool calls_transitively(const RunRecord& run, const std::string& caller, const std::string& callee) {
  std::set<std::string> seen;
  std::vector<std::string> stack{caller};
  while (!stack.empty()) {
    std::string s = stack.back();
    stack.pop_back();
    auto it = run.calls.find(s);
    if (it == run.calls.end()) continue;
    for (const auto& c : it->second) {
      if (c == callee) return true;
      if (seen.insert(c).second) stack.push_back(c);
    }
  }
  return false;
}

bool incident_matches(const Incident& i, const FaultLabel& f) {
  TimeMs end = (f.end > 0 ? f.end : f.start) + kMatchGrace;
  if (i.opened_at < f.start || i.opened_at > end) return false;
  if (i.service == f.service) return true;
  return std::find(i.affected_services.begin(), i.affected_services.end(), f.service) != i.affected_services.end();
}

namespace {

bool in_fault(const RunRecord& run, TimeMs t) {
  for (const auto& f : run.faults) {
    TimeMs end = (f.end > 0 ? f.end : run.end) + 10 * 60 * 1000;  // effects linger after the end
    if (t >= f.start && t <= end) return true;
  }
  return false;
}

// Time the fault's service got back to health, or the fault's end if it never did; NaN when the
// fault never moved any health signal out of band (nothing to recover from).
double recovery_seconds(const RunRecord& run, const std::map<std::string, std::vector<HealthBand>>& bands,
                        const FaultLabel& f) {
  auto bit = bands.find(f.service);
  if (bit == bands.end()) return kAbsent;
  const TimeMs fault_end = f.end > 0 ? f.end : run.end;
  std::vector<std::pair<TimeMs, bool>> health;  // window end -> all signals in band
  for (const auto& w : run.service_windows) {
    if (w.service != f.service || w.end < f.start) continue;
    bool ok = !serves_nothing(w);
    for (const auto& b : bit->second) {
      if (!judged_for_recovery(b.feature)) continue;
      double v = value_of(w, b.feature);
      if (!std::isnan(v) && v > b.upper) ok = false;
    }
    health.emplace_back(w.end, ok);
  }
  std::size_t i = 0;
  while (i < health.size() && health[i].second && health[i].first <= fault_end) ++i;
  if (i == health.size() || health[i].first > fault_end) return kAbsent;  // never out of band
  for (; i < health.size(); ++i) {
    if (!health[i].second) continue;
    TimeMs t = health[i].first;
    std::size_t j = i;
    while (j < health.size() && health[j].second && health[j].first < t + kRecoveryHold) ++j;
    bool held = j < health.size() ? health[j].second || health[j].first >= t + kRecoveryHold : true;
    if (held) return static_cast<double>(std::min(t, fault_end) - f.start) / 1000.0;
    i = j;
  }
  return static_cast<double>(fault_end - f.start) / 1000.0;
}

}  // namespace

const std::vector<BaselineRule>& baseline_rules() {
  static const std::vector<BaselineRule> kRules = {
      {"HighMemory", "memory_utilization_max", 0.90, "memory_leak"},
      {"HighCPU", "cpu_utilization_mean", 0.85, "cpu_saturation"},
      {"HighLatency", "latency_p95_s", 1.0, "db_latency"},
      {"HighErrorRate", "error_ratio", 0.05, "error_burst"},
      {"PodsNotReady", "pods_not_ready", 0.5, "crash_loop"},
  };
  return kRules;
}

double percentile(std::vector<double> values, double p) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }), values.end());
  if (values.empty()) return kAbsent;
  std::sort(values.begin(), values.end());
  double rank = p * static_cast<double>(values.size() - 1);
  auto lo = static_cast<std::size_t>(std::floor(rank));
  auto hi = static_cast<std::size_t>(std::ceil(rank));
  return values[lo] + (values[hi] - values[lo]) * (rank - static_cast<double>(lo));
}

std::map<std::string, std::vector<HealthBand>> learn_bands(const RunRecord& run) {
  std::map<std::string, std::map<std::string, std::vector<double>>> samples;
  const TimeMs warmup = run.start + 2 * 60 * 1000;
  for (const auto& w : run.service_windows) {
    if (w.end < warmup || in_fault(run, w.end)) continue;
    for (const auto& f : kHealthSignals) {
      double v = value_of(w, f);
      if (!std::isnan(v)) samples[w.service][f].push_back(v);
    }
  }
  std::map<std::string, std::vector<HealthBand>> bands;
  for (auto& [service, by_feature] : samples) {
    for (auto& [feature, values] : by_feature) {
      if (values.size() < 6) continue;
      double median = percentile(values, 0.5);
      std::vector<double> dev;
      for (double v : values) dev.push_back(std::fabs(v - median));
      double mad = percentile(dev, 0.5);
      double upper = std::max({percentile(values, 0.99) * 1.25, median + 6 * mad, median * 1.5,
                               median + absolute_floor(feature)});
      bands[service].push_back({feature, upper});
    }
  }
  return bands;
}

std::vector<FaultOutcome> score_faults(const RunRecord& run, const RunRecord* no_remediation) {
  auto bands = learn_bands(run);
  std::vector<FaultOutcome> out;
  for (const auto& f : run.faults) {
    FaultOutcome o;
    o.fault = f;
    const Incident* first = nullptr;
    int matching = 0;
    for (const auto& i : run.incidents) {
      if (!matches(i, f)) continue;
      ++matching;
      if (!first || i.opened_at < first->opened_at) first = &i;
    }
    if (first) {
      o.detected = true;
      o.type_correct = to_string(first->type) == f.expected_incident_type;
      o.root_cause_correct = first->service == f.service;
      o.mttd_s = static_cast<double>(first->opened_at - f.start) / 1000.0;
      o.duplicate_incidents = matching - 1;
    }
    o.mttr_s = recovery_seconds(run, bands, f);
    if (f.fault_type == "memory_leak" && no_remediation && first) {
      auto it = no_remediation->oom_kills.find(f.service);
      if (it != no_remediation->oom_kills.end())
        for (TimeMs t : it->second)
          if (t >= f.start) {
            o.leak_lead_time_s = static_cast<double>(t - first->opened_at) / 1000.0;
            break;
          }
    }
    out.push_back(o);
  }
  return out;
}

std::vector<FaultOutcome> score_baseline(const RunRecord& run, int* false_alerts) {
  // Alert episodes: a rule on a service, firing once its condition held for kBaselineFor.
  struct Episode {
    const BaselineRule* rule;
    std::string service;
    TimeMs fired_at;
  };
  std::vector<Episode> episodes;
  std::map<std::pair<std::string, std::string>, TimeMs> pending_since;  // (rule, service) -> true since
  std::set<std::pair<std::string, std::string>> firing;
  for (const auto& w : run.service_windows) {
    for (const auto& r : baseline_rules()) {
      auto key = std::make_pair(r.name, w.service);
      double v = value_of(w, r.feature);
      if (!std::isnan(v) && v > r.threshold) {
        auto [it, fresh] = pending_since.try_emplace(key, w.end);
        if (!firing.count(key) && w.end - it->second >= kBaselineFor) {
          firing.insert(key);
          episodes.push_back({&r, w.service, w.end});
        }
      } else {
        pending_since.erase(key);
        firing.erase(key);
      }
    }
  }
  auto bands = learn_bands(run);
  std::vector<FaultOutcome> out;
  std::vector<bool> used(episodes.size(), false);
  for (const auto& f : run.faults) {
    FaultOutcome o;
    o.fault = f;
    TimeMs end = (f.end > 0 ? f.end : f.start) + kMatchGrace;
    const Episode* first = nullptr;
    for (std::size_t k = 0; k < episodes.size(); ++k) {
      const auto& e = episodes[k];
      if (e.fired_at < f.start || e.fired_at > end) continue;
      if (e.service != f.service && !calls_transitively(run, e.service, f.service)) continue;
      used[k] = true;
      if (!first || e.fired_at < first->fired_at) first = &e;
    }
    if (first) {
      o.detected = true;
      o.type_correct = first->rule->incident_type == f.expected_incident_type;
      o.root_cause_correct = first->service == f.service;
      o.mttd_s = static_cast<double>(first->fired_at - f.start) / 1000.0;
    }
    o.mttr_s = recovery_seconds(run, bands, f);
    if (f.fault_type == "memory_leak" && first) {
      auto it = run.oom_kills.find(f.service);
      if (it != run.oom_kills.end())
        for (TimeMs t : it->second)
          if (t >= f.start) {
            o.leak_lead_time_s = static_cast<double>(t - first->fired_at) / 1000.0;
            break;
          }
    }
    out.push_back(o);
  }
  if (false_alerts) *false_alerts = static_cast<int>(std::count(used.begin(), used.end(), false));
  return out;
}

int count_false_incidents(const RunRecord& run) {
  int n = 0;
  for (const auto& i : run.incidents) {
    bool any = false;
    for (const auto& f : run.faults) any = any || matches(i, f);
    if (!any) ++n;
  }
  return n;
}

int count_unnecessary_actions(const RunRecord& run) {
  std::map<std::string, const Incident*> by_id;
  for (const auto& i : run.incidents) by_id[i.id] = &i;
  std::set<std::string> counted;
  int n = 0;
  for (const auto& a : run.actions) {
    if (a.status != ActionStatus::Succeeded && a.status != ActionStatus::Failed) continue;  // not executed
    if (a.kind == ActionKind::NotifyOnly || counted.count(a.id)) continue;
    auto it = by_id.find(a.incident_id);
    bool needed = false;
    if (it != by_id.end())
      for (const auto& f : run.faults)
        if (matches(*it->second, f) && f.fault_type != "dependency_outage") needed = true;
    if (!needed) {
      counted.insert(a.id);
      ++n;
    }
  }
  return n;
}

Figures aggregate(const std::vector<FaultOutcome>& outcomes, int false_incidents, int unnecessary_actions,
                  double simulated_days) {
  Figures g;
  g.faults = static_cast<int>(outcomes.size());
  g.false_incidents = false_incidents;
  g.unnecessary_actions = unnecessary_actions;
  g.simulated_days = simulated_days;
  if (simulated_days > 0) g.false_incidents_per_day = false_incidents / simulated_days;
  if (outcomes.empty()) return g;
  int detected = 0, typed = 0, rooted = 0;
  std::vector<double> mttd, mttr, lead;
  for (const auto& o : outcomes) {
    g.duplicate_incidents += o.duplicate_incidents;
    mttr.push_back(o.mttr_s);
    if (!o.detected) continue;
    ++detected;
    typed += o.type_correct;
    rooted += o.root_cause_correct;
    mttd.push_back(o.mttd_s);
    lead.push_back(o.leak_lead_time_s);
  }
  g.recall = static_cast<double>(detected) / static_cast<double>(outcomes.size());
  if (detected) {
    g.type_accuracy = static_cast<double>(typed) / detected;
    g.rca_top1 = static_cast<double>(rooted) / detected;
  }
  g.mttd_median_s = percentile(mttd, 0.5);
  g.mttd_p90_s = percentile(mttd, 0.9);
  g.mttr_median_s = percentile(mttr, 0.5);
  g.mttr_p90_s = percentile(mttr, 0.9);
  g.leak_lead_time_median_s = percentile(lead, 0.5);
  return g;
}

}  // namespace selfheal::eval
