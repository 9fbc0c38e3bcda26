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
  double record_decay = 0.0;     // per point: old records fade so regimes can change
  int warmup = 64;               // points before records may fire
  int suppress = 30;             // points muted after a score at/above suppress_level
  double suppress_level = 0.5;
  double w_value = 1.0, w_jump = 0.0, w_level = 0.0, w_shape = 0.0;
  int shape_len = 8;             // points in a sub-sequence compared with past sub-sequences
  int shape_stride = 32;         // keep every n-th sub-sequence in the reservoir
  double extreme_decay = 0;      // per point, the running min/max relax toward the recent level
  double value_margin = 0.004;   // a new extreme smaller than this fraction of the range scores in a low tier
  int record_age = 2000;         // a secondary channel counts fully only when its record stood this long
  // Context novelty (after CAD OSE): the value quantized on a grid fixed after ctx_learn points; a
  // sequence of 1..ctx_order bins never seen before is novel. Weight 0 disables the channel.
  double w_ctx = 1.2;
  int ctx_bins = 7;
  int ctx_order = 2;
  int ctx_learn = 900;           // points over which the grid follows the running range
  int ctx_start = 500;           // points before context novelty may score (a model file without it: ctx_learn)
  int ctx_quiet = 500;           // a novelty scores fully only after this many points without one
  double ctx_margin = 0.0;       // grid widened by this fraction of the learned range on each side
  // Time-of-day novelty: a value bin never seen at this hour of the day (buckets of ctx_tod hours,
  // UTC of the point's timestamp). 0 disables it; so does scoring without timestamps.
  int ctx_tod = 1;
  double w_tod = 0.8;
  int tod_quiet = 400;           // a time-of-day novelty scores fully only after this many points without one
  // Slow context (the downsampling lesson of ARTime): the same sequence novelty over the means of
  // `slow_every` points, so a changed shape longer than a few points is seen. 0 disables it.
  int slow_every = 8;
  int slow_order = 2;
  double w_slow = 0.6;
  int slow_quiet = 200;          // in slow steps
  // Rare local deviation (an extreme-value view): |x - robust recent baseline| in recent spreads, ranked
  // against every deviation this series has shown; rarity = -log10(share of past points at least as far).
  // Scores w_spike * clamp((rarity - spike_r0) / spike_span) * quiet, only for points in
  // [spike_from, spike_until): the early stretch where context novelty cannot score yet. 0 disables it.
  double w_spike = 1.0;
  double spike_r0 = 2.0;
  double spike_span = 0.3;
  int spike_quiet = 100;
  double dev_alpha = 0.05;
  int spike_from = 150;
  int spike_until = 500;
  // Confirmation: context scores are reported only when another context novelty follows within this
  // many points (the report comes at that second novelty). 0 reports every novelty at once.
  int confirm = 30;

  static NabParams from_json(const nlohmann::json& j);  // throws std::runtime_error naming the field
  nlohmann::json to_json() const;
};

// Per-series state: fixed size (no allocation), about 3.3 KB (bench_detector reports it; limit 4 KB).
class NabDetector {
 public:
  static constexpr int kChannels = 5;  // value high, value low, jump, level shift, shape novelty
  static constexpr int kRing = 64;
  static constexpr int kShapes = 40;     // reservoir of past sub-sequences
  static constexpr int kShapeMax = 12;

  explicit NabDetector(const NabParams& p) : p_(&p) {}
  // Scores one point in [0,1] using only the past and this point; NaN values score 0 and are ignored.
  // `ts` (seconds since the epoch) feeds the time-of-day context; a negative ts means "unknown".
  double score(double value, std::int64_t ts);
  double score(double value) { return score(value, -1); }
  // What drove the latest score (for explanations and the experiments in docs/nab-scores.md).
  struct Parts {
    double value = 0, seq = 0, tod = 0, slow = 0, spike = 0;  // channel contributions before shaping
    double rarity = 0;  // -log10 of the share of past points whose robust deviation reached this one's
  };
  const Parts& last_parts() const { return parts_; }

 private:
  const NabParams* p_;
  std::uint64_t n_ = 0;
  std::array<double, kRing> ring_{};  // last values
  std::array<double, kChannels> record_{};
  std::array<std::uint32_t, kChannels> record_age_{};
  double min_ = 0, max_ = 0;
  std::array<float, kShapes * kShapeMax> shapes_{};
  int shapes_used_ = 0;
  std::uint64_t lcg_ = 0x9E3779B97F4A7C15ull;
  int mute_ = 0;
  // Context novelty state.
  static constexpr int kCtxBits = 4096;
  std::array<std::uint64_t, kCtxBits / 64> ctx_seen_{};
  std::array<std::uint8_t, 8> ctx_hist_{};  // last bins, newest first
  double grid_lo_ = 0, grid_hi_ = 0;
  std::uint32_t since_novel_ = 0;
  std::uint32_t since_tod_novel_ = 0;
  // Slow context state: the running sum of the current block, its count, and the last block bins.
  double slow_sum_ = 0;
  std::uint32_t slow_count_ = 0;
  std::uint32_t slow_steps_ = 0;
  std::uint32_t since_slow_novel_ = 0;
  std::array<std::uint8_t, 8> slow_hist_{};
  // Magnitude: robust recent baseline and spread, and a log2 histogram of the deviations seen.
  static constexpr int kDevBins = 40;
  double dev_mean_ = 0, dev_spread_ = 0;
  std::array<std::uint32_t, kDevBins> dev_hist_{};
  std::uint32_t dev_count_ = 0;
  std::uint32_t since_spike_ = 0;
  // Confirmation: the held-back context score and the points left to confirm it.
  double pending_score_ = 0;
  std::uint32_t pending_left_ = 0;
  Parts parts_{};
};

}  // namespace selfheal::detector
