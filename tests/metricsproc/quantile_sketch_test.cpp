// The raw-value quantile sketch: relative error at most 1% on p95 (and p50/p99) against the exact
// order statistic on several distributions, exact mergeability, and bounded buckets.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "metricsproc/quantile_sketch.hpp"

namespace selfheal {
namespace {

double exact_quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

template <typename Draw>
std::vector<double> draw(std::size_t n, std::uint32_t seed, Draw d) {
  std::mt19937_64 rng(seed);
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

void expect_within_one_percent(const std::vector<double>& values, const char* what) {
  QuantileSketch sketch;
  for (double x : values) sketch.add(x);
  for (double q : {0.5, 0.95, 0.99}) {
    const double exact = exact_quantile(values, q);
    const double est = sketch.quantile(q);
    EXPECT_LE(std::fabs(est - exact) / exact, 0.01) << what << " q=" << q << " exact=" << exact << " est=" << est;
  }
}

TEST(QuantileSketch, P95WithinOnePercentOnSeveralDistributions) {
  expect_within_one_percent(draw(100'000, 1, [](auto& r) { return std::uniform_real_distribution<double>(0.001, 2.0)(r); }), "uniform");
  expect_within_one_percent(draw(100'000, 2, [](auto& r) { return std::lognormal_distribution<double>(-3.0, 1.2)(r); }), "lognormal");
  expect_within_one_percent(draw(100'000, 3, [](auto& r) { return std::exponential_distribution<double>(20.0)(r) + 1e-6; }), "exponential");
  expect_within_one_percent(draw(100'000, 4, [](auto& r) {
    return 0.01 / std::pow(std::uniform_real_distribution<double>(1e-9, 1.0)(r), 1.0 / 1.5); }), "pareto");
  expect_within_one_percent(draw(100'000, 5, [](auto& r) {
    return std::bernoulli_distribution(0.9)(r) ? std::normal_distribution<double>(0.05, 0.005)(r)
                                               : std::normal_distribution<double>(2.0, 0.2)(r); }), "bimodal");
}

TEST(QuantileSketch, MergedSketchAnswersLikeOneSketchOfEverything) {
  auto a = draw(20'000, 7, [](auto& r) { return std::lognormal_distribution<double>(0.0, 1.0)(r); });
  auto b = draw(30'000, 8, [](auto& r) { return std::lognormal_distribution<double>(2.0, 0.5)(r); });
  QuantileSketch sa, sb, all;
  for (double x : a) { sa.add(x); all.add(x); }
  for (double x : b) { sb.add(x); all.add(x); }
  ASSERT_TRUE(sa.merge(sb));
  EXPECT_EQ(sa.count(), 50'000u);
  std::vector<double> both = a;
  both.insert(both.end(), b.begin(), b.end());
  for (double q : {0.1, 0.5, 0.95, 0.99}) {
    EXPECT_DOUBLE_EQ(sa.quantile(q), all.quantile(q));
    EXPECT_LE(std::fabs(sa.quantile(q) - exact_quantile(both, q)) / exact_quantile(both, q), 0.01);
  }
  QuantileSketch coarse(0.02);
  EXPECT_FALSE(sa.merge(coarse));  // different accuracies do not mix
}

TEST(QuantileSketch, BoundedBucketsKeepHighQuantilesAccurate) {
  // 1e-8 .. 1e8: far more decades than 256 buckets cover; the lowest are folded.
  auto v = draw(50'000, 9, [](auto& r) { return std::pow(10.0, std::uniform_real_distribution<double>(-8, 8)(r)); });
  QuantileSketch sketch(0.005, 256);
  for (double x : v) sketch.add(x);
  EXPECT_LE(sketch.memory_bytes(), sizeof(QuantileSketch) + 2 * 256 * sizeof(std::uint64_t));
  EXPECT_LE(std::fabs(sketch.quantile(0.95) - exact_quantile(v, 0.95)) / exact_quantile(v, 0.95), 0.01);
}

TEST(QuantileSketch, EmptyZeroAndClear) {
  QuantileSketch s;
  EXPECT_TRUE(std::isnan(s.quantile(0.5)));
  s.add(0.0, 10);
  s.add(5.0);
  EXPECT_EQ(s.quantile(0.5), 0.0);
  EXPECT_NEAR(s.quantile(1.0), 5.0, 0.05);
  s.clear();
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(std::isnan(s.quantile(0.99)));
}

}  // namespace
}  // namespace selfheal
