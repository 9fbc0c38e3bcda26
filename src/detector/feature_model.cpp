#include "detector/feature_model.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "contracts/feature_names.hpp"

namespace selfheal::detector {
namespace fn = feature_names;

const FeatureRule* BaselineParams::rule(std::string_view feature) const {
  for (const auto& r : rules)
    if (r.feature == feature) return &r;
  return nullptr;
}

BaselineParams BaselineParams::builtin() {
  BaselineParams p;
  auto add = [&](std::string_view f, Direction d, double abs_floor, double rel_floor) {
    p.rules.push_back(FeatureRule{std::string(f), d, abs_floor, rel_floor});
  };
  // Absolute floors are "the smallest change an SRE would care about" in the feature's unit.
  add(fn::kCpuUtilMean, Direction::Up, 0.03, 0.05);
  add(fn::kCpuUtilMax, Direction::Up, 0.04, 0.05);
  add(fn::kMemoryUtilMax, Direction::Up, 0.02, 0.03);
  add(fn::kMemorySlope, Direction::Up, 64.0 * 1024, 0.0);  // 64 KiB/s
  add(fn::kRestarts, Direction::Up, 0.1, 0.0);
  add(fn::kPodsReady, Direction::Down, 0.1, 0.0);
  add(fn::kRequestsPerS, Direction::Both, 1.0, 0.06);
  add(fn::kErrorsPerS, Direction::Up, 0.2, 0.1);
  add(fn::kErrorRatio, Direction::Up, 0.01, 0.1);
  add(fn::kLatencyP50, Direction::Up, 0.005, 0.05);
  add(fn::kLatencyP95, Direction::Up, 0.01, 0.06);
  add(fn::kLatencyP99, Direction::Up, 0.02, 0.08);
  add(fn::kDbQueryP95, Direction::Up, 0.005, 0.06);
  add(fn::kDbConnectionsActive, Direction::Up, 1.0, 0.08);
  add(fn::kDbPoolWaitsPerS, Direction::Up, 0.2, 0.1);
  add(fn::kLogError, Direction::Up, 1.0, 0.1);
  add(fn::kLogErrorRatio, Direction::Up, 0.01, 0.1);
  add(fn::kLogWarn, Direction::Up, 1.0, 0.1);
  add(fn::kLogLines, Direction::Both, 2.0, 0.08);
  add(fn::kLogNewTemplates, Direction::Up, 0.15, 0.0);
  add(fn::kLogUnparsed, Direction::Up, 1.0, 0.1);
  return p;
}

namespace {
std::string_view direction_name(Direction d) {
  switch (d) {
    case Direction::Up: return "up";
    case Direction::Down: return "down";
    case Direction::Both: return "both";
  }
  return "up";
}

double number_field(const nlohmann::json& j, const char* key, double fallback, double lo, double hi,
                    const std::string& where) {
  if (!j.contains(key)) return fallback;
  const auto& v = j.at(key);
  if (!v.is_number()) throw std::runtime_error(where + key + ": expected a number");
  double d = v.get<double>();
  if (!(d >= lo && d <= hi))
    throw std::runtime_error(where + key + ": " + std::to_string(d) + " is outside [" + std::to_string(lo) + ", " +
                             std::to_string(hi) + "]");
  return d;
}
}  // namespace

BaselineParams BaselineParams::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw std::runtime_error("model: expected a JSON object");
  BaselineParams p = builtin();
  if (j.contains("name")) {
    if (!j["name"].is_string()) throw std::runtime_error("model.name: expected a string");
    p.name = j["name"].get<std::string>();
  }
  if (!j.contains("version") || !j["version"].is_string() || j["version"].get<std::string>().empty())
    throw std::runtime_error("model.version: required non-empty string");
  p.version = j["version"].get<std::string>();
  const std::string w = "model.";
  p.alpha = number_field(j, "alpha", p.alpha, 1e-6, 1.0, w);
  p.anomalous_alpha = number_field(j, "anomalous_alpha", p.anomalous_alpha, 0.0, 1.0, w);
  p.warmup = static_cast<int>(number_field(j, "warmup", p.warmup, 1, 1e6, w));
  p.z_mid = number_field(j, "z_mid", p.z_mid, 0.5, 1e3, w);
  p.z_scale = number_field(j, "z_scale", p.z_scale, 1e-3, 1e3, w);
  p.default_rel_floor = number_field(j, "default_rel_floor", p.default_rel_floor, 0, 10, w);
  p.default_abs_floor = number_field(j, "default_abs_floor", p.default_abs_floor, 0, 1e18, w);
  p.tte_horizon_s = number_field(j, "tte_horizon_s", p.tte_horizon_s, 1, 1e9, w);
  if (j.contains("features")) {
    const auto& fs = j["features"];
    if (!fs.is_object()) throw std::runtime_error("model.features: expected an object of feature -> rule");
    for (auto it = fs.begin(); it != fs.end(); ++it) {
      const std::string where = "model.features." + it.key() + ".";
      if (!it->is_object()) throw std::runtime_error(where.substr(0, where.size() - 1) + ": expected an object");
      FeatureRule r;
      r.feature = it.key();
      if (const FeatureRule* old = p.rule(r.feature)) r = *old;
      r.rel_floor = p.default_rel_floor;
      if (const FeatureRule* old = p.rule(r.feature)) r.rel_floor = old->rel_floor;
      if (it->contains("direction")) {
        const auto& d = (*it)["direction"];
        std::string s = d.is_string() ? d.get<std::string>() : "";
        if (s == "up") r.direction = Direction::Up;
        else if (s == "down") r.direction = Direction::Down;
        else if (s == "both") r.direction = Direction::Both;
        else throw std::runtime_error(where + "direction: expected up, down or both");
      }
      r.abs_floor = number_field(*it, "abs_floor", r.abs_floor, 0, 1e18, where);
      r.rel_floor = number_field(*it, "rel_floor", r.rel_floor, 0, 10, where);
      auto pos = std::find_if(p.rules.begin(), p.rules.end(), [&](const FeatureRule& x) { return x.feature == r.feature; });
      if (pos != p.rules.end()) *pos = r;
      else p.rules.push_back(r);
    }
  }
  return p;
}

