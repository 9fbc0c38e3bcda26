#include "logproc/log_processor_service.hpp"

#include <gtest/gtest.h>

#include <algorithm>
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

// Keyed state (issue 6): the templates a service's records matched move to another processor, as
// over Kafka when the service's partition moves to another process.
double templates_created(Harness& h) {
  return h.metrics.counter("selfheal_log_templates_created_total", "").value();
}

TEST(LogProcessorService, KeyedStateMovesAServicesTemplatesToAnotherProcessor) {
  Harness a;
  a.send(kT0, "search", "search-5d8f7c9b4a-aaaaa", "INFO query for user alice took 12 ms");
  a.send(kT0 + 1, "search", "search-5d8f7c9b4a-aaaaa", "INFO query for user bob took 13 ms");
  a.send(kT0 + 2, "search", "search-5d8f7c9b4a-aaaaa", "WARN cache miss on shard 3");
  a.send(kT0 + 3, "orders", "orders-5d8f7c9b4a-ccccc", "INFO order 17 accepted");
  a.run_until(kT0 + 5'000);
  auto recs = a.drain<LogRecord>(*a.records);
  ASSERT_EQ(recs.size(), 4u);
  // The template as the second query left it (the first one's template generalised then).
  auto bob = std::find_if(recs.begin(), recs.end(), [](const LogRecord& r) { return r.message.find("bob") != std::string::npos; });
  ASSERT_NE(bob, recs.end());
  const std::uint64_t query_id = bob->template_id;
  const nlohmann::json search = a.service->save_key("search");
  ASSERT_TRUE(search.is_object()) << search;
  // The two search templates, least recently used first, in the snapshot's encoding; not orders'.
  ASSERT_EQ(search["templates"].size(), 2u) << search;
  EXPECT_EQ(search["templates"][0], std::string("2\tquery for user <*> took <*> ms"));
  EXPECT_EQ(search["templates"][1], std::string("1\tcache miss on shard <*>"));
  EXPECT_TRUE(a.service->save_key("nobody").is_null());

  // B already knows the cache-miss template, from another service, with its own count.
  Harness b;
  b.send(kT0, "cache", "cache-5d8f7c9b4a-ddddd", "WARN cache miss on shard 9");
  b.run_until(kT0 + 5'000);
  b.drain<LogRecord>(*b.records);
  const nlohmann::json cache_before = b.service->save_key("cache");
  const std::size_t size_before = b.service->miner().size();
  b.service->restore_key("search", search);
  EXPECT_EQ(b.service->miner().size(), size_before + 1);  // the query template is new to B
  EXPECT_EQ(b.service->save_key("cache"), cache_before);
  const nlohmann::json search_in_b = b.service->save_key("search");
  ASSERT_EQ(search_in_b["templates"].size(), 2u) << search_in_b;
  EXPECT_EQ(search_in_b["templates"][0], std::string("2\tquery for user <*> took <*> ms"));
  EXPECT_EQ(search_in_b["templates"][1], std::string("1\tcache miss on shard <*>"));  // B's own count (1, not 1+1)

  // A record of search after the take-over: a known template, A's id, nothing new.
  const double created = templates_created(b);
  b.send(kT0 + 6'000, "search", "search-5d8f7c9b4a-bbbbb", "INFO query for user carol took 9 ms");
  b.run_until(kT0 + 10'000);
  recs = b.drain<LogRecord>(*b.records);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].template_id, query_id) << recs[0].template_text;
  EXPECT_EQ(templates_created(b), created);

  // Without the restore the same record starts a new template (so the above could fail).
  Harness fresh;
  fresh.send(kT0 + 6'000, "search", "search-5d8f7c9b4a-bbbbb", "INFO query for user carol took 9 ms");
  fresh.run_until(kT0 + 10'000);
  EXPECT_EQ(templates_created(fresh), 1.0);
}

TEST(LogProcessorService, KeyedStateRefusesAMalformedStateNamingTheFieldAndChangesNothing) {
  Harness b;
  b.send(kT0, "search", "search-5d8f7c9b4a-aaaaa", "INFO query for user alice took 12 ms");
  b.run_until(kT0 + 5'000);
  const nlohmann::json search = b.service->save_key("search");
  ASSERT_TRUE(search.is_object());
  const std::size_t size = b.service->miner().size();
  auto refused = [&](const nlohmann::json& state, const std::string& why) {
    try {
      b.service->restore_key("search", state);
      ADD_FAILURE() << "accepted " << state;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
    EXPECT_EQ(b.service->save_key("search"), search);
    EXPECT_EQ(b.service->miner().size(), size);
  };
  // A good template first, then a bad one: the good one must not have been merged either.
  refused({{"format", 1}, {"templates", {"3\tGET <*> done", "x\tno count"}}},
          "templates[1]: expected 'count<TAB>template'");
  refused({{"format", 1}, {"templates", {"3\tGET <*> done", 7}}}, "templates[1]: expected a string");
  refused({{"format", 1}, {"templates", "3\tGET <*> done"}}, "templates: expected an array");
  refused({{"format", 2}, {"templates", nlohmann::json::array()}}, "format: expected 1");
  refused(nlohmann::json::array(), "state: expected an object");
  std::string long_template = "3\t";
  for (int i = 0; i < 300; ++i) long_template += "tok ";
  refused({{"format", 1}, {"templates", {long_template}}}, "templates[0]: template has 300 tokens");
}

TEST(LogProcessorService, PerServiceTemplateReferencesStayBounded) {
  // A stream of ever-new services and templates: the references kept for save_key stay under the
  // cap (kTemplateRefsPerTemplate x max_templates) and the newest are kept.
  Harness h({"log_processor.max_templates=50"});
  const std::size_t cap = LogProcessorService::kTemplateRefsPerTemplate * 50;
  std::size_t peak = 0;
  for (int i = 0; i < 2'000; ++i) {
    std::string w = "w";
    for (int k = i; k > 0; k /= 26) w.push_back(static_cast<char>('a' + k % 26));
    h.send(kT0 + i, "svc" + std::to_string(i % 400), "pod", "INFO " + w + " happened");
    while (h.service->poll() > 0) {}
    peak = std::max(peak, h.service->template_refs());
  }
  h.run_until(kT0 + 10'000);
  EXPECT_LE(peak, cap);
  EXPECT_GT(peak, cap / 2);
  EXPECT_TRUE(h.service->save_key("svc0").is_null());  // its templates were evicted long ago
  // The newest record's template is still kept for its service.
  const auto recs = h.drain<LogRecord>(*h.records);
  ASSERT_EQ(recs.size(), 2'000u);
  const nlohmann::json last = h.service->save_key(recs.back().service);
  ASSERT_TRUE(last.is_object()) << recs.back().service;
  EXPECT_EQ(last["templates"].back(), "1\t" + recs.back().template_text);
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
