// Quantiles from cumulative histogram buckets, bucket validation and merging different layouts.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "metricsproc/histogram_quantile.hpp"

namespace selfheal {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(HistogramQuantile, InterpolatesInsideTheBucketHoldingTheRank) {
  BucketCounts h{{0.1, 0.2, 0.4, kInf}, {10, 20, 40, 40}};
  EXPECT_DOUBLE_EQ(histogram_quantile(0.125, h), 0.05);   // rank 5 of 10 in [0, 0.1]
  EXPECT_DOUBLE_EQ(histogram_quantile(0.375, h), 0.15);   // rank 15: half of (0.1, 0.2]
  EXPECT_DOUBLE_EQ(histogram_quantile(0.95, h), 0.2 + 0.2 * 18.0 / 20.0);
  EXPECT_TRUE(std::isnan(histogram_quantile(0.5, BucketCounts{})));
}

TEST(HistogramQuantile, RankInTheInfBucketAnswersTheHighestFiniteBound) {
  BucketCounts h{{0.1, 0.5, kInf}, {1, 2, 100}};
  EXPECT_DOUBLE_EQ(histogram_quantile(0.99, h), 0.5);
}

TEST(HistogramQuantile, MergingDifferentLayoutsKeepsTheTotal) {
  BucketCounts a{{0.1, 1, kInf}, {5, 10, 12}};
  BucketCounts b{{0.5, kInf}, {3, 4}};
  a.add(b);
  EXPECT_EQ(a.upper_bounds, (std::vector<double>{0.1, 0.5, 1, kInf}));
  EXPECT_EQ(a.cumulative, (std::vector<double>{5, 8, 13, 16}));
  BucketCounts same{{0.1, 1, kInf}, {1, 1, 1}};
  BucketCounts c{{0.1, 1, kInf}, {5, 10, 12}};
  c.add(same);
  EXPECT_EQ(c.cumulative, (std::vector<double>{6, 11, 13}));
}

TEST(HistogramQuantile, CheckBucketsNamesTheProblem) {
  EXPECT_EQ(check_buckets({{0.1, 1}, {0.2, 2}, {kInf, 2}}), "");
  EXPECT_NE(check_buckets({{0.1, 3}, {0.2, 2}}).find("not monotonic at index 1"), std::string::npos);
  EXPECT_NE(check_buckets({{0.2, 1}, {0.1, 2}}).find("not increasing at index 1"), std::string::npos);
  EXPECT_NE(check_buckets({{std::nan(""), 1}}).find("NaN"), std::string::npos);
  EXPECT_NE(check_buckets({{0.1, -1}}).find("negative"), std::string::npos);
}

}  // namespace
}  // namespace selfheal
