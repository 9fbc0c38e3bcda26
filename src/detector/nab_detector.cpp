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
// Standard normal upper tail.
double q_tail(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }
}  // namespace

NabParams NabParams::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw std::runtime_error("model: expected a JSON object");
  NabParams p;
  if (j.contains("name") && j["name"].is_string()) p.name = j["name"].get<std::string>();
  if (!j.contains("version") || !j["version"].is_string()) throw std::runtime_error("model.version: required string");
  p.version = j["version"].get<std::string>();
  p.short_window = static_cast<int>(num(j, "short_window", p.short_window, 1, 16));
  p.slow_alpha = num(j, "slow_alpha", p.slow_alpha, 1e-6, 1);
  p.fast_alpha = num(j, "fast_alpha", p.fast_alpha, 1e-6, 1);
  p.bins = static_cast<int>(num(j, "bins", p.bins, 2, 256));
  p.spatial_margin = num(j, "spatial_margin", p.spatial_margin, 0, 10);
  p.likelihood_short = static_cast<int>(num(j, "likelihood_short", p.likelihood_short, 1, 32));
  p.likelihood_alpha = num(j, "likelihood_alpha", p.likelihood_alpha, 1e-6, 1);
  p.learning_period = static_cast<int>(num(j, "learning_period", p.learning_period, 0, 1e6));
  p.suppress = static_cast<int>(num(j, "suppress", p.suppress, 0, 1e6));
  p.suppress_level = num(j, "suppress_level", p.suppress_level, 0, 1);
  p.w_spatial = num(j, "w_spatial", p.w_spatial, 0, 10);
  p.w_context = num(j, "w_context", p.w_context, 0, 10);
  p.w_level = num(j, "w_level", p.w_level, 0, 10);
  return p;
}

nlohmann::json NabParams::to_json() const {
  return {{"name", name}, {"version", version}, {"kind", "nab-ensemble"}, {"short_window", short_window},
          {"slow_alpha", slow_alpha}, {"fast_alpha", fast_alpha}, {"bins", bins}, {"spatial_margin", spatial_margin},
          {"likelihood_short", likelihood_short}, {"likelihood_alpha", likelihood_alpha},
          {"learning_period", learning_period}, {"suppress", suppress}, {"suppress_level", suppress_level},
          {"w_spatial", w_spatial}, {"w_context", w_context}, {"w_level", w_level}};
}

double NabDetector::raw_score(double x) {
  const NabParams& p = *p_;
  if (n_ == 0) {
    min_ = max_ = slow_mean_ = fast_mean_ = x;
    for (auto& r : recent_) r = x;
    return 0;
  }
  const double range = max_ - min_;
  // Spatial novelty: a value beyond everything seen so far (by a margin of the range).
  double spatial = 0;
  if (range > 0) {
    double excess = std::max(x - max_, min_ - x);
    if (excess > p.spatial_margin * range) spatial = std::min(1.0, excess / range);
  }
  // Context novelty: has this bin followed these two previous bins before?
  int bin = range > 0 ? static_cast<int>(std::clamp((x - min_) / range, 0.0, 1.0) * (p.bins - 1) + 0.5) : 0;
  std::uint64_t h = (static_cast<std::uint64_t>(prev_bin_[1]) * 257 + static_cast<std::uint64_t>(prev_bin_[2])) * 257 +
                    static_cast<std::uint64_t>(bin);
  h = (h * 0x9E3779B97F4A7C15ull) >> 53;  // 11 bits
  auto& seen = contexts_[h % kContextTable];
  double context = seen == 0 ? 1.0 : seen == 1 ? 0.5 : 0.0;
  if (seen < 255) ++seen;
  prev_bin_[0] = prev_bin_[1];
  prev_bin_[1] = prev_bin_[2];
  prev_bin_[2] = bin;

  // Level: recent mean against the long-term distribution.
  recent_[n_ % static_cast<std::uint64_t>(p.short_window)] = x;
  double short_mean = 0;
  for (int i = 0; i < p.short_window; ++i) short_mean += recent_[static_cast<std::size_t>(i)];
  short_mean /= p.short_window;
  double sd = std::sqrt(slow_var_) + 1e-9 + 1e-3 * range;
  double level = std::min(1.0, std::abs(short_mean - slow_mean_) / sd / 6.0);

  min_ = std::min(min_, x);
  max_ = std::max(max_, x);
  double d = x - slow_mean_;
  slow_mean_ += p.slow_alpha * d;
  slow_var_ = (1 - p.slow_alpha) * (slow_var_ + p.slow_alpha * d * d);
  fast_mean_ += p.fast_alpha * (x - fast_mean_);

  double wsum = p.w_spatial + p.w_context + p.w_level;
  return wsum > 0 ? (p.w_spatial * spatial + p.w_context * context + p.w_level * level) / wsum : 0;
}

double NabDetector::score(double value) {
  if (!std::isfinite(value)) return 0;
  const NabParams& p = *p_;
  double raw = raw_score(value);
  ++n_;
  // Anomaly likelihood (after HTM): how unusual is the recent average raw score against the
  // long-run distribution of raw scores?
  auto k = static_cast<std::size_t>(p.likelihood_short);
  std::size_t slot = n_ % k;
  raw_sum_ += raw - raw_ring_[slot];
  raw_ring_[slot] = static_cast<float>(raw);
  double avg = raw_sum_ / static_cast<double>(std::min<std::uint64_t>(n_, k));
  double z = (avg - lk_mean_) / std::sqrt(lk_var_ + 1e-6);
  double likelihood = 1.0 - q_tail(z);
  double d = raw - lk_mean_;
  double a = n_ < 100 ? 1.0 / static_cast<double>(n_) : p.likelihood_alpha;
  lk_mean_ += a * d;
  lk_var_ = (1 - a) * (lk_var_ + a * d * d);
  if (n_ < static_cast<std::uint64_t>(p.learning_period)) return 0;
  // Log scale spreads the interesting end (0.999 vs 0.99999) over [0,1] like HTM's log-likelihood.
  double s = std::log(1.0000000001 - likelihood) / std::log(1e-10);
  s = std::clamp(s, 0.0, 1.0);
  if (mute_ > 0) {
    --mute_;
    return 0;
  }
  if (p.suppress > 0 && s >= p.suppress_level) mute_ = p.suppress;
  return s;
}

}  // namespace selfheal::detector
