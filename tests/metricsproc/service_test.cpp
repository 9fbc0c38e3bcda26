// The metrics-processor service on the in-process bus under the deterministic executor: scrapes in
// on metrics.raw, windows out on features, rejections in /metrics, config keys declared and checked.
#include <gtest/gtest.h>

#include <cmath>

#include "bus/in_process_bus.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/metrics.hpp"
#include "metricsproc/metrics_processor_service.hpp"
#include "metricsproc/services.hpp"
#include "runtime/executor.hpp"
#include "runtime/service_registry.hpp"
#include "test_batches.hpp"

namespace selfheal {
namespace {

using namespace testing;
namespace mn = metric_names;
namespace fn = feature_names;

// Publishes one scrape per pod per tick, like the metrics generator; pod b dies at 20 s.
class FakeScraper final : public EventService {
 public:
  std::string_view name() const override { return "metrics-generator"; }
  void start(ServiceContext& ctx) override { bind(ctx); }
  void on_tick(TimeMs now) override {
    ++tick_;
    emit(topics::kMetricsRaw, batch("orders", "orders-a", now, {gauge(mn::kCpuUsage, 100), counter(mn::kRequests, 10.0 * tick_)}));
    if (now < kT0 + 20'000)
      emit(topics::kMetricsRaw, batch("orders", "orders-b", now, {gauge(mn::kCpuUsage, std::nan("")), counter(mn::kRequests, 5.0 * tick_)}));
  }
  void handle(const Delivery&) override {}

 private:
  int tick_ = 0;
};

// Two pods of `orders` with known usage: a uses 100 m CPU and 100 MB, serves 10 req/s, no errors;
// b uses 300 m and 300 MB, serves 30 req/s of which 1/s fails, until it dies at 20 s. Every
// request lands in the (0.1 s, 0.5 s] latency bucket, so the interpolated p95 is 0.1 + 0.95·0.4.
class TwoPodScraper final : public EventService {
 public:
  std::string_view name() const override { return "metrics-generator"; }
  void start(ServiceContext& ctx) override { bind(ctx); }
  void on_tick(TimeMs now) override {
    ++tick_;
    const std::vector<double> bounds = {0.1, 0.5, 1.0};
    emit(topics::kMetricsRaw, batch("orders", "orders-a", now,
                                    {gauge(mn::kCpuUsage, 100), gauge(mn::kMemoryWorkingSet, 100e6),
                                     counter(mn::kRequests, 10.0 * tick_), counter(mn::kErrors, 0),
                                     histogram(mn::kRequestDuration, bounds, {0, 10.0 * tick_, 0, 0})}));
    if (now < kT0 + 20'000)
      emit(topics::kMetricsRaw, batch("orders", "orders-b", now,
                                      {gauge(mn::kCpuUsage, 300), gauge(mn::kMemoryWorkingSet, 300e6),
                                       counter(mn::kRequests, 30.0 * tick_), counter(mn::kErrors, 1.0 * tick_),
                                       histogram(mn::kRequestDuration, bounds, {0, 30.0 * tick_, 0, 0})}));
    // A service that serves nothing: its latency and error ratio are unknown, not zero.
    emit(topics::kMetricsRaw, batch("cache", "cache-a", now, {gauge(mn::kCpuUsage, 50)}));
  }
  void handle(const Delivery&) override {}

 private:
  int tick_ = 0;
};

template <class Scraper>
struct HarnessOf {
  HarnessOf()
      : bus({4, 4096}, &metrics), clock(kT0), config(make_config()),
        processor(MetricsProcessorService::options_from(config)),
        ctx{bus, clock, config, metrics, nullptr, nullptr, "t"} {
    features = bus.subscribe(topics::kFeatures, "test");
    scraper.start(ctx);
    processor.start(ctx);
    executor = std::make_unique<DeterministicExecutor>(std::vector<Service*>{&scraper, &processor}, clock, bus,
                                                       DeterministicExecutor::Options{1000, 0});
  }
  Config make_config() {
    register_metricsproc_services(registry);
    registry.declare_config(schema);
    Config c(schema);
    c.set("metrics_processor.window", "10s", "test");
    c.set("metrics_processor.step", "10s", "test");
    c.set("metrics_processor.allowed_lateness", "0s", "test");
    return c;
  }
  std::vector<FeatureWindow> drain_features() {
    std::vector<Delivery> got;
    while (features->poll(got, 1000) > 0) {}
    std::vector<FeatureWindow> out;
    for (auto& d : got) out.push_back(std::get<FeatureWindow>(d.event));
    return out;
  }
  ServiceRegistry registry;
  ConfigSchema schema;
  MetricsRegistry metrics;
  InProcessBus bus;
  SimClock clock;
  Config config;
  Scraper scraper;
  MetricsProcessorService processor;
  ServiceContext ctx;
  std::unique_ptr<Subscription> features;
  std::unique_ptr<DeterministicExecutor> executor;
};
using Harness = HarnessOf<FakeScraper>;

TEST(MetricsProcessorService, WindowsFlowFromScrapesAndRejectionsAreCounted) {
  Harness h;
  h.executor->run_until(kT0 + 45'000);  // ticks at 1 s .. 45 s: pod b scrapes 1 s .. 19 s
  auto windows = h.drain_features();
  ASSERT_FALSE(windows.empty());
  for (const auto& w : windows) {
    EXPECT_EQ(w.source, FeatureSource::Metrics);
    EXPECT_FALSE(w.id.empty());
    EXPECT_EQ(w.end - w.start, 10'000);
  }
  const FeatureWindow* service20 = nullptr;
  const FeatureWindow* service40 = nullptr;
  for (const auto& w : windows) {
    if (w.pod.empty() && w.end == kT0 + 20'000) service20 = &w;
    if (w.pod.empty() && w.end == kT0 + 40'000) service40 = &w;
  }
  ASSERT_NE(service20, nullptr);
  ASSERT_NE(service40, nullptr);  // closed by the tick at 40 s although pod b is gone
  EXPECT_DOUBLE_EQ(service20->get(fn::kPods), 2);
  EXPECT_DOUBLE_EQ(service20->get(fn::kRequestsPerS), 15);
  EXPECT_DOUBLE_EQ(service40->get(fn::kPods), 1);
  EXPECT_DOUBLE_EQ(service40->get(fn::kRequestsPerS), 10);
  const std::string text = h.metrics.render();
  EXPECT_NE(text.find("selfheal_metrics_rejected_total{reason=\"non_finite\"} 19"), std::string::npos) << text;
  EXPECT_NE(text.find("selfheal_events_out_total{service=\"metrics-processor\",topic=\"features\"}"), std::string::npos);
}

// The agreed per-service gauges (selfheal_service_*{service}) follow the latest closed window.
TEST(MetricsProcessorService, PerServiceGaugesFollowTheLatestClosedWindow) {
  HarnessOf<TwoPodScraper> h;
  auto value = [&](const char* name, const char* service) {
    return h.metrics.gauge(name, "", {{"service", service}}).value();
  };
  h.executor->run_until(kT0 + 19'000);  // the window ending at 10 s is closed; both pods in it
  EXPECT_DOUBLE_EQ(value("selfheal_service_cpu_usage_cores", "orders"), 0.4);
  EXPECT_DOUBLE_EQ(value("selfheal_service_memory_working_set_bytes", "orders"), 400e6);
  EXPECT_NEAR(value("selfheal_service_requests_per_second", "orders"), 40, 1e-9);
  EXPECT_NEAR(value("selfheal_service_error_ratio", "orders"), 1.0 / 40, 1e-12);
  EXPECT_NEAR(value("selfheal_service_request_duration_p95_seconds", "orders"), 0.1 + 0.95 * 0.4, 1e-9);
  EXPECT_DOUBLE_EQ(value("selfheal_service_cpu_usage_cores", "cache"), 0.05);
  EXPECT_TRUE(std::isnan(value("selfheal_service_request_duration_p95_seconds", "cache")));
  EXPECT_TRUE(std::isnan(value("selfheal_service_error_ratio", "cache")));

  h.executor->run_until(kT0 + 45'000);  // pod b died at 20 s: the window ending at 40 s has a only
  EXPECT_DOUBLE_EQ(value("selfheal_service_cpu_usage_cores", "orders"), 0.1);
  EXPECT_DOUBLE_EQ(value("selfheal_service_memory_working_set_bytes", "orders"), 100e6);
  EXPECT_NEAR(value("selfheal_service_requests_per_second", "orders"), 10, 1e-9);
  EXPECT_DOUBLE_EQ(value("selfheal_service_error_ratio", "orders"), 0);

  const std::string text = h.metrics.render();
  EXPECT_NE(text.find("# HELP selfheal_service_cpu_usage_cores "), std::string::npos);
  EXPECT_NE(text.find("selfheal_service_request_duration_p95_seconds{service=\"cache\"} NaN"), std::string::npos) << text;
}

TEST(MetricsProcessorService, ConfigIsDeclaredAndBadValuesAreRefusedByName) {
  ServiceRegistry registry;
  register_metricsproc_services(registry);
  ConfigSchema schema;
  registry.declare_config(schema);
  ASSERT_NE(schema.find("metrics_processor.window"), nullptr);
  ASSERT_NE(schema.find("metrics_processor.step"), nullptr);
  ASSERT_NE(schema.find("metrics_processor.allowed_lateness"), nullptr);
  Config defaults(schema);
  const MetricsWindowOptions o = MetricsProcessorService::options_from(defaults);
  EXPECT_EQ(o.window_ms, 60'000);
  EXPECT_EQ(o.step_ms, 10'000);
  Config bad(schema);
  bad.set("metrics_processor.step", "7s", "test");
  try {
    MetricsProcessorService::options_from(bad);
    FAIL() << "a window that is not a multiple of the step was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("metrics_processor.step"), std::string::npos);
  }
  const ServiceInfo* info = registry.find("metrics-processor");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->deps, std::vector<std::string>{"metrics-generator"});
}

}  // namespace
}  // namespace selfheal
