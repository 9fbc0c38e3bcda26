// The platform's streaming model for feature windows: one robust baseline per series
// ("service[/pod]:feature"), scored by how far a window's value sits from what the series usually
// does, in the directions that matter for that feature.
//
// Threading: plain values, owned by the anomaly-detector service and touched by its thread only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace selfheal::detector {

// Which deviations of a feature mean trouble.
enum class Direction : std::uint8_t { Up, Down, Both };

// How one feature is scored. Floors keep a flat, noiseless series from turning tiny wiggles into
// huge z-scores: the spread used is max(robust spread, abs_floor, rel_floor * |baseline|).
struct FeatureRule {
  std::string feature;
  Direction direction = Direction::Up;
  double abs_floor = 0.0;
  double rel_floor = 0.05;
};

// Parameters of the robust-baseline model; these are what a model artifact file holds.
struct BaselineParams {
  std::string name = "robust-baseline";
  std::string version = "builtin";
  double alpha = 0.02;            // EWMA weight of a normal window (~50 windows of memory)
  double anomalous_alpha = 0.002; // weight while anomalous: a persistent fault keeps scoring, a new normal is learned slowly
  int warmup = 30;                // windows before a series may score
  double z_mid = 7.0;             // z at which the score is 0.5
  double z_scale = 1.0;           // logistic slope: score 0.9 at z_mid + 2.2 * z_scale
  double default_rel_floor = 0.05;
  double default_abs_floor = 1e-9;
  double tte_horizon_s = 1800.0;  // memory predicted to hit the limit within this scores high
  std::vector<FeatureRule> rules;  // features not listed are not scored

  const FeatureRule* rule(std::string_view feature) const;
  static BaselineParams builtin();
  // Throws std::runtime_error naming the field and the problem.
  static BaselineParams from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
};

// Learned state of one series: 40 bytes, so a cluster of thousands of series stays small.
struct BaselineState {
  double mean = 0;       // EWMA of the value
  double spread = 0;     // EWMA of |value - mean| (mean absolute deviation; robust-ish and cheap)
  std::uint32_t count = 0;
  std::uint32_t anomalous_run = 0;  // consecutive windows scored at/above the alert threshold
};

struct Score {
  double score = 0;     // [0,1]
  double z = 0;         // signed deviation in spreads
  double expected = 0;  // the baseline before this window
};

// Scores `value` against `state` under `rule`, then learns from it (the score uses only the past).
Score score_and_update(const BaselineParams& p, const FeatureRule& rule, BaselineState& state, double value,
                       double alert_threshold);

// Logistic map of a one-sided z-score to [0,1].
double z_to_score(const BaselineParams& p, double z);

// Seconds until memory reaches its limit at the current slope; NaN when not rising.
double time_to_exhaustion_s(double utilization_max, double memory_bytes_max, double slope_bytes_per_s);

}  // namespace selfheal::detector
