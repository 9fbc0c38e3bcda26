// The univariate streaming detector the NAB harness runs (and that scores single series anywhere):
// an ensemble of cheap causal models whose surprise is turned into a calibrated anomaly likelihood.
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
  int short_window = 5;          // points averaged for the "now" estimate
  double slow_alpha = 0.002;     // long-term mean/variance of the value
  double fast_alpha = 0.05;      // recent level
  int bins = 24;                 // quantisation of the value (online min/max) for context novelty
  double spatial_margin = 0.05;  // exceeding the running range by this fraction is a spatial novelty
  int likelihood_short = 10;     // raw-score average compared with its long-term distribution
  double likelihood_alpha = 0.001;
  int learning_period = 300;     // points before scores may be non-zero
  int suppress = 0;              // points muted after a high score
  double suppress_level = 0.9;
  double w_spatial = 1.0, w_context = 1.0, w_level = 1.0;

  static NabParams from_json(const nlohmann::json& j);  // throws std::runtime_error naming the field
  nlohmann::json to_json() const;
};

// Per-series state: a fixed-size block (no allocation), well under 4 KB.
class NabDetector {
 public:
  explicit NabDetector(const NabParams& p) : p_(&p) {}
  // Scores one point in [0,1] using only the past and this point; NaN values score 0 and are ignored.
  double score(double value);
  static constexpr std::size_t kContextTable = 2048;

 private:
  double raw_score(double x);

  const NabParams* p_;
  std::uint64_t n_ = 0;
  double min_ = 0, max_ = 0;
  double slow_mean_ = 0, slow_var_ = 0;
  double fast_mean_ = 0;
  std::array<double, 16> recent_{};  // ring of the last values (short window)
  std::array<float, 32> raw_ring_{}; // ring of raw scores (likelihood short window)
  double raw_sum_ = 0;
  double lk_mean_ = 0, lk_var_ = 0;
  int prev_bin_[3] = {0, 0, 0};
  std::array<std::uint8_t, kContextTable> contexts_{};  // seen-counts of (context -> bin) transitions
  int mute_ = 0;
};

}  // namespace selfheal::detector
