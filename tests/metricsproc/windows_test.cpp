// Event-time windows: boundaries, tumbling vs sliding, lateness, aggregation across pods, a pod
// (or a whole service) that stops reporting, memory slope, quantiles from buckets and raw values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "metricsproc/quantile_sketch.hpp"
#include "test_batches.hpp"

namespace selfheal {
namespace {

using namespace testing;
namespace mn = metric_names;
namespace fn = feature_names;

TEST(Windows, TumblingWindowsCoverTheirStepExactly) {
  Collected out;
  MetricsWindowAggregator agg(tumbling(10'000), out.sink());
  for (int i = 0; i < 25; ++i)
    agg.ingest(batch("orders", "orders-1", kT0 + i * 1000, {gauge(mn::kCpuUsage, i)}), kT0 + i * 1000);
  // Windows [0,10) and [10,20) are closed by the watermark at 24 s; [20,30) is still open.
  auto pod = out.of("orders-1");
  ASSERT_EQ(pod.size(), 2u);
  EXPECT_EQ(pod[0]->start, kT0);
  EXPECT_EQ(pod[0]->end, kT0 + 10'000);
  EXPECT_DOUBLE_EQ(pod[0]->get(fn::kCpuMillicoresMean), 4.5);  // 0..9: the sample at 10 s is not in it
  EXPECT_EQ(pod[1]->start, kT0 + 10'000);
  EXPECT_DOUBLE_EQ(pod[1]->get(fn::kCpuMillicoresMean), 14.5);
  agg.flush();
  ASSERT_EQ(out.of("orders-1").size(), 3u);
  EXPECT_DOUBLE_EQ(out.of("orders-1")[2]->get(fn::kCpuMillicoresMean), 22);  // 20..24
}

TEST(Windows, SlidingWindowsOverlapByStep) {
  Collected out;
  MetricsWindowOptions o;  // defaults: 60 s window every 10 s
  o.allowed_lateness_ms = 0;
  MetricsWindowAggregator agg(o, out.sink());
  for (int i = 0; i < 120; ++i)
    agg.ingest(batch("orders", "orders-1", kT0 + i * 1000, {gauge(mn::kCpuUsage, i < 60 ? 100 : 200)}), kT0 + i * 1000);
  agg.flush();
  auto pod = out.of("orders-1");
  // Ends every 10 s from the first window holding data (ends at 10 s) to the last (ends at 170 s).
  ASSERT_EQ(pod.size(), 17u);
  for (std::size_t k = 0; k < pod.size(); ++k) {
    EXPECT_EQ(pod[k]->end, kT0 + 10'000 * static_cast<TimeMs>(k + 1));
    EXPECT_EQ(pod[k]->end - pod[k]->start, 60'000);
  }
  const FeatureWindow* first_full = out.find("orders-1", kT0 + 60'000);
  const FeatureWindow* half = out.find("orders-1", kT0 + 90'000);  // [30,90): 30 at 100, 30 at 200
  EXPECT_DOUBLE_EQ(first_full->get(fn::kCpuMillicoresMean), 100);
  EXPECT_DOUBLE_EQ(half->get(fn::kCpuMillicoresMean), 150);
}

TEST(Windows, LateSamplesWithinTheBoundFoldInLaterOnesAreCounted) {
  Collected out;
  MetricsWindowOptions o = tumbling(10'000);
  o.allowed_lateness_ms = 3'000;
  MetricsWindowAggregator agg(o, out.sink());
  auto at = [&](const std::string& pod, TimeMs ms, double v) {
    agg.ingest(batch("orders", pod, kT0 + ms, {gauge(mn::kCpuUsage, v)}), kT0 + ms);
  };
  at("a", 1'000, 10);
  at("a", 12'000, 10);  // watermark 12 s: [0,10) waits until 13 s
  at("b", 9'000, 40);   // 3 s late for [0,10): folded in
  at("a", 13'000, 10);  // watermark 13 s: [0,10) closes
  at("b", 9'500, 99);   // too late now
  EXPECT_EQ(agg.stats().rejected_for(SampleRejection::TooLate), 1u);
  const FeatureWindow* service = out.find("", kT0 + 10'000);
  ASSERT_NE(service, nullptr);
  EXPECT_DOUBLE_EQ(service->get(fn::kCpuMillicoresMean), 25);  // 10 and 40, without the 99
  EXPECT_DOUBLE_EQ(service->get(fn::kPods), 2);
}

TEST(Windows, ServiceWindowsAggregateAcrossPods) {
  Collected out;
  MetricsWindowAggregator agg(tumbling(10'000), out.sink());
  const std::vector<double> bounds = {0.05, 0.1, 0.2, 0.5};
  for (int i = 0; i <= 10; ++i) {
    const TimeMs ts = kT0 + i * 1000;
    // Pod a: 10 req/s, 1 error/s, every request in (0.05, 0.1]. Pod b: 20 req/s, in (0.2, 0.5].
    MetricSample ha = histogram(mn::kRequestDuration, bounds, {0, 10.0 * i, 0, 0, 0});
    MetricSample hb = histogram(mn::kRequestDuration, bounds, {0, 0, 0, 20.0 * i, 0});
    agg.ingest(batch("orders", "orders-a", ts, {counter(mn::kRequests, 10.0 * i), counter(mn::kErrors, 1.0 * i), ha,
                                                gauge(mn::kCpuUsage, 100), gauge(mn::kCpuLimit, 1000),
                                                gauge(mn::kMemoryWorkingSet, 100), gauge(mn::kMemoryLimit, 1000),
                                                gauge(mn::kPodReady, 1)}), ts);
    agg.ingest(batch("orders", "orders-b", ts, {counter(mn::kRequests, 20.0 * i), counter(mn::kErrors, 0), hb,
                                                gauge(mn::kCpuUsage, 300), gauge(mn::kCpuLimit, 1000),
                                                gauge(mn::kMemoryWorkingSet, 800), gauge(mn::kMemoryLimit, 1000),
                                                gauge(mn::kPodReady, 0)}), ts);
  }
  agg.flush();
  const FeatureWindow* a = out.find("orders-a", kT0 + 10'000);
  const FeatureWindow* s = out.find("", kT0 + 10'000);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(s, nullptr);
  EXPECT_DOUBLE_EQ(a->get(fn::kRequestsPerS), 10);
  EXPECT_DOUBLE_EQ(a->get(fn::kErrorRatio), 0.1);
  EXPECT_GT(a->get(fn::kLatencyP95), 0.05);
  EXPECT_LE(a->get(fn::kLatencyP95), 0.1);
  EXPECT_DOUBLE_EQ(s->get(fn::kPods), 2);
  EXPECT_DOUBLE_EQ(s->get(fn::kPodsReady), 1);
  EXPECT_DOUBLE_EQ(s->get(fn::kRequestsPerS), 30);
  EXPECT_DOUBLE_EQ(s->get(fn::kErrorsPerS), 1);
  EXPECT_DOUBLE_EQ(s->get(fn::kErrorRatio), 9.0 / 270.0);  // the ts=10 s scrape is in the next window
  EXPECT_DOUBLE_EQ(s->get(fn::kCpuMillicoresMean), 200);
  EXPECT_DOUBLE_EQ(s->get(fn::kCpuUtilMax), 0.3);
  EXPECT_DOUBLE_EQ(s->get(fn::kMemoryUtilMax), 0.8);
  EXPECT_DOUBLE_EQ(s->get(fn::kMemoryBytesMax), 800);
  // Merged buckets: 1/3 of requests in (0.05,0.1], 2/3 in (0.2,0.5]: p50 and p95 fall in pod b's.
  EXPECT_GT(s->get(fn::kLatencyP50), 0.2);
  EXPECT_DOUBLE_EQ(s->get(fn::kLatencyP95), 0.2 + 0.3 * (0.95 * 270 - 90) / 180);
  EXPECT_TRUE(std::isnan(s->get(fn::kDbQueryP95)));  // no db histogram: absent, not zero
}

TEST(Windows, APodThatStopsReportingDoesNotFreezeTheService) {
  Collected out;
  MetricsWindowAggregator agg(tumbling(10'000), out.sink());
  for (int i = 0; i < 40; ++i) {
    const TimeMs ts = kT0 + i * 1000;
    agg.ingest(batch("orders", "orders-a", ts, {gauge(mn::kCpuUsage, 100)}), ts);
    if (i < 15) agg.ingest(batch("orders", "orders-b", ts, {gauge(mn::kCpuUsage, 300)}), ts);
  }
  EXPECT_DOUBLE_EQ(out.find("", kT0 + 10'000)->get(fn::kPods), 2);
  EXPECT_DOUBLE_EQ(out.find("", kT0 + 20'000)->get(fn::kPods), 2);  // b reported until 14 s
  EXPECT_DOUBLE_EQ(out.find("", kT0 + 30'000)->get(fn::kPods), 1);
  EXPECT_EQ(out.find("orders-b", kT0 + 30'000), nullptr);
  // Now every pod stops (a crash loop): the clock alone closes the windows that hold data.
  const std::size_t before = out.windows.size();
  agg.advance(kT0 + 39'000);
  EXPECT_EQ(out.windows.size(), before);  // [30,40) still open at 39 s
  agg.advance(kT0 + 41'000);
  ASSERT_NE(out.find("", kT0 + 40'000), nullptr);
  agg.advance(kT0 + 3'600'000);  // an hour of silence emits nothing more, and takes no loop per step
  EXPECT_EQ(out.windows.size(), before + 2);
}

TEST(Windows, MemorySlopeOnAKnownRampIsExact) {
  Collected out;
  MetricsWindowOptions o;
  o.allowed_lateness_ms = 0;
  MetricsWindowAggregator agg(o, out.sink());
  for (int i = 0; i < 180; i += 5) {  // scraped every 5 s
    const TimeMs ts = kT0 + i * 1000;
    agg.ingest(batch("orders", "orders-leak", ts, {gauge(mn::kMemoryWorkingSet, 2e8 + 250'000.0 * i),
                                                   gauge(mn::kMemoryLimit, 1e9)}), ts);
    agg.ingest(batch("orders", "orders-flat", ts, {gauge(mn::kMemoryWorkingSet, 3e8 - 1000.0 * i)}), ts);
  }
  agg.flush();
  const FeatureWindow* leak = out.find("orders-leak", kT0 + 120'000);
  const FeatureWindow* flat = out.find("orders-flat", kT0 + 120'000);
  const FeatureWindow* service = out.find("", kT0 + 120'000);
  ASSERT_TRUE(leak && flat && service);
  EXPECT_NEAR(leak->get(fn::kMemorySlope), 250'000, 1e-3);
  EXPECT_NEAR(flat->get(fn::kMemorySlope), -1000, 1e-3);
  EXPECT_NEAR(service->get(fn::kMemorySlope), 250'000, 1e-3);  // the fastest-growing pod
  EXPECT_DOUBLE_EQ(leak->get(fn::kMemoryUtilMax), (2e8 + 250'000.0 * 115) / 1e9);
  // A single sample gives no slope: absent rather than a made-up 0.
  Collected one;
  MetricsWindowAggregator single(tumbling(10'000), one.sink());
  single.ingest(batch("orders", "p", kT0, {gauge(mn::kMemoryWorkingSet, 5)}), kT0);
  single.flush();
  EXPECT_TRUE(std::isnan(one.find("p", kT0 + 10'000)->get(fn::kMemorySlope)));
}

TEST(Windows, RawDurationsGoThroughTheSketchWithinOnePercent) {
  Collected out;
  MetricsWindowAggregator agg(tumbling(60'000), out.sink());
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(std::log(0.08), 0.6);
  std::vector<double> all;
  for (int i = 0; i < 60; ++i) {
    for (const char* pod : {"p1", "p2", "p3"}) {
      std::vector<MetricSample> samples;
      // One raw observation per gauge sample, each as its own series (distinguished by a label).
      for (int k = 0; k < 50; ++k) {
        MetricSample s = gauge(mn::kRequestDuration, latency(rng));
        s.labels.emplace_back("obs", std::to_string(k));
        all.push_back(s.value);
        samples.push_back(std::move(s));
      }
      agg.ingest(batch("search", pod, kT0 + i * 1000, std::move(samples)), kT0 + i * 1000);
    }
  }
  agg.flush();
  std::sort(all.begin(), all.end());
  const double exact = all[static_cast<std::size_t>(0.95 * static_cast<double>(all.size() - 1))];
  const FeatureWindow* s = out.find("", kT0 + 60'000);
  ASSERT_NE(s, nullptr);
  EXPECT_LE(std::fabs(s->get(fn::kLatencyP95) - exact) / exact, 0.01);
}

TEST(Windows, DbFeaturesFromTheDatabasePod) {
  Collected out;
  MetricsWindowAggregator agg(tumbling(10'000), out.sink());
  for (int i = 0; i <= 10; ++i) {
    const TimeMs ts = kT0 + i * 1000;
    agg.ingest(batch("postgres", "postgres-0", ts,
                     {histogram(mn::kDbQueryDuration, {0.01, 0.1, 1}, {0, 0, 5.0 * i, 0}),
                      gauge(mn::kDbConnectionsActive, i < 5 ? 10 : 20), counter(mn::kDbPoolWaits, 3.0 * i)}), ts);
  }
  agg.flush();
  const FeatureWindow* s = out.find("", kT0 + 10'000);
  ASSERT_NE(s, nullptr);
  EXPECT_DOUBLE_EQ(s->get(fn::kDbQueryP95), 0.1 + 0.9 * 0.95);
  EXPECT_DOUBLE_EQ(s->get(fn::kDbConnectionsActive), 15);
  EXPECT_DOUBLE_EQ(s->get(fn::kDbPoolWaitsPerS), 3);
}

TEST(Windows, SameInputGivesTheSameOutput) {
  auto run = [] {
    Collected out;
    MetricsWindowAggregator agg(MetricsWindowOptions{}, out.sink());
    std::mt19937 rng(7);
    for (int i = 0; i < 300; ++i)
      for (const char* pod : {"z-pod", "a-pod", "m-pod"})
        agg.ingest(batch(i % 2 ? "orders" : "cache", pod, kT0 + i * 1000,
                         {gauge(mn::kCpuUsage, rng() % 1000), counter(mn::kRequests, i * 10.0 + rng() % 5)}),
                   kT0 + i * 1000);
    agg.flush();
    return out.windows;
  };
  auto a = run();
  auto b = run();
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GT(a.size(), 100u);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].service, b[i].service);
    EXPECT_EQ(a[i].pod, b[i].pod);
    EXPECT_EQ(a[i].end, b[i].end);
    EXPECT_EQ(a[i].features, b[i].features);
  }
  // Within one window end of a service, pods come in name order and the service window last.
  EXPECT_EQ(a[0].pod, "a-pod");
  EXPECT_EQ(a[1].pod, "m-pod");
  EXPECT_EQ(a[2].pod, "z-pod");
  EXPECT_EQ(a[3].pod, "");
}

}  // namespace
}  // namespace selfheal

namespace selfheal {
namespace {

using namespace testing;

TEST(Windows, AScrapeOfOnlyJunkDoesNotMoveTheWatermark) {
  Collected out;
  MetricsWindowAggregator agg(tumbling(10'000), out.sink());
  agg.ingest(batch("orders", "orders-1", kT0 + 1000, {gauge(metric_names::kCpuUsage, 1)}), kT0 + 1000);
  // Stamped 5 minutes ahead (within the future-skew bound) but every sample is junk.
  agg.ingest(batch("orders", "orders-1", kT0 + 300'000, {gauge(metric_names::kCpuUsage, std::nan(""))}), kT0 + 2000);
  EXPECT_TRUE(out.windows.empty());
  agg.ingest(batch("orders", "orders-1", kT0 + 3000, {gauge(metric_names::kCpuUsage, 3)}), kT0 + 3000);
  EXPECT_EQ(agg.stats().rejected_for(SampleRejection::TooLate), 0u);
  EXPECT_EQ(agg.stats().accepted, 2u);
}

}  // namespace
}  // namespace selfheal