nlohmann::json BaselineParams::to_json() const {
  nlohmann::json j;
  j["name"] = name;
  j["version"] = version;
  j["alpha"] = alpha;
  j["anomalous_alpha"] = anomalous_alpha;
  j["warmup"] = warmup;
  j["z_mid"] = z_mid;
  j["z_scale"] = z_scale;
  j["default_rel_floor"] = default_rel_floor;
  j["default_abs_floor"] = default_abs_floor;
  j["tte_horizon_s"] = tte_horizon_s;
  nlohmann::json fs = nlohmann::json::object();
  for (const auto& r : rules)
    fs[r.feature] = {{"direction", direction_name(r.direction)}, {"abs_floor", r.abs_floor}, {"rel_floor", r.rel_floor}};
  j["features"] = fs;
  return j;
}

double z_to_score(const BaselineParams& p, double z) {
  if (!(z > 0)) return 0.0;
  double s = 1.0 / (1.0 + std::exp(-(z - p.z_mid) / p.z_scale));
  // Below ~3 spreads nothing is unusual: pin to 0 so noise never accumulates downstream.
  return z < 3.0 ? 0.0 : s;
}

Score score_and_update(const BaselineParams& p, const FeatureRule& rule, BaselineState& st, double value,
                       double alert_threshold) {
  Score out;
  if (!std::isfinite(value)) return out;
  if (st.count == 0) {
    st.mean = value;
    st.spread = 0;
    st.count = 1;
    out.expected = value;
    return out;
  }
  out.expected = st.mean;
  double floor = std::max({rule.abs_floor, rule.rel_floor * std::abs(st.mean), p.default_abs_floor});
  double spread = std::max(1.2533 * st.spread, floor);  // 1.2533: MAD-about-mean -> sigma for a normal
  double dev = value - st.mean;
  out.z = dev / spread;
  double directed = rule.direction == Direction::Up ? out.z : rule.direction == Direction::Down ? -out.z : std::abs(out.z);
  if (st.count >= static_cast<std::uint32_t>(p.warmup)) out.score = z_to_score(p, directed);

  bool anomalous = out.score >= alert_threshold;
  st.anomalous_run = anomalous ? st.anomalous_run + 1 : 0;
  // During warm-up learn fast (1/n) so the baseline is usable after `warmup` windows.
  double a = st.count < static_cast<std::uint32_t>(p.warmup) ? 1.0 / (st.count + 1) : anomalous ? p.anomalous_alpha : p.alpha;
  // Clip the learning step so one outlier cannot drag the baseline (robust update).
  double clipped = std::clamp(dev, -4.0 * spread, 4.0 * spread);
  st.mean += a * clipped;
  st.spread += a * (std::min(std::abs(dev), 4.0 * spread) - st.spread);
  if (st.count < 0xffffffffu) ++st.count;
  return out;
}

double time_to_exhaustion_s(double utilization_max, double memory_bytes_max, double slope) {
  if (!(slope > 0) || !(utilization_max > 0) || !(memory_bytes_max > 0)) return std::nan("");
  double limit = memory_bytes_max / utilization_max;
  double remaining = std::max(0.0, limit - memory_bytes_max);
  return remaining / slope;
}

}  // namespace selfheal::detector
