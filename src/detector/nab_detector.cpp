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
  p.w_shape = num(j, "w_shape", p.w_shape, 0, 10);
  p.shape_len = static_cast<int>(num(j, "shape_len", p.shape_len, 2, NabDetector::kShapeMax));
  p.value_margin = num(j, "value_margin", p.value_margin, 0, 10);
  p.extreme_decay = num(j, "extreme_decay", p.extreme_decay, 0, 0.5);
  p.record_age = static_cast<int>(num(j, "record_age", p.record_age, 0, 1e6));
  p.shape_stride = static_cast<int>(num(j, "shape_stride", p.shape_stride, 1, 1e6));
  p.w_ctx = num(j, "w_ctx", p.w_ctx, 0, 10);
  p.ctx_bins = static_cast<int>(num(j, "ctx_bins", p.ctx_bins, 2, 64));
  p.ctx_order = static_cast<int>(num(j, "ctx_order", p.ctx_order, 1, 8));
  p.ctx_learn = static_cast<int>(num(j, "ctx_learn", p.ctx_learn, 2, 1e6));
  p.ctx_start = static_cast<int>(num(j, "ctx_start", p.ctx_learn, 0, 1e6));
  p.ctx_quiet = static_cast<int>(num(j, "ctx_quiet", p.ctx_quiet, 0, 1e6));
  p.ctx_margin = num(j, "ctx_margin", p.ctx_margin, 0, 10);
  p.ctx_tod = static_cast<int>(num(j, "ctx_tod", p.ctx_tod, 0, 24));
  if (p.ctx_tod > 0 && 24 % p.ctx_tod != 0) throw std::runtime_error("model.ctx_tod: must divide 24 (hours per bucket)");
  p.w_tod = num(j, "w_tod", p.w_tod, 0, 10);
  p.tod_quiet = static_cast<int>(num(j, "tod_quiet", p.tod_quiet, 1, 1e6));
  p.slow_every = static_cast<int>(num(j, "slow_every", p.slow_every, 0, 1e6));
  p.slow_order = static_cast<int>(num(j, "slow_order", p.slow_order, 1, 8));
  p.w_slow = num(j, "w_slow", p.w_slow, 0, 10);
  p.slow_quiet = static_cast<int>(num(j, "slow_quiet", p.slow_quiet, 1, 1e6));
  p.w_spike = num(j, "w_spike", p.w_spike, 0, 10);
  p.spike_r0 = num(j, "spike_r0", p.spike_r0, 0, 10);
  p.spike_span = num(j, "spike_span", p.spike_span, 0.01, 10);
  p.spike_quiet = static_cast<int>(num(j, "spike_quiet", p.spike_quiet, 1, 1e6));
  p.dev_alpha = num(j, "dev_alpha", p.dev_alpha, 1e-4, 1);
  p.spike_from = static_cast<int>(num(j, "spike_from", p.spike_from, 0, 1e9));
  p.spike_until = static_cast<int>(num(j, "spike_until", p.spike_until, 0, 1e9));
  p.confirm = static_cast<int>(num(j, "confirm", p.confirm, 0, 1e6));
  return p;
}

nlohmann::json NabParams::to_json() const {
  return {{"name", name}, {"version", version}, {"kind", "nab-ensemble"}, {"short_window", short_window},
          {"long_window", long_window}, {"record_decay", record_decay}, {"warmup", warmup},
          {"suppress", suppress}, {"suppress_level", suppress_level}, {"w_value", w_value}, {"w_jump", w_jump},
          {"w_level", w_level}, {"w_shape", w_shape},
          {"shape_len", shape_len}, {"shape_stride", shape_stride}, {"record_age", record_age}, {"extreme_decay", extreme_decay}, {"value_margin", value_margin},
          {"w_ctx", w_ctx}, {"ctx_bins", ctx_bins}, {"ctx_order", ctx_order}, {"ctx_learn", ctx_learn}, {"ctx_start", ctx_start},
          {"ctx_quiet", ctx_quiet}, {"ctx_margin", ctx_margin}, {"ctx_tod", ctx_tod}, {"w_tod", w_tod}, {"tod_quiet", tod_quiet},
          {"slow_every", slow_every}, {"slow_order", slow_order}, {"w_slow", w_slow}, {"slow_quiet", slow_quiet},
          {"w_spike", w_spike}, {"spike_r0", spike_r0}, {"spike_span", spike_span}, {"spike_quiet", spike_quiet},
          {"dev_alpha", dev_alpha}, {"spike_from", spike_from}, {"spike_until", spike_until}, {"confirm", confirm}};
}

