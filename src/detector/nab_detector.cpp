#include "detector/nab_detector.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace selfheal::detector {

namespace {
double num(const nlohmann::json& j, const char* key, double fallback, double lo, double hi) {
  if (!j.contains(key)) return fallback;
  const auto& v = j.at(key);
  if (!v.is_number()) throw std::runtime_error(std::string("model.") + key + ": expected a number");
  double d = v.get<double>();
  if (!(d >= lo && d <= hi))
    throw std::runtime_error(std::string("model.") + key + ": " + std::to_string(d) + " outside [" +
                             std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return d;
}
}  // namespace

NabParams NabParams::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw std::runtime_error("model: expected a JSON object");
  NabParams p;
  if (j.contains("name") && j["name"].is_string()) p.name = j["name"].get<std::string>();
  if (!j.contains("version") || !j["version"].is_string()) throw std::runtime_error("model.version: required string");
  p.version = j["version"].get<std::string>();
  p.short_window = static_cast<int>(num(j, "short_window", p.short_window, 1, 16));
  p.long_window = static_cast<int>(num(j, "long_window", p.long_window, 2, NabDetector::kRing - 16));
  p.record_decay = num(j, "record_decay", p.record_decay, 0, 0.5);
  p.warmup = static_cast<int>(num(j, "warmup", p.warmup, 2, 1e6));
  p.suppress = static_cast<int>(num(j, "suppress", p.suppress, 0, 1e6));
  p.suppress_level = num(j, "suppress_level", p.suppress_level, 0, 1);
  p.w_value = num(j, "w_value", p.w_value, 0, 10);
  p.w_jump = num(j, "w_jump", p.w_jump, 0, 10);
  p.w_level = num(j, "w_level", p.w_level, 0, 10);
  p.w_vol = num(j, "w_vol", p.w_vol, 0, 10);
  return p;
}

nlohmann::json NabParams::to_json() const {
  return {{"name", name}, {"version", version}, {"kind", "nab-ensemble"}, {"short_window", short_window},
          {"long_window", long_window}, {"record_decay", record_decay}, {"warmup", warmup},
          {"suppress", suppress}, {"suppress_level", suppress_level}, {"w_value", w_value}, {"w_jump", w_jump},
          {"w_level", w_level}, {"w_vol", w_vol}};
}

double NabDetector::score(double x) {
  if (!std::isfinite(x)) return 0;
  const NabParams& p = *p_;
  auto at = [&](std::uint64_t back) { return ring_[(n_ - back) % kRing]; };  // back >= 1: a past value
  if (n_ == 0) { min_ = max_ = x; vol_mean_ = 0; }

  // Deviation channels, each >= 0; a channel "fires" when it beats its own record.
  std::array<double, kChannels> d{};
  const std::uint64_t have = std::min<std::uint64_t>(n_, kRing);
  if (n_ > 0) {
    d[0] = std::max(0.0, x - max_);   // above everything seen
    d[1] = std::max(0.0, min_ - x);   // below everything seen
    d[2] = std::abs(x - at(1));       // sudden jump
    const std::uint64_t sw = std::min<std::uint64_t>(static_cast<std::uint64_t>(p.short_window) - 1, have);
    const std::uint64_t lw = std::min<std::uint64_t>(static_cast<std::uint64_t>(p.long_window), have - sw);
    if (lw >= 2) {
      double s = x;
      for (std::uint64_t k = 1; k <= sw; ++k) s += at(k);
      s /= static_cast<double>(sw + 1);
      double m = 0, m2 = 0;
      for (std::uint64_t k = sw + 1; k <= sw + lw; ++k) { m += at(k); m2 += at(k) * at(k); }
      m /= static_cast<double>(lw);
      double sd = std::sqrt(std::max(0.0, m2 / static_cast<double>(lw) - m * m));
      double range = max_ - min_;
      d[3] = std::abs(s - m) / (sd + 0.01 * range + 1e-12);  // level shift in local spreads
      d[4] = sd > 0 ? 0 : 0;
    }
  }
  double best = 0;
  const double w[kChannels] = {p.w_value, p.w_value, p.w_jump, p.w_level, p.w_vol};
  if (n_ >= static_cast<std::uint64_t>(p.warmup)) {
    for (int c = 0; c < kChannels; ++c) {
      if (w[c] <= 0 || d[c] <= 0) continue;
      double ratio = record_[c] > 0 ? d[c] / record_[c] : 2.0;
      // Map ratio to [0,1]: below the record the score grows slowly, a new record lands above 0.5.
      double s = ratio < 1 ? 0.5 * ratio * ratio : 0.5 + 0.5 * std::min(1.0, (ratio - 1.0));
      best = std::max(best, std::min(1.0, s * w[c]));
    }
  }
  for (int c = 0; c < kChannels; ++c) {
    record_[c] *= (1.0 - p.record_decay);
    record_[c] = std::max(record_[c], d[c]);
  }
  min_ = std::min(min_, x);
  max_ = std::max(max_, x);
  ring_[n_ % kRing] = x;
  ++n_;
  if (mute_ > 0) { --mute_; return 0; }
  if (p.suppress > 0 && best >= p.suppress_level) mute_ = p.suppress;
  return best;
}

}  // namespace selfheal::detector
