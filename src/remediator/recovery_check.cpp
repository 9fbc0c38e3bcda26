#include "remediator/recovery_check.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "contracts/feature_names.hpp"

namespace selfheal::remediation {
namespace fn = feature_names;
namespace {

// The features whose baseline is learned, with how far above it is still "normal": healthy when
// value <= max(mean * ratio, mean + slack, mean + 6 x deviation), or <= ceiling while no baseline
// exists. `always_ok_below`: a level that is healthy whatever the baseline (CPU under 80% is not
// saturated, even if the service used to idle at 20%).
struct Limit {
  std::string_view feature;
  double ratio;
  double slack;
  double ceiling;
  double always_ok_below;
};
constexpr Limit kErrorRatio{fn::kErrorRatio, 2.0, 0.02, 0.05, 0};
constexpr Limit kLatencyP95{fn::kLatencyP95, 1.5, 0.05, 1.0, 0};
constexpr Limit kCpuUtil{fn::kCpuUtilMean, 1.3, 0.10, 0.80, 0.80};
constexpr Limit kMemoryUtil{fn::kMemoryUtilMax, 1.3, 0.10, 0.85, 0};
constexpr Limit kDbQueryP95{fn::kDbQueryP95, 1.5, 0.02, 0.5, 0};
constexpr Limit kLearned[] = {kErrorRatio, kLatencyP95, kCpuUtil, kMemoryUtil, kDbQueryP95};
constexpr int kMinSamples = 5;
constexpr double kAlpha = 0.05;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace

void RecoveryCheck::observe(const FeatureWindow& w, bool learn) {
  if (!learn) return;
  auto& svc = baselines_[w.service];
  for (const auto& l : kLearned) {
    double v = w.get(l.feature);
    if (is_absent(v)) continue;
    Band& b = svc[std::string(l.feature)];
    // Plain means for the first windows, then EWMAs that follow slow drift (daily load cycle).
    double weight = b.samples < 20 ? 1.0 / (b.samples + 1) : kAlpha;
    double dev = b.samples == 0 ? 0 : std::abs(v - b.mean);
    b.mean += weight * (v - b.mean);
    if (b.samples > 0) b.deviation += (b.samples < 20 ? 1.0 / b.samples : kAlpha) * (dev - b.deviation);
    ++b.samples;
  }
}

nlohmann::json RecoveryCheck::encode(const std::string& service) const {
  auto s = baselines_.find(service);
  if (s == baselines_.end() || s->second.empty()) return nullptr;
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [feature, b] : s->second) out[feature] = {b.mean, b.deviation, b.samples};
  return out;
}

RecoveryCheck::Bands RecoveryCheck::decode(const nlohmann::json& j, const std::string& field) {
  Bands out;
  if (j.is_null()) return out;
  if (!j.is_object()) throw std::invalid_argument(field + ": expected an object or null");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& v = it.value();
    const std::string where = field + "." + it.key();
    bool known = false;
    for (const auto& l : kLearned) known = known || l.feature == it.key();
    if (!known) throw std::invalid_argument(where + ": not a feature whose band is learned");
    if (!v.is_array() || v.size() != 3 || !v[0].is_number() || !v[1].is_number() || !v[2].is_number_integer())
      throw std::invalid_argument(where + ": expected [mean, deviation, samples]");
    Band b{v[0].get<double>(), v[1].get<double>(), v[2].get<int>()};
    if (!std::isfinite(b.mean) || !std::isfinite(b.deviation) || b.deviation < 0 || b.samples < 1)
      throw std::invalid_argument(where + ": expected a finite mean, a deviation >= 0 and samples >= 1");
    out[it.key()] = b;
  }
  return out;
}

void RecoveryCheck::replace(const std::string& service, Bands bands) {
  if (bands.empty()) baselines_.erase(service);
  else baselines_[service] = std::move(bands);
}

const RecoveryCheck::Band* RecoveryCheck::baseline(const std::string& service, std::string_view feature) const {
  auto s = baselines_.find(service);
  if (s == baselines_.end()) return nullptr;
  auto f = s->second.find(std::string(feature));
  if (f == s->second.end() || f->second.samples < kMinSamples) return nullptr;
  return &f->second;
}

std::string RecoveryCheck::problems(const FeatureWindow& w, IncidentType type) const {
  std::string out;
  auto note = [&](const std::string& s) { out += (out.empty() ? "" : ", ") + s; };
  auto within = [&](const Limit& l) {
    double v = w.get(l.feature);
    if (is_absent(v)) return;
    const Band* b = baseline(w.service, l.feature);
    double limit = !b ? l.ceiling
                      : std::max({b->mean * l.ratio, b->mean + l.slack, b->mean + 6 * b->deviation, l.always_ok_below});
    if (v > limit) note(std::string(l.feature) + " " + num(v) + " > " + num(limit));
  };
  within(kErrorRatio);
  within(kLatencyP95);
  // Capacity incidents are fixed by adding pods, which are not ready while they warm up: there
  // readiness says nothing about recovery. Elsewhere an unready pod is the symptom.
  bool capacity = type == IncidentType::CpuSaturation || type == IncidentType::TrafficSurge;
  double pods = w.get(fn::kPods), ready = w.get(fn::kPodsReady);
  if (!capacity && !is_absent(pods) && !is_absent(ready) && ready < pods)
    note("pods ready " + num(ready) + "/" + num(pods));
  double restarts = w.get(fn::kRestarts);
  if (!is_absent(restarts) && restarts > 0) note("restarts " + num(restarts));
  switch (type) {
    case IncidentType::CpuSaturation:
    case IncidentType::TrafficSurge: within(kCpuUtil); break;
    case IncidentType::MemoryLeak: within(kMemoryUtil); break;
    case IncidentType::DbLatency: within(kDbQueryP95); break;
    default: break;
  }
  return out;
}

}  // namespace selfheal::remediation
