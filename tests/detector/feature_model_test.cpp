#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "contracts/feature_names.hpp"
#include "detector/feature_model.hpp"

using namespace selfheal::detector;
namespace fn = selfheal::feature_names;

namespace {
double feed_noise(const BaselineParams& p, const FeatureRule& r, BaselineState& st, double mean, double sd, int n,
                  std::mt19937_64& rng) {
  std::normal_distribution<double> noise(mean, sd);
  double worst = 0;
  for (int i = 0; i < n; ++i) worst = std::max(worst, score_and_update(p, r, st, noise(rng), 0.9).score);
  return worst;
}
}  // namespace

TEST(FeatureModel, NoisyStationarySeriesStaysQuietAndSpikeScoresHigh) {
  auto p = BaselineParams::builtin();
  const FeatureRule* r = p.rule(fn::kLatencyP95);
  ASSERT_NE(r, nullptr);
  BaselineState st;
  std::mt19937_64 rng(7);
  double worst = feed_noise(p, *r, st, 0.2, 0.01, 5000, rng);
  EXPECT_LT(worst, 0.5);
  Score s = score_and_update(p, *r, st, 0.6, 0.9);
  EXPECT_GE(s.score, 0.99);
  EXPECT_NEAR(s.expected, 0.2, 0.01);
  EXPECT_GT(s.z, 10);
}

TEST(FeatureModel, DirectionMatters) {
  auto p = BaselineParams::builtin();
  std::mt19937_64 rng(1);
  BaselineState lat, rps;
  feed_noise(p, *p.rule(fn::kLatencyP95), lat, 0.2, 0.01, 500, rng);
  feed_noise(p, *p.rule(fn::kRequestsPerS), rps, 100, 3, 500, rng);
  EXPECT_EQ(score_and_update(p, *p.rule(fn::kLatencyP95), lat, 0.01, 0.9).score, 0.0);  // faster is fine
  EXPECT_GE(score_and_update(p, *p.rule(fn::kRequestsPerS), rps, 10, 0.9).score, 0.9);  // traffic collapse
}

TEST(FeatureModel, NoScoreDuringWarmupAndPersistentFaultKeepsScoring) {
  auto p = BaselineParams::builtin();
  const FeatureRule* r = p.rule(fn::kErrorRatio);
  BaselineState st;
  for (int i = 0; i < p.warmup - 1; ++i) EXPECT_EQ(score_and_update(p, *r, st, i % 2 ? 0.0 : 0.5, 0.9).score, 0.0);
  std::mt19937_64 rng(3);
  feed_noise(p, *r, st, 0.001, 0.0005, 400, rng);
  int high = 0;
  for (int i = 0; i < 60; ++i) high += score_and_update(p, *r, st, 0.3, 0.9).score >= 0.9;
  EXPECT_EQ(high, 60);  // a fault that lasts ten minutes (10 s windows) is still reported at its end
}

TEST(FeatureModel, TimeToExhaustion) {
  // 900 MB used of a 1 GB limit, growing 1 MB/s: ~100 s left.
  double tte = time_to_exhaustion_s(0.9, 900e6, 1e6);
  EXPECT_NEAR(tte, 100.0, 0.5);
  EXPECT_TRUE(std::isnan(time_to_exhaustion_s(0.9, 900e6, -5)));
  EXPECT_TRUE(std::isnan(time_to_exhaustion_s(0.0, 900e6, 5)));
}

TEST(FeatureModel, ParamsRoundTripAndErrorsNameTheField) {
  auto p = BaselineParams::builtin();
  p.version = "3";
  p.alpha = 0.05;
  auto q = BaselineParams::from_json(p.to_json());
  EXPECT_EQ(q.version, "3");
  EXPECT_DOUBLE_EQ(q.alpha, 0.05);
  EXPECT_EQ(q.rules.size(), p.rules.size());
  auto bad = p.to_json();
  bad["alpha"] = "fast";
  try {
    BaselineParams::from_json(bad);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("alpha"), std::string::npos) << e.what();
  }
  auto bad_dir = p.to_json();
  bad_dir["features"]["errors_per_s"]["direction"] = "sideways";
  EXPECT_THROW(BaselineParams::from_json(bad_dir), std::runtime_error);
  auto no_version = p.to_json();
  no_version.erase("version");
  EXPECT_THROW(BaselineParams::from_json(no_version), std::runtime_error);
}
