// The runtime: dependency ordering, the deterministic executor's quiescence and backpressure on one
// thread, and malformed events counted instead of crashing a service.
#include <gtest/gtest.h>

#include "bus/in_process_bus.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/metrics.hpp"
#include "runtime/event_service.hpp"
#include "runtime/executor.hpp"
#include "runtime/service_registry.hpp"

namespace selfheal {
namespace {

// Emits `per_tick` raw logs each tick.
class Producer final : public EventService {
 public:
  explicit Producer(int per_tick) : per_tick_(per_tick) {}
  std::string_view name() const override { return "producer"; }
  void start(ServiceContext& ctx) override { bind(ctx); }
  void on_tick(TimeMs now) override {
    for (int i = 0; i < per_tick_; ++i)
      emit("in", RawLog{next_id(), now, i % 2 ? "orders" : "search", "p", "line"});
  }
  void handle(const Delivery&) override {}

 private:
  int per_tick_;
};

// Forwards each raw log as a log record, remembering the order it saw.
class Forwarder final : public EventService {
 public:
  std::string_view name() const override { return "forwarder"; }
  void start(ServiceContext& ctx) override {
    bind(ctx);
    consume("in");
  }
  void handle(const Delivery& d) override {
    const auto& raw = std::get<RawLog>(d.event);
    seen.push_back(raw.id);
    LogRecord r;
    r.id = raw.id;
    r.ts = raw.ts;
    r.service = raw.service;
    r.message = raw.line;
    emit("out", std::move(r));
  }
  std::vector<std::string> seen;
};

class Sink final : public EventService {
 public:
  std::string_view name() const override { return "sink"; }
  void start(ServiceContext& ctx) override {
    bind(ctx);
    consume("out");
  }
  void handle(const Delivery& d) override {
    if (std::get<LogRecord>(d.event).message == "boom") throw std::runtime_error("handler failure");
    ++count;
  }
  std::size_t count = 0;
};

struct Harness {
  explicit Harness(std::size_t capacity, int per_tick)
      : bus({2, capacity}, &metrics), clock(1'000'000), config(schema), producer(per_tick),
        ctx{bus, clock, config, metrics, nullptr, nullptr, "t"} {
    for (Service* s : std::vector<Service*>{&producer, &forwarder, &sink}) s->start(ctx);
    executor = std::make_unique<DeterministicExecutor>(std::vector<Service*>{&producer, &forwarder, &sink},
                                                       clock, bus, DeterministicExecutor::Options{1000, 0});
  }
  MetricsRegistry metrics;
  InProcessBus bus;
  SimClock clock;
  ConfigSchema schema;
  Config config;
  Producer producer;
  Forwarder forwarder;
  Sink sink;
  ServiceContext ctx;
  std::unique_ptr<DeterministicExecutor> executor;
};

TEST(DeterministicExecutor, EachTickRunsToQuiescence) {
  Harness h(1024, 10);
  h.executor->run_until(1'000'000 + 5000);
  EXPECT_EQ(h.clock.now(), 1'005'000);
  EXPECT_EQ(h.sink.count, 50u);  // nothing left in flight after a tick
  EXPECT_EQ(h.bus.depth("in") + h.bus.depth("out"), 0u);
}

TEST(DeterministicExecutor, BackpressureOnOneThreadDrainsInsteadOfDeadlocking) {
  Harness h(4, 100);  // a tick's output is 25x the queue capacity
  h.executor->step();
  EXPECT_EQ(h.sink.count, 100u);
  EXPECT_GT(h.bus.blocked_publishes(), 0u);
}

TEST(DeterministicExecutor, SameInputsGiveTheSameOrder) {
  Harness a(8, 37), b(8, 37);
  a.executor->run_until(1'000'000 + 3000);
  b.executor->run_until(1'000'000 + 3000);
  EXPECT_EQ(a.forwarder.seen, b.forwarder.seen);
  EXPECT_EQ(a.forwarder.seen.size(), 111u);
}

TEST(EventService, MalformedEventsAndHandlerErrorsAreCountedNotFatal) {
  Harness h(64, 0);
  h.bus.publish("in", RawLog{"bad-1", 5, "", "p", "no service"});        // malformed: empty service
  h.bus.publish("in", RawLog{"ok-1", 5, "orders", "p", "fine"});
  h.bus.publish("out", LogRecord{"x", 7, "orders", "p", LogLevel::Info, LogFormat::Text, "", "boom", 0, "", {}, {}, {}});
  h.executor->drain();
  EXPECT_EQ(h.forwarder.seen, std::vector<std::string>{"ok-1"});
  EXPECT_EQ(h.sink.count, 1u);
  std::string text = h.metrics.render();
  EXPECT_NE(text.find("selfheal_events_rejected_total{reason=\"service is empty\",service=\"forwarder\",topic=\"in\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("selfheal_handler_errors_total{service=\"sink\"} 1"), std::string::npos);
}

TEST(ServiceRegistry, OrdersByDependenciesAndRejectsUnknownNames) {
  ServiceRegistry r;
  auto make = [](const Config&) -> std::unique_ptr<Service> { return nullptr; };
  r.add({"classifier", "c", {"detector"}, {}, make});
  r.add({"detector", "d", {"processor"}, {}, make});
  r.add({"processor", "p", {}, {}, make});
  std::vector<std::string> order;
  for (const auto* s : r.ordered({"classifier", "processor", "detector"})) order.push_back(s->name);
  EXPECT_EQ(order, (std::vector<std::string>{"processor", "detector", "classifier"}));
  // A dependency that runs elsewhere is not pulled in.
  EXPECT_EQ(r.ordered({"classifier"}).size(), 1u);
  EXPECT_THROW(r.ordered({"nonexistent"}), std::runtime_error);
  EXPECT_THROW(r.add({"detector", "dup", {}, {}, make}), std::logic_error);
}

}  // namespace
}  // namespace selfheal
