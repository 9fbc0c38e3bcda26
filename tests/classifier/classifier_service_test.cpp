// The incident-classifier service on an in-process bus: anomalies in, incident snapshots out.
#include <gtest/gtest.h>

#include "bus/in_process_bus.hpp"
#include "classifier/services.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/metrics.hpp"
#include "runtime/keyed_state.hpp"

namespace selfheal {
namespace {

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

  using Settings = std::vector<std::pair<std::string, std::string>>;
  explicit Harness(Settings settings = {}) {
    register_classifier_services(registry);
    registry.declare_config(schema);
    config = std::make_unique<Config>(schema);
    for (const auto& [k, v] : settings) config->set(k, v, "test");
    ctx = std::make_unique<ServiceContext>(ServiceContext{bus, clock, *config, metrics, nullptr, nullptr, "t1"});
    service = registry.find("incident-classifier")->create(*config);
    out = bus.subscribe(topics::kIncidents, "test");
  }

  void anomaly(const std::string& id, const std::string& service_name, const std::string& signal, double score) {
    Anomaly a;
    a.id = id;
    a.ts = clock.now();
    a.service = service_name;
    a.signal = signal;
    a.score = score;
    a.value = 1;
    a.expected = 0.1;
    a.model = "robust-baseline";
    bus.publish(topics::kAnomalies, a);
  }

  std::vector<Incident> step(TimeMs advance_ms) {
    clock.advance(advance_ms);
    service->on_tick(clock.now());
    while (service->poll() > 0) {}
    service->on_tick(clock.now());
    std::vector<Delivery> got;
    out->poll(got, 1000);
    out->commit();
    std::vector<Incident> incidents;
    for (auto& d : got) incidents.push_back(std::get<Incident>(d.event));
    return incidents;
  }
};

TEST(IncidentClassifierService, PublishesOneIncidentForCorrelatedAnomalies) {
  Harness h;
  h.service->start(*h.ctx);
  h.anomaly("a1", "payments", "error_ratio", 0.97);
  h.anomaly("a2", "orders", "error_ratio", 0.95);
  h.anomaly("a3", "frontend", "error_ratio", 0.93);
  EXPECT_TRUE(h.step(1000).empty());  // within the decision delay
  // Errors and no log line telling what they are (an error burst of its own, or failing calls to
  // a dependency): held for at most catch_up_max (30 s) after the decision delay.
  EXPECT_TRUE(h.step(9000).empty());
  auto snaps = h.step(30000);
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps[0].service, "payments");
  EXPECT_EQ(snaps[0].id, "inc-t1-0001");
  EXPECT_EQ(snaps[0].revision, 1u);
  EXPECT_EQ(snaps[0].anomaly_ids.size(), 3u);
  EXPECT_EQ(h.metrics.counter("selfheal_incident_snapshots_total", "Incident snapshots published (every change)").value(), 1.0);
  const std::string type(to_string(snaps[0].type));
  EXPECT_NE(h.metrics.render().find("selfheal_incidents_opened_total{service=\"payments\",type=\"" + type + "\"} 1"),
            std::string::npos)
      << h.metrics.render();
  // Quiet past resolve_hold: resolved, counted once by type however many snapshots follow.
  auto later = h.step(200000);
  ASSERT_FALSE(later.empty());
  EXPECT_EQ(later.back().status, IncidentStatus::Resolved);
  h.step(10000);
  EXPECT_NE(h.metrics.render().find("selfheal_incidents_resolved_total{type=\"" + type + "\"} 1"), std::string::npos)
      << h.metrics.render();
}

TEST(IncidentClassifierService, BadCallGraphIsRefusedWithTheEntry) {
  try {
    Harness h(Harness::Settings{{"incident_classifier.call_graph", "frontend->orders,orders=>payments"}});
    FAIL() << "accepted a malformed call graph";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("incident_classifier.call_graph: call graph entry 'orders=>payments'"),
              std::string::npos)
        << e.what();
  }
}

TEST(IncidentClassifierService, CustomCallGraphDecidesTheCulprit) {
  // Here payments calls orders, so orders is the deeper service.
  Harness h(Harness::Settings{{"incident_classifier.call_graph", "payments->orders"}});
  h.service->start(*h.ctx);
  h.anomaly("a1", "payments", "error_ratio", 0.97);
  h.anomaly("a2", "orders", "error_ratio", 0.95);
  auto snaps = h.step(41000);  // errors without log lines: held until catch_up_max
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps[0].service, "orders");
}

TEST(IncidentClassifierService, StateOfAKeyMovesToAnotherInstance) {
  // What a rebalance does over Kafka: the old owner's checkpoint of a key is restored by the new
  // owner (runtime/keyed_state.hpp), which then carries the incident on instead of opening it again.
  Harness a;
  a.service->start(*a.ctx);
  a.anomaly("a1", "payments", "error_ratio", 0.97);
  a.step(1000);
  auto opened = a.step(40000);
  ASSERT_EQ(opened.size(), 1u);
  auto* saved_by = dynamic_cast<KeyedState*>(a.service.get());
  ASSERT_NE(saved_by, nullptr) << "the classifier service keeps no per-key state";
  const nlohmann::json state = saved_by->save_key("payments");
  ASSERT_FALSE(state.is_null());
  EXPECT_TRUE(saved_by->save_key("cache").is_null());

  Harness b;
  b.clock.set(a.clock.now());
  b.service->start(*b.ctx);
  auto* restored_by = dynamic_cast<KeyedState*>(b.service.get());
  ASSERT_NE(restored_by, nullptr);
  EXPECT_THROW(restored_by->restore_key("payments", nlohmann::json{{"v", 1}}), std::invalid_argument);
  restored_by->restore_key("payments", nlohmann::json::parse(state.dump()));
  EXPECT_EQ(restored_by->save_key("payments"), state);
  EXPECT_EQ(b.metrics.gauge("selfheal_incidents_active", "").value(), 1.0);
  // The anomaly redelivered after the move, then quiet past resolve_hold: the same incident
  // resolves at the next revision; nothing opens again.
  b.anomaly("a1", "payments", "error_ratio", 0.97);
  auto later = b.step(200000);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].id, opened[0].id);
  EXPECT_EQ(later[0].revision, opened[0].revision + 1);
  EXPECT_EQ(later[0].status, IncidentStatus::Resolved);
  EXPECT_NE(b.metrics.render().find("selfheal_incidents_resolved_total{type=\"" + std::string(to_string(later[0].type)) + "\"} 1"),
            std::string::npos);
  EXPECT_EQ(b.metrics.render().find("selfheal_incidents_opened_total"), std::string::npos) << b.metrics.render();
}

}  // namespace
}  // namespace selfheal
