#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <nlohmann/json.hpp>

#include "detector/nab_detector.hpp"

using namespace selfheal::detector;

TEST(NabDetector, StateIsSmallAndFixedSize) {
  EXPECT_LT(sizeof(NabDetector), 4096u);
}

TEST(NabDetector, StrictlyCausalAndDeterministic) {
  NabParams p;
  std::mt19937_64 rng(4);
  std::normal_distribution<double> n(10, 1);
  std::vector<double> xs(3000);
  for (auto& x : xs) x = n(rng);
  NabDetector a(p), b(p);
  std::vector<double> sa, sb;
  for (std::size_t i = 0; i < xs.size(); ++i) sa.push_back(a.score(xs[i]));
  // The same prefix followed by a completely different future scores the prefix identically.
  for (std::size_t i = 0; i < 1500; ++i) sb.push_back(b.score(xs[i]));
  for (std::size_t i = 0; i < 1500; ++i) ASSERT_EQ(sa[i], sb[i]) << i;
  for (double s : sa) {
    EXPECT_GE(s, 0.0);
    EXPECT_LE(s, 1.0);
  }
}

TEST(NabDetector, LevelShiftScoresAboveTheNoise) {
  NabParams p;
  NabDetector d(p);
  std::mt19937_64 rng(8);
  std::normal_distribution<double> n(100, 2);
  double noise_max = 0;
  for (int i = 0; i < 4000; ++i) {
    double s = d.score(n(rng));
    if (i > 1000) noise_max = std::max(noise_max, s);
  }
  double shift_max = 0;
  for (int i = 0; i < 20; ++i) shift_max = std::max(shift_max, d.score(n(rng) + 40));
  EXPECT_GT(shift_max, noise_max);
  EXPECT_GE(shift_max, 0.5);
}

TEST(NabDetector, MissingValuesScoreZeroAndDoNotPoisonState) {
  NabParams p;
  NabDetector with_nan(p), without(p);
  for (int i = 0; i < 500; ++i) {
    double x = std::sin(i * 0.05);
    EXPECT_EQ(with_nan.score(std::nan("")), 0.0);
    EXPECT_EQ(with_nan.score(x), without.score(x));
  }
}

// A daily-like cycle (period 48) that suddenly falls from its peak to its trough: every value stays
// inside the range seen before, so only the context channel can see that this transition never
// happened; it must score it above the shipped NAB threshold (0.511; a novel transition between
// familiar values scores w_ctx/2 = 0.6), while the same fall during the learning period scores nothing.
TEST(NabDetector, ContextNoveltyScoresAnUnseenTransitionInsideTheRange) {
  NabParams p;
  auto cycle = [](int i) { return 50.0 + 40.0 * std::sin(2 * M_PI * i / 48.0); };
  NabDetector d(p);
  double quiet_max = 0;
  int i = 0;
  for (; i < p.ctx_learn + 2000; ++i) {
    double s = d.score(cycle(i));
    if (i >= p.ctx_learn) quiet_max = std::max(quiet_max, s);
  }
  EXPECT_LT(quiet_max, 0.5) << "a familiar cycle must stay quiet after learning";
  while (cycle(i) < 89.0) d.score(cycle(i++));  // on to the peak
  const double fall = d.score(cycle(i) - 79.0);  // the trough right after the peak
  EXPECT_GE(fall, 0.55);
  EXPECT_GT(fall, quiet_max + 0.3);

  NabDetector early(p);
  double early_max = 0;
  int j = 0;
  for (; j < 200; ++j) early.score(cycle(j));
  while (cycle(j) < 89.0) early.score(cycle(j++));
  early_max = early.score(cycle(j) - 79.0);
  EXPECT_LT(early_max, 0.5) << "the learning period (ctx_learn points) must not alert on novelty";
}

