// The rule-engine service end to end on an in-process bus: rule hits reach `anomalies`, and the
// rules file is hot-reloaded (a bad file keeps the previous rules).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "bus/in_process_bus.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/metrics.hpp"
#include "rules/services.hpp"

namespace selfheal {
namespace {

namespace fs = std::filesystem;

struct Harness {
  ServiceRegistry registry;
  ConfigSchema schema;
  MetricsRegistry metrics;
  InProcessBus bus{InProcessBus::Options{}, nullptr};
  SimClock clock{1'700'000'000'000};
  std::unique_ptr<Config> config;
  std::unique_ptr<ServiceContext> ctx;
  std::unique_ptr<Service> service;
  std::unique_ptr<Subscription> out;

  explicit Harness(const std::string& rules_file) {
    register_rules_services(registry);
    registry.declare_config(schema);
    config = std::make_unique<Config>(schema);
    config->set("rule_engine.file", rules_file, "test");
    config->set("rule_engine.reload_interval", "1s", "test");
    ctx = std::make_unique<ServiceContext>(ServiceContext{bus, clock, *config, metrics, nullptr, nullptr, "t"});
    service = registry.find("rule-engine")->create(*config);
    out = bus.subscribe(topics::kAnomalies, "test");
  }

  // Publishes one metrics window and returns the names of the rules that fired on it.
  std::vector<std::string> feed(double cpu) {
    static int n = 0;
    FeatureWindow w;
    w.id = "w" + std::to_string(++n);
    w.service = "search";
    w.start = clock.now() - 10000;
    w.end = clock.now();
    w.features = {{"cpu_utilization_mean", cpu}};
    bus.publish(topics::kFeatures, w);
    while (service->poll() > 0) {}
    std::vector<Delivery> got;
    out->poll(got, 100);
    out->commit();
    std::vector<std::string> names;
    for (const auto& d : got) names.push_back(std::get<Anomaly>(d.event).model);
    return names;
  }

  void tick(TimeMs advance_ms) {
    clock.advance(advance_ms);
    service->on_tick(clock.now());
  }
};

void write_file(const fs::path& p, const std::string& text, int generation) {
  { std::ofstream(p) << text; }
  // Distinct modification times even on coarse file systems.
  fs::last_write_time(p, fs::file_time_type::clock::now() + std::chrono::seconds(generation * 10));
}

TEST(RuleEngineService, HotReloadKeepsOldRulesOnABadFile) {
  fs::path file = fs::temp_directory_path() / ("selfheal_rules_test_" + std::to_string(::getpid()) + ".yaml");
  write_file(file, "rules:\n  - name: Above50\n    expr: cpu_utilization_mean > 0.5\n", 0);
  Harness h(file.string());
  h.service->start(*h.ctx);
  EXPECT_EQ(h.feed(0.6), std::vector<std::string>{"Above50"});

  write_file(file, "rules:\n  - name: Broken\n    expr: cpu_utilization_mean >\n", 1);
  h.tick(2000);
  EXPECT_EQ(h.feed(0.6), std::vector<std::string>{"Above50"});  // old rules still in force
  EXPECT_EQ(h.metrics.counter("selfheal_rule_reloads_total", "Rules file reloads, by result", {{"result", "error"}}).value(), 1.0);

  write_file(file, "rules:\n  - name: Above90\n    expr: cpu_utilization_mean > 0.9\n", 2);
  h.tick(500);  // before the reload interval: not checked yet
  EXPECT_EQ(h.feed(0.6), std::vector<std::string>{"Above50"});
  h.tick(2000);
  EXPECT_TRUE(h.feed(0.6).empty());
  EXPECT_EQ(h.feed(0.95), std::vector<std::string>{"Above90"});
  fs::remove(file);
}

TEST(RuleEngineService, BadFileAtStartIsRefusedWithTheReason) {
  fs::path file = fs::temp_directory_path() / ("selfheal_rules_bad_" + std::to_string(::getpid()) + ".yaml");
  write_file(file, "rules:\n  - name: X\n    expr: nope > 1\n", 0);
  Harness h(file.string());
  try {
    h.service->start(*h.ctx);
    FAIL() << "started with a bad rules file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("rule 'X': field 'expr': unknown feature 'nope'"), std::string::npos) << e.what();
  }
  fs::remove(file);
}

TEST(RuleEngineService, RunsOnEmbeddedDefaults) {
  Harness h("");
  h.service->start(*h.ctx);
  FeatureWindow w;
  w.id = "p1";
  w.service = "payments";
  w.pod = "payments-0123456789-abcde";
  w.start = h.clock.now() - 10000;
  w.end = h.clock.now();
  w.features = {{"memory_utilization_max", 0.97}};
  h.bus.publish(topics::kFeatures, w);
  while (h.service->poll() > 0) {}
  std::vector<Delivery> got;
  h.out->poll(got, 100);
  ASSERT_EQ(got.size(), 1u);
  const auto& a = std::get<Anomaly>(got[0].event);
  EXPECT_EQ(a.model, "PodMemoryNearLimit");
  EXPECT_EQ(a.model_version, "defaults-1");
  EXPECT_EQ(a.pod, w.pod);
  EXPECT_FALSE(a.id.empty());
}

}  // namespace
}  // namespace selfheal
