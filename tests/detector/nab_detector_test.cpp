#include <gtest/gtest.h>

#include <cmath>
#include <random>

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
