// Cleaning rules of the metrics processor: each bad sample is refused and counted under its
// reason, never fatal, and the good samples of the same scrape still count.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "test_batches.hpp"

namespace selfheal {
namespace {

using namespace testing;
namespace mn = metric_names;
namespace fn = feature_names;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

struct Fixture {
  explicit Fixture(MetricsWindowOptions o = tumbling(10'000)) : agg(o, out.sink()) {}
  void feed(MetricBatch b) { agg.ingest(b, b.ts); }
  std::uint64_t rejected(SampleRejection r) const { return agg.stats().rejected_for(r); }
  Collected out;
  MetricsWindowAggregator agg;
};

TEST(Cleaning, NonFiniteValuesAreRefusedAndTheRestOfTheScrapeCounts) {
  Fixture f;
  f.feed(batch("orders", "orders-1", kT0, {gauge(mn::kCpuUsage, kNaN), gauge(mn::kMemoryWorkingSet, 100)}));
  f.feed(batch("orders", "orders-1", kT0 + 1000, {gauge(mn::kCpuUsage, kInf), gauge(mn::kMemoryWorkingSet, 300)}));
  f.feed(batch("orders", "orders-1", kT0 + 2000, {gauge(mn::kCpuUsage, 250)}));
  f.agg.flush();
  EXPECT_EQ(f.rejected(SampleRejection::NonFinite), 2u);
  EXPECT_EQ(f.agg.stats().accepted, 3u);
  const FeatureWindow* w = f.out.find("orders-1", kT0 + 10'000);
  ASSERT_NE(w, nullptr);
  EXPECT_DOUBLE_EQ(w->get(fn::kCpuMillicoresMean), 250);  // NaN and inf did not poison the mean
  EXPECT_DOUBLE_EQ(w->get(fn::kMemoryBytesMean), 200);
}

TEST(Cleaning, NegativeGaugesAndCountersAreRefused) {
  Fixture f;
  f.feed(batch("orders", "orders-1", kT0, {gauge(mn::kMemoryWorkingSet, -5), counter(mn::kRequests, -1),
                                           gauge(mn::kCpuUsage, 10)}));
  EXPECT_EQ(f.rejected(SampleRejection::NegativeValue), 2u);
  EXPECT_EQ(f.agg.stats().accepted, 1u);
}

TEST(Cleaning, DuplicateScrapesAndSeriesAreRefused) {
  Fixture f;
  f.feed(batch("orders", "orders-1", kT0, {counter(mn::kRequests, 10), gauge(mn::kCpuUsage, 1)}));
  f.feed(batch("orders", "orders-1", kT0, {counter(mn::kRequests, 10), gauge(mn::kCpuUsage, 1)}));  // redelivered
  EXPECT_EQ(f.rejected(SampleRejection::Duplicate), 2u);
  f.feed(batch("orders", "orders-1", kT0 + 1000, {gauge(mn::kCpuUsage, 1), gauge(mn::kCpuUsage, 2)}));
  EXPECT_EQ(f.rejected(SampleRejection::Duplicate), 3u);  // same series twice in one scrape
}

TEST(Cleaning, OutOfOrderCountersAreRefusedButGaugesFoldIn) {
  MetricsWindowOptions o = tumbling(10'000);
  o.allowed_lateness_ms = 5'000;
  Fixture f(o);
  f.feed(batch("orders", "orders-1", kT0 + 1000, {counter(mn::kRequests, 0), gauge(mn::kCpuUsage, 100)}));
  f.feed(batch("orders", "orders-1", kT0 + 3000, {counter(mn::kRequests, 40), gauge(mn::kCpuUsage, 100)}));
  f.feed(batch("orders", "orders-1", kT0 + 2000, {counter(mn::kRequests, 20), gauge(mn::kCpuUsage, 400)}));
  EXPECT_EQ(f.rejected(SampleRejection::OutOfOrder), 1u);
  EXPECT_EQ(f.agg.stats().late_folded, 1u);
  f.agg.flush();
  const FeatureWindow* w = f.out.find("orders-1", kT0 + 10'000);
  ASSERT_NE(w, nullptr);
  EXPECT_DOUBLE_EQ(w->get(fn::kCpuMillicoresMean), 200);
  EXPECT_DOUBLE_EQ(w->get(fn::kRequestsPerS), 20);  // 40 requests over 2 s, the late 20 not double counted
}

TEST(Cleaning, CounterResetGivesTheRateFromTheNewValueNeverNegative) {
  Fixture f(tumbling(60'000));
  // 100 requests/s for 10 s, then the container restarts and its counter starts again from 0.
  for (int i = 0; i <= 10; ++i)
    f.feed(batch("orders", "orders-1", kT0 + i * 1000, {counter(mn::kRequests, 1000.0 + 100 * i)}));
  for (int i = 1; i <= 10; ++i)  // after the restart: 50 at 11 s, then +100/s
    f.feed(batch("orders", "orders-1", kT0 + (10 + i) * 1000, {counter(mn::kRequests, 50.0 + 100 * (i - 1))}));
  f.agg.flush();
  EXPECT_EQ(f.agg.stats().counter_resets, 1u);
  const FeatureWindow* w = f.out.find("orders-1", kT0 + 60'000);
  ASSERT_NE(w, nullptr);
  // increases: 10*100, then 50 (the reset: all of the new value), then 9*100; over 20 s.
  EXPECT_DOUBLE_EQ(w->get(fn::kRequestsPerS), (1000.0 + 50 + 900) / 20.0);
  EXPECT_GE(w->get(fn::kRequestsPerS), 0);
}

TEST(Cleaning, RestartsInTheWindowComeFromTheCounter) {
  Fixture f(tumbling(10'000));
  const double restarts[] = {3, 3, 4, 4, 4, 5, 5, 5, 5, 5, 5, 6};
  for (int i = 0; i < 12; ++i)
    f.feed(batch("orders", "orders-1", kT0 + i * 1000, {counter(mn::kRestarts, restarts[i])}));
  f.agg.flush();
  EXPECT_DOUBLE_EQ(f.out.find("orders-1", kT0 + 10'000)->get(fn::kRestarts), 2);  // 3 -> 5
  EXPECT_DOUBLE_EQ(f.out.find("orders-1", kT0 + 20'000)->get(fn::kRestarts), 1);  // 5 -> 6
}

TEST(Cleaning, BadHistogramsAreRefused) {
  Fixture f;
  MetricSample non_monotonic = histogram(mn::kRequestDuration, {0.1, 0.2}, {5, 5, 0});
  non_monotonic.buckets[1].cumulative_count = 2;  // below the bucket before it
  MetricSample unordered = histogram(mn::kRequestDuration, {0.2, 0.1}, {1, 1, 0});
  MetricSample wrong_count = histogram(mn::kDbQueryDuration, {0.1}, {1, 1});
  wrong_count.value = 7;  // _count disagrees with the +Inf bucket
  MetricSample nan_bucket = histogram(mn::kDbQueryDuration, {0.1}, {1, 1});
  nan_bucket.buckets[0].cumulative_count = kNaN;
  MetricSample too_many;
  too_many.name = std::string(mn::kRequestDuration);
  too_many.kind = MetricKind::Histogram;
  for (int i = 0; i < 500; ++i) too_many.buckets.push_back({0.001 * (i + 1), 0});
  f.feed(batch("orders", "orders-1", kT0, {non_monotonic, unordered, wrong_count, nan_bucket, too_many,
                                           histogram(mn::kRequestDuration, {0.1}, {1, 0})}));
  EXPECT_EQ(f.rejected(SampleRejection::BadHistogram), 4u);
  EXPECT_EQ(f.rejected(SampleRejection::NonFinite), 1u);
  EXPECT_EQ(f.agg.stats().accepted, 1u);
}

TEST(Cleaning, HostileNamesAndLabelsAreRefused) {
  Fixture f;
  MetricSample many_labels = gauge(mn::kCpuUsage, 1);
  for (int i = 0; i < 1000; ++i) many_labels.labels.emplace_back("l" + std::to_string(i), "v");
  MetricSample bad_label = gauge(mn::kCpuUsage, 1);
  bad_label.labels.emplace_back("0bad label", "v");
  MetricSample huge_value = gauge(mn::kCpuUsage, 1);
  huge_value.labels.emplace_back("route", std::string(1 << 20, 'x'));
  f.feed(batch("orders", "orders-1", kT0, {many_labels, bad_label, huge_value,
                                           gauge(std::string(100'000, 'a'), 1), gauge("cpu usage!", 1), gauge("", 1),
                                           gauge("\xff\xfe binary", 1), gauge("my_app_custom_metric", 1),
                                           gauge(mn::kRequests, 5)}));
  EXPECT_EQ(f.rejected(SampleRejection::TooManyLabels), 1u);
  EXPECT_EQ(f.rejected(SampleRejection::BadLabel), 2u);
  EXPECT_EQ(f.rejected(SampleRejection::BadName), 4u);
  EXPECT_EQ(f.rejected(SampleRejection::KindMismatch), 1u);  // a counter sent as a gauge
  EXPECT_EQ(f.agg.stats().ignored, 1u);                       // valid, but no feature uses it
  EXPECT_EQ(f.agg.stats().accepted, 0u);
  EXPECT_EQ(f.agg.series(), 0u);
}

TEST(Cleaning, MissingPodAndFutureTimestampsAreRefused) {
  MetricsWindowOptions o = tumbling(10'000);
  o.max_future_skew_ms = 60'000;
  Fixture f(o);
  f.agg.ingest(batch("orders", "", kT0, {gauge(mn::kCpuUsage, 1), gauge(mn::kCpuUsage, 2)}), kT0);
  f.agg.ingest(batch("orders", "orders-1", kT0 + 3'600'000, {gauge(mn::kCpuUsage, 1)}), kT0);
  EXPECT_EQ(f.rejected(SampleRejection::MissingPod), 2u);
  EXPECT_EQ(f.rejected(SampleRejection::FutureTimestamp), 1u);
  // The bogus future scrape did not move the watermark: a sample on time is still accepted.
  f.agg.ingest(batch("orders", "orders-1", kT0 + 1000, {gauge(mn::kCpuUsage, 1)}), kT0 + 1000);
  EXPECT_EQ(f.agg.stats().accepted, 1u);
}

TEST(Cleaning, SeriesCapEvictsTheIdlestPodsAndMemoryStaysBounded) {
  MetricsWindowOptions o = tumbling(10'000);
  o.max_series = 60;
  Fixture f(o);
  std::size_t peak_bytes = 0;
  for (int i = 0; i < 2000; ++i) {  // ever-new pods, 3 series each
    f.feed(batch("orders", "orders-" + std::to_string(i), kT0 + i * 10,
                 {gauge(mn::kCpuUsage, 1), gauge(mn::kMemoryWorkingSet, 2), counter(mn::kRequests, i)}));
    ASSERT_LE(f.agg.series(), 60u);
    if (i > 100) peak_bytes = std::max(peak_bytes, f.agg.memory_bytes());
  }
  EXPECT_GT(f.agg.stats().evicted_cap, 1000u);
  EXPECT_EQ(f.rejected(SampleRejection::SeriesLimit), 0u);
  EXPECT_LT(peak_bytes, 200'000u);
  // One pod with ever-new label values cannot evict itself: its extra series are refused.
  for (int i = 0; i < 100; ++i) {
    MetricSample s = counter(mn::kRequests, 1);
    s.labels.emplace_back("route", "/r" + std::to_string(i));
    f.feed(batch("orders", "orders-x", kT0 + 30'000 + i, {s}));
  }
  EXPECT_GT(f.rejected(SampleRejection::SeriesLimit), 0u);
  EXPECT_LE(f.agg.series(), 60u);
}

TEST(Cleaning, IdlePodsAreForgottenOnTick) {
  MetricsWindowOptions o = tumbling(10'000);
  o.series_idle_ms = 60'000;
  Fixture f(o);
  f.feed(batch("orders", "orders-1", kT0, {gauge(mn::kCpuUsage, 1), gauge(mn::kMemoryWorkingSet, 1)}));
  EXPECT_EQ(f.agg.series(), 2u);
  f.agg.advance(kT0 + 30'000);
  EXPECT_EQ(f.agg.series(), 2u);
  f.agg.advance(kT0 + 120'000);
  EXPECT_EQ(f.agg.series(), 0u);
  EXPECT_EQ(f.agg.pods(), 0u);
  EXPECT_EQ(f.agg.stats().evicted_idle, 2u);
  EXPECT_EQ(f.out.windows.size(), 2u);  // its last window (pod + service) closed before it went
}

TEST(Cleaning, BadOptionsAreRefusedNamingTheKey) {
  MetricsWindowOptions o;
  o.window_ms = 65'000;
  EXPECT_NE(o.validate().find("metrics_processor.window"), std::string::npos);
  o = {};
  o.step_ms = 0;
  EXPECT_NE(o.validate().find("metrics_processor.step"), std::string::npos);
  EXPECT_THROW(MetricsWindowAggregator(o, [](FeatureWindow&&) {}), std::invalid_argument);
}

}  // namespace
}  // namespace selfheal

namespace selfheal {
namespace {

using namespace testing;

TEST(Cleaning, ACounterBackFromALongSilenceStartsANewBaseline) {
  Fixture f(tumbling(60'000));
  for (int i = 0; i <= 5; ++i)  // 10 req/s, scraped every 10 s
    f.feed(batch("orders", "orders-1", kT0 + i * 10'000, {counter(metric_names::kRequests, 100.0 * i)}));
  // Gone for 5 minutes; back with a fresh process counting again at 10 req/s.
  for (int i = 0; i <= 5; ++i)
    f.feed(batch("orders", "orders-1", kT0 + 360'000 + i * 10'000, {counter(metric_names::kRequests, 30.0 + 100.0 * i)}));
  f.agg.flush();
  const FeatureWindow* back = f.out.find("orders-1", kT0 + 420'000);
  ASSERT_NE(back, nullptr);
  EXPECT_DOUBLE_EQ(back->get(feature_names::kRequestsPerS), 10);  // not 530 requests over 350 s
}

}  // namespace
}  // namespace selfheal
