// The univariate streaming detector the NAB harness runs (and that scores single series anywhere):
// several cheap causal "deviation channels", each judged against its own record so far (a decaying
// running maximum), which calibrates the score across series of any scale and noise level without
// looking ahead. See src/detector/README.md for the models and docs/nab-scores.md for the figures.
//
// Threading: plain value type; one instance per series, used by one thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace selfheal::detector {

struct NabParams {
  std::string name = "nab-ensemble";
  std::string version = "builtin";
  int short_window = 4;          // points averaged for "now" (level channel)
  int long_window = 48;          // points the level channel compares "now" against
  double record_decay = 0.0005;  // per point: old records fade so regimes can change
  int warmup = 64;               // points before records may fire
  int suppress = 0;              // points muted after a score at/above suppress_level
  double suppress_level = 0.9;
  double w_value = 1.0, w_jump = 1.0, w_level = 1.0, w_vol = 1.0;

  static NabParams from_json(const nlohmann::json& j);  // throws std::runtime_error naming the field
  nlohmann::json to_json() const;
};

// Per-series state: fixed size (no allocation), about 1 KB.
class NabDetector {
 public:
  static constexpr int kChannels = 5;  // value high, value low, jump, level shift, volatility
  static constexpr int kRing = 64;

  explicit NabDetector(const NabParams& p) : p_(&p) {}
  // Scores one point in [0,1] using only the past and this point; NaN values score 0 and are ignored.
  double score(double value);

 private:
  const NabParams* p_;
  std::uint64_t n_ = 0;
  std::array<double, kRing> ring_{};  // last values
  std::array<double, kChannels> record_{};
  double min_ = 0, max_ = 0;
  double vol_mean_ = 0;
  int mute_ = 0;
};

}  // namespace selfheal::detector