double NabDetector::score(double x, std::int64_t ts) {
  if (!std::isfinite(x)) return 0;
  const NabParams& p = *p_;
  auto at = [&](std::uint64_t back) { return ring_[(n_ - back) % kRing]; };  // back >= 1: a past value
  if (n_ == 0) { min_ = max_ = x; dev_mean_ = x; }
  parts_ = Parts{};
  bool novelty = false;  // any context novelty at this point (scored or still learning)
  {
    // Magnitude: how far x is from a robust recent baseline, in recent spreads, and how rare such a
    // deviation has been in this series so far (a log2 histogram of every past deviation).
    const double z = std::abs(x - dev_mean_) / (dev_spread_ + 1e-3 * (max_ - min_) + 1e-12);
    const int b = std::clamp(static_cast<int>(std::floor(4.0 * std::log2(z + 1e-9))) + 16, 0, kDevBins - 1);
    std::uint32_t tail = 0;
    for (int k = b; k < kDevBins; ++k) tail += dev_hist_[k];
    parts_.rarity = -std::log10((tail + 1.0) / (dev_count_ + 1.0));
    ++dev_hist_[b];
    ++dev_count_;
    const double a = p.dev_alpha;
    const double step = std::clamp(x - dev_mean_, -4 * dev_spread_ - 1e-12, 4 * dev_spread_ + 1e-12);
    dev_spread_ += a * (std::abs(x - dev_mean_) - dev_spread_);
    dev_mean_ += a * (n_ < 20 ? x - dev_mean_ : step);
  }

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
    }
    // Shape novelty: distance from the latest sub-sequence to its nearest neighbour among a
    // reservoir of past sub-sequences (values scaled by the running range).
    const std::uint64_t L = static_cast<std::uint64_t>(p.shape_len);
    if (p.w_shape > 0 && have + 1 >= L && max_ > min_) {
      const double inv = 1.0 / (max_ - min_);
      float cur[kShapeMax];
      cur[0] = static_cast<float>((x - min_) * inv);
      for (std::uint64_t k = 1; k < L; ++k) cur[k] = static_cast<float>((at(k) - min_) * inv);
      if (shapes_used_ > 0) {
        float best_d = 1e30f;
        for (int s = 0; s < shapes_used_; ++s) {
          const float* sh = &shapes_[static_cast<std::size_t>(s) * kShapeMax];
          float acc = 0;
          for (std::uint64_t k = 0; k < L; ++k) { float e = cur[k] - sh[k]; acc += e * e; }
          best_d = std::min(best_d, acc);
        }
        d[4] = std::sqrt(static_cast<double>(best_d));
      }
      if (n_ % static_cast<std::uint64_t>(p.shape_stride) == 0) {
        int slot;
        if (shapes_used_ < kShapes) slot = shapes_used_++;
        else {
          lcg_ = lcg_ * 6364136223846793005ull + 1442695040888963407ull;
          slot = static_cast<int>((lcg_ >> 33) % kShapes);  // deterministic random replacement
        }
        std::copy(cur, cur + L, &shapes_[static_cast<std::size_t>(slot) * kShapeMax]);
      }
    }
  }
  // Context novelty (after CAD OSE): has this sequence of quantized values ever been seen? The grid
  // follows the running range during the first ctx_learn points and is then fixed, so learned
  // sequences keep their meaning; values outside it fall in one bin below and one above.
  double ctx_score = 0;
  if (p.w_ctx > 0) {
    if (n_ < static_cast<std::uint64_t>(p.ctx_learn)) {
      const double lo = std::min(min_, x), hi = std::max(max_, x), pad = p.ctx_margin * (hi - lo);
      grid_lo_ = lo - pad;
      grid_hi_ = hi + pad;
    }
    auto bin_of = [&](double v) {
      const int B = p.ctx_bins;
      if (grid_hi_ <= grid_lo_) return v > grid_hi_ ? B + 1 : (v < grid_lo_ ? 0 : 1);
      if (v < grid_lo_) return 0;
      if (v > grid_hi_) return B + 1;
      return 1 + std::min(B - 1, static_cast<int>(B * (v - grid_lo_) / (grid_hi_ - grid_lo_)));
    };
    const int bin = bin_of(x);
    for (int k = static_cast<int>(ctx_hist_.size()) - 1; k > 0; --k) ctx_hist_[k] = ctx_hist_[k - 1];
    ctx_hist_[0] = static_cast<std::uint8_t>(bin);
    // Every order 1..ctx_order: the n-gram of the latest bins, hashed into one bitset.
    int novel = 0, orders = 0;
    std::uint64_t h = 1469598103934665603ull;
    for (int k = 0; k < p.ctx_order && static_cast<std::uint64_t>(k) <= n_; ++k) {
      h = (h ^ ctx_hist_[k]) * 1099511628211ull;
      const std::uint32_t bit = static_cast<std::uint32_t>((h ^ (h >> 29)) % kCtxBits);
      if (!(ctx_seen_[bit / 64] >> (bit % 64) & 1u)) ++novel;
      ctx_seen_[bit / 64] |= std::uint64_t{1} << (bit % 64);
      ++orders;
    }
    // Time of day: the pair (this bin, hour bucket) never seen before. Many NAB series and most
    // service metrics follow a daily cycle; a level that is normal at 3 pm can be news at 3 am.
    if (p.ctx_tod > 0 && ts >= 0) {
      const int bucket = static_cast<int>((ts % 86400) / 3600) / p.ctx_tod;
      std::uint64_t th = 1469598103934665603ull ^ 0x7f4a7c15u ^ (static_cast<std::uint64_t>(bucket) * 131);
      th = ((th * 1099511628211ull) ^ ctx_hist_[0]) * 1099511628211ull;
      const std::uint32_t bit = static_cast<std::uint32_t>((th ^ (th >> 29)) % kCtxBits);
      const bool tnovel = !(ctx_seen_[bit / 64] >> (bit % 64) & 1u);
      ctx_seen_[bit / 64] |= std::uint64_t{1} << (bit % 64);
      if (tnovel) {
        if (n_ >= static_cast<std::uint64_t>(p.ctx_start))
          ctx_score = parts_.tod = p.w_tod * std::min(1.0, static_cast<double>(since_tod_novel_) / std::max(1, p.tod_quiet));
        since_tod_novel_ = 0;
        novelty = true;
      } else if (since_tod_novel_ < 0xffffffffu) {
        ++since_tod_novel_;
      }
    }
    // Slow context: every slow_every points, the block's mean joins a sequence of its own; an
    // order-slow_order sequence of block bins never seen before adds w_slow (scaled by its quiet).
    if (p.slow_every > 0 && p.w_slow > 0) {
      slow_sum_ += x;
      if (++slow_count_ == static_cast<std::uint32_t>(p.slow_every)) {
        const int sbin = bin_of(slow_sum_ / p.slow_every);
        slow_sum_ = 0;
        slow_count_ = 0;
        for (int k = static_cast<int>(slow_hist_.size()) - 1; k > 0; --k) slow_hist_[k] = slow_hist_[k - 1];
        slow_hist_[0] = static_cast<std::uint8_t>(sbin);
        if (++slow_steps_ >= static_cast<std::uint32_t>(p.slow_order)) {
          std::uint64_t sh = 1469598103934665603ull ^ 0x3c6ef372u;
          for (int k = 0; k < p.slow_order; ++k) sh = (sh ^ slow_hist_[k]) * 1099511628211ull;
          const std::uint32_t bit = static_cast<std::uint32_t>((sh ^ (sh >> 29)) % kCtxBits);
          const bool snovel = !(ctx_seen_[bit / 64] >> (bit % 64) & 1u);
          ctx_seen_[bit / 64] |= std::uint64_t{1} << (bit % 64);
          if (snovel) {
            if (n_ >= static_cast<std::uint64_t>(p.ctx_start))
              ctx_score += parts_.slow = p.w_slow * std::min(1.0, static_cast<double>(since_slow_novel_) / p.slow_quiet);
            since_slow_novel_ = 0;
            novelty = true;
          } else if (since_slow_novel_ < 0xffffffffu) {
            ++since_slow_novel_;
          }
        }
      }
    }
    // Sequence score, added to the time-of-day one: the share of orders that are novel, scaled by how
    // long no novelty was seen (a novelty after a long familiar stretch is a surprise; one in a burst
    // of them is not news).
    if (novel > 0) {
      if (n_ >= static_cast<std::uint64_t>(p.ctx_start))
        ctx_score += parts_.seq = p.w_ctx * static_cast<double>(novel) / orders *
                    std::min(1.0, static_cast<double>(since_novel_) / std::max(1, p.ctx_quiet));
      since_novel_ = 0;
      novelty = true;
    } else if (since_novel_ < 0xffffffffu) {
      ++since_novel_;
    }
  }
  // Before context novelty may score (ctx_start), the grid is still moving; this channel covers
  // those early points (NAB has windows soon after its probationary period).
  if (p.w_spike > 0 && n_ >= static_cast<std::uint64_t>(p.spike_from) && n_ < static_cast<std::uint64_t>(p.spike_until)) {
    const double excess = std::clamp((parts_.rarity - p.spike_r0) / p.spike_span, 0.0, 1.0);
    if (excess > 0) {
      parts_.spike = p.w_spike * excess * std::min(1.0, static_cast<double>(since_spike_) / p.spike_quiet);
      since_spike_ = 0;
    } else if (since_spike_ < 0xffffffffu) {
      ++since_spike_;
    }
  }
  if (p.confirm > 0) {
    // Confirmation: a context score is held back and reported (at full value) only when another
    // context novelty follows within `confirm` points; a lone new transition between familiar states,
    // after which the series is back on known paths, is dropped. Real anomalies change more than one
    // transition, noise blips mostly do not: on NAB (v1.6.0) switching this off raises the false
    // positives at the chosen threshold from 147 to 308 (docs/nab-scores.md).
    double out = 0;
    if (pending_left_ > 0) {
      if (novelty) { out = pending_score_; pending_left_ = 0; }
      else --pending_left_;
    } else if (ctx_score > 0) {
      pending_score_ = ctx_score;
      pending_left_ = static_cast<std::uint32_t>(p.confirm);
    }
    ctx_score = out;
  }
  // The early deviation score is not held back: it is rare by construction (spike_r0) and quiet-scaled.
  double best = std::min(1.0, ctx_score + parts_.spike);
  const double w[kChannels] = {p.w_value, p.w_value, p.w_jump, p.w_level, p.w_shape};
  if (n_ >= static_cast<std::uint64_t>(p.warmup)) {
    for (int c = 0; c < kChannels; ++c) {
      if (w[c] <= 0 || d[c] <= 0) continue;
      double ratio = record_[c] > 0 ? d[c] / record_[c] : 2.0;
      // Tiers: a value beyond everything seen scores in [0.5, 1]; the other channels in [0, 0.5),
      // reaching 0.5 * weight when they beat their own record.
      double s = c < 2 ? 0.5 + 0.5 * std::min(1.0, ratio) : 0.5 * std::min(1.0, ratio * ratio) * w[c];
      if (c >= 2 && p.record_age > 0) s *= std::min(1.0, static_cast<double>(record_age_[c]) / p.record_age);
      if (c < 2) s = std::min(1.0, s * w[c]);
      if (c < 2 && d[c] < p.value_margin * (max_ - min_)) s = 0.35 * std::min(1.0, ratio);
      if (c < 2) parts_.value = std::max(parts_.value, s);
      best = std::max(best, s);
    }
  }
  for (int c = 0; c < kChannels; ++c) {
    record_[c] *= (1.0 - p.record_decay);
    if (d[c] > record_[c]) { record_[c] = d[c]; record_age_[c] = 0; }
    else if (record_age_[c] < 0xffffffffu) ++record_age_[c];
  }
  min_ = std::min(min_, x);
  max_ = std::max(max_, x);
  if (p.extreme_decay > 0) {
    // Forget old extremes slowly, so "beyond anything seen lately" can fire again after a regime.
    min_ += p.extreme_decay * (x - min_);
    max_ -= p.extreme_decay * (max_ - x);
  }
  ring_[n_ % kRing] = x;
  ++n_;
  if (mute_ > 0) { --mute_; return 0; }
  if (p.suppress > 0 && best >= p.suppress_level) mute_ = p.suppress;
  return best;
}

}  // namespace selfheal::detector
