// Metrics processor throughput on one core: samples/s from MetricBatch into closed windows
// (cleaning, counter state, panes, window emission included), bytes per series, and memory under a
// stream of ever-new series. Run: build/<dir>/bench/metricsproc/bench_metrics_windows
#include <benchmark/benchmark.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "contracts/metric_names.hpp"
#include "metricsproc/quantile_sketch.hpp"
#include "metricsproc/window_aggregator.hpp"

namespace selfheal {
namespace {

namespace mn = metric_names;
constexpr TimeMs kT0 = 1'800'000'000'000;

MetricSample sample(std::string_view name, MetricKind kind, double v) {
  MetricSample s;
  s.name = std::string(name);
  s.kind = kind;
  s.value = v;
  return s;
}

// One scrape of one pod as the metrics generator sends it: gauges, counters and (optionally) a
// 12-bucket request-duration histogram.
MetricBatch scrape(const std::string& service, const std::string& pod, bool with_histogram) {
  MetricBatch b;
  b.id = pod;
  b.service = service;
  b.pod = pod;
  b.samples = {sample(mn::kCpuUsage, MetricKind::Gauge, 200), sample(mn::kCpuLimit, MetricKind::Gauge, 1000),
               sample(mn::kMemoryWorkingSet, MetricKind::Gauge, 3e8), sample(mn::kMemoryLimit, MetricKind::Gauge, 1e9),
               sample(mn::kRestarts, MetricKind::Counter, 0), sample(mn::kPodReady, MetricKind::Gauge, 1),
               sample(mn::kRequests, MetricKind::Counter, 0), sample(mn::kErrors, MetricKind::Counter, 0),
               sample(mn::kDbConnectionsActive, MetricKind::Gauge, 12)};
  if (with_histogram) {
    MetricSample h = sample(mn::kRequestDuration, MetricKind::Histogram, 0);
    for (double ub : {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0})
      h.buckets.push_back({ub, 0});
    h.buckets.push_back({std::numeric_limits<double>::infinity(), 0});
    b.samples.push_back(std::move(h));
  }
  return b;
}

// Moves a scrape one interval on: new time, counters and histogram grown, gauges jittered.
void next_scrape(MetricBatch& b, TimeMs ts, std::uint32_t r) {
  b.ts = ts;
  for (MetricSample& s : b.samples) {
    if (s.kind == MetricKind::Counter) {
      s.value += static_cast<double>(r % 50);
    } else if (s.kind == MetricKind::Histogram) {
      const std::size_t n = s.buckets.size();
      for (std::size_t i = 0; i < n; ++i) s.buckets[i].cumulative_count += static_cast<double>((i + r) % 7 + (i > 3 ? 3 : 0));
      for (std::size_t i = 1; i < n; ++i)
        s.buckets[i].cumulative_count = std::max(s.buckets[i].cumulative_count, s.buckets[i - 1].cumulative_count);
      s.value = s.buckets.back().cumulative_count;
    } else if (s.name == mn::kCpuUsage || s.name == mn::kMemoryWorkingSet) {
      s.value = s.value * 0.9 + static_cast<double>(r % 1000) * (s.name == mn::kCpuUsage ? 0.5 : 1e5);
    }
  }
}

void run_ingest(benchmark::State& state, bool with_histogram) {
  const int pods = static_cast<int>(state.range(0));
  std::uint64_t windows = 0;
  MetricsWindowAggregator agg(MetricsWindowOptions{}, [&](FeatureWindow&& w) {
    ++windows;
    benchmark::DoNotOptimize(w);
  });
  std::vector<MetricBatch> batches;
  for (int p = 0; p < pods; ++p)
    batches.push_back(scrape("svc-" + std::to_string(p % 7), "svc-" + std::to_string(p % 7) + "-7d4b9c8f6d-" + std::to_string(p), with_histogram));
  std::mt19937 rng(1);
  TimeMs ts = kT0;
  std::uint64_t samples = 0;
  for (auto _ : state) {
    ts += 1000;  // every pod scraped once per simulated second
    for (auto& b : batches) {
      next_scrape(b, ts, rng());
      agg.ingest(b, ts);
      samples += b.samples.size();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(samples));
  state.counters["series"] = static_cast<double>(agg.series());
  state.counters["bytes_per_series"] = static_cast<double>(agg.memory_bytes()) / static_cast<double>(std::max<std::size_t>(agg.series(), 1));
  state.counters["windows"] = static_cast<double>(windows);
  state.counters["rejected"] = static_cast<double>(agg.stats().rejected_total());
}

void BM_IngestIntoWindows(benchmark::State& state) { run_ingest(state, true); }
void BM_IngestIntoWindowsNoHistogram(benchmark::State& state) { run_ingest(state, false); }
BENCHMARK(BM_IngestIntoWindows)->Arg(100)->Arg(2000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IngestIntoWindowsNoHistogram)->Arg(2000)->Unit(benchmark::kMillisecond);

// Every scrape comes from a pod never seen before (pod churn, label explosion): series stay under
// the cap and memory stays flat.
void BM_EverNewSeries(benchmark::State& state) {
  MetricsWindowOptions o;
  o.max_series = static_cast<std::size_t>(state.range(0));
  MetricsWindowAggregator agg(o, [](FeatureWindow&& w) { benchmark::DoNotOptimize(w); });
  MetricBatch b = scrape("churn", "", false);
  std::uint64_t n = 0, samples = 0;
  std::size_t peak_bytes = 0, peak_series = 0;
  for (auto _ : state) {
    b.pod = "churn-pod-" + std::to_string(n);
    const TimeMs ts = kT0 + static_cast<TimeMs>(n);  // 1000 new pods per simulated second
    b.ts = ts;
    agg.ingest(b, ts);
    samples += b.samples.size();
    if (++n % 1024 == 0) {
      peak_bytes = std::max(peak_bytes, agg.memory_bytes());
      peak_series = std::max(peak_series, agg.series());
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(samples));
  state.counters["max_series"] = static_cast<double>(o.max_series);
  state.counters["peak_series"] = static_cast<double>(peak_series);
  state.counters["peak_MB"] = static_cast<double>(peak_bytes) / 1e6;
  state.counters["evicted"] = static_cast<double>(agg.stats().evicted_cap + agg.stats().evicted_idle);
}
BENCHMARK(BM_EverNewSeries)->Arg(100'000)->Iterations(1'000'000)->Unit(benchmark::kMillisecond);

void BM_SketchAdd(benchmark::State& state) {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> d(-3, 1);
  std::vector<double> values(1 << 16);
  for (double& v : values) v = d(rng);
  QuantileSketch sketch;
  std::size_t i = 0;
  for (auto _ : state) {
    sketch.add(values[i++ & (values.size() - 1)]);
  }
  benchmark::DoNotOptimize(sketch.quantile(0.95));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["bytes"] = static_cast<double>(sketch.memory_bytes());
}
BENCHMARK(BM_SketchAdd);

}  // namespace
}  // namespace selfheal

BENCHMARK_MAIN();
