#include "logproc/log_processor_service.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "bus/in_process_bus.hpp"
#include "contracts/feature_names.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/metrics.hpp"
#include "logproc/services.hpp"
#include "runtime/service_registry.hpp"

namespace selfheal::logproc {
namespace {
namespace fn = feature_names;

constexpr TimeMs kT0 = 1'795'514'400'000;

struct Harness {
  explicit Harness(std::vector<std::string> overrides = {}) : bus(InProcessBus::Options{}, &metrics), clock(kT0) {
    ServiceRegistry registry;
    register_logproc_services(registry);
    registry.declare_config(schema);
    config = std::make_unique<Config>(schema);
    for (const auto& o : overrides) {
      const auto eq = o.find('=');
      config->set(o.substr(0, eq), o.substr(eq + 1), "test");
    }
    ctx = std::make_unique<ServiceContext>(ServiceContext{bus, clock, *config, metrics, nullptr, nullptr, "t"});
    records = bus.subscribe(topics::kLogsStructured, "test");
    features = bus.subscribe(topics::kFeatures, "test");
    service = std::make_unique<LogProcessorService>(LogProcessorService::options_from(*config));
    service->start(*ctx);
  }
  void send(TimeMs ts, const std::string& service_name, const std::string& pod, const std::string& line) {
    RawLog r;
    r.id = "raw-" + std::to_string(++seq);
    r.ts = ts;
    r.service = service_name;
    r.pod = pod;
    r.line = line;
    ASSERT_EQ(bus.publish(topics::kLogsRaw, r), PublishStatus::Ok);
  }
  void run_until(TimeMs t) {
    while (service->poll() > 0) {}
    while (clock.now() < t) {
      clock.advance(1'000);
      service->on_tick(clock.now());
      while (service->poll() > 0) {}
    }
  }
  template <typename T>
  std::vector<T> drain(Subscription& s) {
    std::vector<Delivery> got;
    while (s.poll(got, 1000) > 0) {}
    std::vector<T> out;
    for (auto& d : got) out.push_back(std::get<T>(d.event));
    return out;
  }
  MetricsRegistry metrics;
  InProcessBus bus;
  SimClock clock;
  ConfigSchema schema;
  std::unique_ptr<Config> config;
  std::unique_ptr<ServiceContext> ctx;
  std::unique_ptr<Subscription> records, features;
  std::unique_ptr<LogProcessorService> service;
  int seq = 0;
};

TEST(LogProcessorService, JoinsStackTracesAndPublishesStructuredRecords) {
  Harness h;
  h.send(kT0 + 100, "orders", "orders-5d8f7c9b4a-x2x9k", "2026-11-24 10:00:00,100 ERROR [main] com.shop.Orders - payment failed for order 17");
  h.send(kT0 + 101, "orders", "orders-5d8f7c9b4a-x2x9k", "java.net.SocketTimeoutException: Read timed out");
  h.send(kT0 + 102, "orders", "orders-5d8f7c9b4a-x2x9k", "\tat com.shop.Payments.call(Payments.java:42)");
  h.send(kT0 + 103, "orders", "orders-5d8f7c9b4a-x2x9k", "Caused by: java.io.IOException: reset");
  h.send(kT0 + 150, "orders", "orders-5d8f7c9b4a-ab12c", "{\"level\":\"info\",\"msg\":\"order 18 placed\"}");
  h.run_until(kT0 + 5'000);
  auto recs = h.drain<LogRecord>(*h.records);
  // "java.net..." is not a continuation line: it starts a record of its own.
  ASSERT_EQ(recs.size(), 3u);
  const LogRecord* first = nullptr;
  for (const auto& r : recs)
    if (r.message.find("payment failed") != std::string::npos) first = &r;
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->level, LogLevel::Error);
  EXPECT_EQ(first->format, LogFormat::Text);
  EXPECT_EQ(first->logger, "com.shop.Orders");
  EXPECT_EQ(first->template_text, "payment failed for order <*>");
  EXPECT_EQ(first->params, std::vector<std::string>{"17"});
  EXPECT_NE(first->template_id, 0u);
  for (const auto& r : recs) {
    if (r.message.find("SocketTimeout") != std::string::npos) {
      ASSERT_EQ(r.stack.size(), 2u);
      EXPECT_EQ(r.stack[1], "Caused by: java.io.IOException: reset");
      EXPECT_EQ(r.format, LogFormat::Unparsed);
    }
  }
}

TEST(LogProcessorService, EmitsLogFeatureWindowsPerServiceIncludingQuietOnes) {
  Harness h;
  for (int i = 0; i < 30; ++i) {
    h.send(kT0 + i * 1'000, "payments", "payments-5d8f7c9b4a-aaaaa", "INFO charge " + std::to_string(i) + " accepted");
    if (i % 3 == 0) h.send(kT0 + i * 1'000 + 10, "payments", "payments-5d8f7c9b4a-aaaaa", "ERROR charge " + std::to_string(i) + " declined by bank");
  }
  h.run_until(kT0 + 120'000);  // payments stops logging at +30 s: its windows keep coming
  auto windows = h.drain<FeatureWindow>(*h.features);
  ASSERT_GE(windows.size(), 10u);
  const FeatureWindow* at30 = nullptr;
  const FeatureWindow* at100 = nullptr;
  for (const auto& w : windows) {
    EXPECT_EQ(w.service, "payments");
    EXPECT_EQ(w.source, FeatureSource::Logs);
    EXPECT_EQ(w.end - w.start, 60'000);
    EXPECT_FALSE(w.id.empty());
    if (w.end == kT0 + 30'000) at30 = &w;
    if (w.end == kT0 + 100'000) at100 = &w;
  }
  ASSERT_NE(at30, nullptr);
  ASSERT_NE(at100, nullptr);
  EXPECT_DOUBLE_EQ(at30->get(fn::kLogLines), 40);
  EXPECT_DOUBLE_EQ(at30->get(fn::kLogError), 10);
  EXPECT_DOUBLE_EQ(at30->get(fn::kLogInfo), 30);
  EXPECT_DOUBLE_EQ(at30->get(fn::kLogErrorRatio), 0.25);
  EXPECT_DOUBLE_EQ(at30->get(fn::kLogDistinctTemplates), 2);
  ASSERT_FALSE(at30->top_templates.empty());
  EXPECT_EQ(at30->top_templates[0].template_text, "charge <*> accepted");
  EXPECT_EQ(at30->top_templates[0].count, 30u);
  EXPECT_DOUBLE_EQ(at100->get(fn::kLogLines), 0);
  const std::string text = h.metrics.render();
  EXPECT_NE(text.find("selfheal_log_templates_created_total 2"), std::string::npos) << text;
}

TEST(LogProcessorService, HostileLinesAreCountedAndStillPublished) {
  Harness h({"log_processor.max_line_bytes=32768"});  // above the 20 kB nested JSON line
  h.send(kT0, "cache", "cache-5d8f7c9b4a-aaaaa", std::string(1 << 20, 'A'));
  h.send(kT0 + 1, "cache", "cache-5d8f7c9b4a-aaaaa", std::string("bad \xff\xfe utf8"));
  std::string deep = "{\"a\":" + std::string(10000, '[') + std::string(10000, ']') + "}";
  h.send(kT0 + 2, "cache", "cache-5d8f7c9b4a-aaaaa", deep);
  h.send(kT0 + 3, "cache", "cache-5d8f7c9b4a-aaaaa", std::string("\x00\x01\x02 binary", 10));
  h.run_until(kT0 + 5'000);
  auto recs = h.drain<LogRecord>(*h.records);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_LE(recs[0].message.size(), 32768u);
  const std::string text = h.metrics.render();
  EXPECT_NE(text.find("selfheal_log_rejected_total{reason=\"too_long\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("selfheal_log_rejected_total{reason=\"invalid_utf8\"} 1"), std::string::npos);
  EXPECT_NE(text.find("selfheal_log_rejected_total{reason=\"json_too_deep\"} 1"), std::string::npos);
  EXPECT_NE(text.find("selfheal_log_rejected_total{reason=\"control_bytes\"} 1"), std::string::npos);
}

TEST(LogProcessorService, TemplatesSurviveARestartThroughTheSnapshot) {
  const auto path = std::filesystem::temp_directory_path() / ("logproc-snap-" + std::to_string(::getpid()) + ".txt");
  std::filesystem::remove(path);
  std::uint64_t id_before = 0;
  {
    Harness h({"log_processor.template_snapshot=" + path.string()});
    h.send(kT0, "search", "search-5d8f7c9b4a-aaaaa", "INFO query for user alice took 12 ms");
    h.send(kT0 + 1, "search", "search-5d8f7c9b4a-aaaaa", "INFO query for user bob took 13 ms");
    h.run_until(kT0 + 5'000);
    auto recs = h.drain<LogRecord>(*h.records);
    ASSERT_EQ(recs.size(), 2u);
    id_before = recs[1].template_id;
    h.service->stop();
  }
  Harness h({"log_processor.template_snapshot=" + path.string()});
  EXPECT_EQ(h.service->miner().size(), 1u);
  h.send(kT0, "search", "search-5d8f7c9b4a-bbbbb", "INFO query for user carol took 9 ms");
  h.run_until(kT0 + 5'000);
  auto recs = h.drain<LogRecord>(*h.records);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].template_id, id_before);
  std::filesystem::remove(path);
}

TEST(LogProcessorService, ConfigIsDeclaredAndBadValuesAreRefusedByName) {
  ServiceRegistry registry;
  register_logproc_services(registry);
  ConfigSchema schema;
  registry.declare_config(schema);
  ASSERT_NE(schema.find("log_processor.window"), nullptr);
  ASSERT_NE(schema.find("log_processor.step"), nullptr);
  Config bad(schema);
  bad.set("log_processor.step", "7s", "test");
  try {
    LogProcessorService::options_from(bad);
    FAIL() << "a window that is not a multiple of the step was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("log_processor.window"), std::string::npos);
  }
  const ServiceInfo* info = registry.find("log-processor");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->deps, std::vector<std::string>{"log-generator"});
}

}  // namespace
}  // namespace selfheal::logproc