TEST(NabDetector, ParamsRoundTripAndRefuseBadContextSettings) {
  NabParams p;
  p.version = "t";
  NabParams back = NabParams::from_json(p.to_json());
  EXPECT_EQ(back.ctx_bins, p.ctx_bins);
  EXPECT_EQ(back.ctx_order, p.ctx_order);
  EXPECT_EQ(back.ctx_learn, p.ctx_learn);
  EXPECT_DOUBLE_EQ(back.w_ctx, p.w_ctx);
  EXPECT_EQ(back.ctx_tod, p.ctx_tod);
  EXPECT_DOUBLE_EQ(back.w_tod, p.w_tod);
  EXPECT_EQ(back.tod_quiet, p.tod_quiet);
  EXPECT_EQ(back.slow_every, p.slow_every);
  EXPECT_EQ(back.slow_order, p.slow_order);
  EXPECT_DOUBLE_EQ(back.w_slow, p.w_slow);
  EXPECT_EQ(back.slow_quiet, p.slow_quiet);
  auto j = p.to_json();
  j["ctx_order"] = 9;
  try {
    NabParams::from_json(j);
    FAIL() << "ctx_order 9 must be refused";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("model.ctx_order"), std::string::npos) << e.what();
  }
  j = p.to_json();
  j["ctx_tod"] = 5;  // buckets must tile the day
  try {
    NabParams::from_json(j);
    FAIL() << "ctx_tod 5 must be refused";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("model.ctx_tod"), std::string::npos) << e.what();
  }
}

// Office-hours traffic (high 9-17 h UTC, low otherwise, one point per 5 minutes): after ten days,
// the familiar high level at 3 am is news only to the time-of-day context; without timestamps the
// same point is an ordinary low-to-high step and stays quiet.
TEST(NabDetector, TimeOfDayNoveltyScoresAFamiliarLevelAtAnUnusualHour) {
  NabParams p;
  const std::int64_t t0 = 1'700'000'000 - 1'700'000'000 % 86400;  // a midnight
  auto office = [](std::int64_t ts) {
    const int hour = static_cast<int>(ts % 86400 / 3600);
    return hour >= 9 && hour < 17 ? 100.0 : 10.0;
  };
  NabDetector with_time(p), without_time(p);
  std::int64_t ts = t0;
  double quiet_max = 0;
  for (int i = 0; i < 10 * 288; ++i, ts += 300) {
    double s = with_time.score(office(ts), ts);
    without_time.score(office(ts));
    if (i >= 3 * 288) quiet_max = std::max(quiet_max, s);
  }
  EXPECT_LT(quiet_max, 0.5) << "a familiar day must stay quiet";
  // ts is now midnight of day 11; step to 3 am, then the office level.
  for (; ts % 86400 < 3 * 3600; ts += 300) {
    with_time.score(office(ts), ts);
    without_time.score(office(ts));
  }
  EXPECT_GE(with_time.score(100.0, ts), 0.5);
  EXPECT_LT(without_time.score(100.0), 0.5);
}

// Two levels in a pattern whose 8-point means are always half way (LHLHLHLH, LLHHLHLH, ...): every
// raw transition is familiar, so only the slow context (sequences of 8-point means) can see a block
// that is mostly high (HHHHHHHL). With it the block scores above the NAB threshold; without, not.
TEST(NabDetector, SlowContextSeesAChangedShapeLongerThanAFewPoints) {
  const double L = 10, H = 20;
  const double pattern[16] = {L, H, L, H, L, H, L, H, L, L, H, H, L, H, L, H};
  const double odd_block[8] = {H, H, H, H, H, H, H, L};
  auto run = [&](const NabParams& p) {
    NabDetector d(p);
    for (int i = 0; i < 3200; ++i) d.score(pattern[i % 16]);
    double best = 0;
    for (double v : odd_block) best = std::max(best, d.score(v));
    return best;
  };
  NabParams with_slow;
  NabParams without_slow;
  without_slow.slow_every = 0;
  EXPECT_GE(run(with_slow), 0.5);
  EXPECT_LT(run(without_slow), 0.5);
}
