// EventService over a bus that redelivers (anything but the in-process bus): duplicates are skipped,
// output ids derive from the input's, several inputs are handled in event-time order, and an
// InputTimeClock follows what was consumed without passing its ceiling.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <set>

#include "bus/bus.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/metrics.hpp"
#include "runtime/event_service.hpp"
#include "runtime/input_time_clock.hpp"

namespace selfheal {
namespace {

// A bus whose subscriptions hand out what the test queued, like a Kafka consumer would (including
// an event twice); publishes are recorded.
class ScriptedBus final : public Bus {
 public:
  class Sub final : public Subscription {
   public:
    Sub(std::string topic, std::deque<Delivery>& queue) : topic_(std::move(topic)), queue_(queue) {}
    std::size_t poll(std::vector<Delivery>& out, std::size_t max) override {
      std::size_t n = 0;
      while (n < max && !queue_.empty()) {
        out.push_back(queue_.front());
        queue_.pop_front();
        ++n;
      }
      return n;
    }
    void wait(std::chrono::milliseconds) override {}
    void commit() override { ++commits; }
    const std::string& topic() const override { return topic_; }
    const std::string& group() const override { return topic_; }
    int commits = 0;

   private:
    std::string topic_;
    std::deque<Delivery>& queue_;
  };

  PublishStatus publish(std::string_view topic, Event event) override {
    published[std::string(topic)].push_back(std::move(event));
    return PublishStatus::Ok;
  }
  std::unique_ptr<Subscription> subscribe(std::string_view topic, std::string_view) override {
    return std::make_unique<Sub>(std::string(topic), queues[std::string(topic)]);
  }
  void flush(std::chrono::milliseconds) override {}
  void close() override {}

  void queue(const std::string& topic, Event e) {
    Delivery d;
    d.topic = topic;
    d.event = std::move(e);
    queues[topic].push_back(std::move(d));
  }

  std::map<std::string, std::deque<Delivery>> queues;
  std::map<std::string, std::vector<Event>> published;
};

RawLog raw(const std::string& id, TimeMs ts) { return RawLog{id, ts, "orders", "orders-0", "line"}; }

// Emits `copies` outputs per input and remembers the order it saw inputs in.
class Echo final : public EventService {
 public:
  explicit Echo(std::vector<std::string> inputs, int copies = 1) : inputs_(std::move(inputs)), copies_(copies) {}
  std::string_view name() const override { return "echo"; }
  void start(ServiceContext& ctx) override {
    bind(ctx);
    for (const auto& t : inputs_) consume(t);
  }
  std::vector<std::string> seen;
  std::vector<TimeMs> clock_at_handle;

 protected:
  void handle(const Delivery& d) override {
    seen.push_back(event_id(d.event));
    clock_at_handle.push_back(ctx().clock.now());
    for (int i = 0; i < copies_; ++i) emit("out", raw(next_id(), event_time(d.event)));
  }

 private:
  std::vector<std::string> inputs_;
  int copies_;
};

struct Fixture {
  ConfigSchema schema;
  Config config = Config::load(schema, "", {});
  MetricsRegistry metrics;
  ScriptedBus bus;
  SimClock ceiling{1'000'000};
  InputTimeClock clock{ceiling, 0};
  ServiceContext ctx{bus, clock, config, metrics, nullptr, nullptr, "r1"};
};

TEST(IdempotentConsumer, RedeliveredEventIsHandledOnceAndCounted) {
  Fixture f;
  Echo echo({"in"});
  echo.start(f.ctx);
  f.bus.queue("in", raw("a", 10));
  f.bus.queue("in", raw("b", 20));
  f.bus.queue("in", raw("a", 10));  // redelivered after a rebalance
  EXPECT_EQ(echo.poll(), 3u);
  EXPECT_EQ(echo.seen, (std::vector<std::string>{"a", "b"}));
  EXPECT_NE(f.metrics.render().find(
                "selfheal_events_duplicates_total{service=\"echo\",topic=\"in\"} 1"),
            std::string::npos)
      << f.metrics.render();
}

TEST(IdempotentConsumer, OutputIdsDeriveFromTheInputSoReprocessingRepeatsThem) {
  std::vector<std::string> first_ids, second_ids;
  for (auto* ids : {&first_ids, &second_ids}) {  // two processes handling the same input
    Fixture f;
    Echo echo({"in"}, /*copies=*/2);
    echo.start(f.ctx);
    f.bus.queue("in", raw("log-7", 10));
    echo.poll();
    for (const auto& e : f.bus.published["out"]) ids->push_back(event_id(e));
  }
  EXPECT_EQ(first_ids, (std::vector<std::string>{"echo:log-7", "echo:log-7.1"}));
  EXPECT_EQ(first_ids, second_ids);
}

TEST(IdempotentConsumer, IncidentRevisionsAreNotDuplicatesOfEachOther) {
  Fixture f;
  Echo echo({"in"});
  echo.start(f.ctx);
  Incident inc;
  inc.id = "inc-1";
  inc.service = "orders";
  inc.opened_at = 5;
  for (std::uint32_t rev : {1u, 2u, 2u}) {
    inc.revision = rev;
    f.bus.queue("in", inc);
  }
  echo.poll();
  EXPECT_EQ(echo.seen.size(), 2u);  // revision 2 twice is one duplicate
  EXPECT_EQ(event_id(f.bus.published["out"][0]), "echo:inc-1@r1");
  EXPECT_EQ(event_id(f.bus.published["out"][1]), "echo:inc-1@r2");
}

TEST(IdempotentConsumer, SeveralInputsAreHandledInEventTimeOrderAndMoveTheClock) {
  Fixture f;
  Echo echo({"anomalies", "features"});
  echo.start(f.ctx);
  f.bus.queue("anomalies", raw("a30", 30));
  f.bus.queue("anomalies", raw("a50", 50));
  f.bus.queue("features", raw("f10", 10));
  f.bus.queue("features", raw("f40", 40));
  EXPECT_EQ(echo.poll(), 4u);
  EXPECT_EQ(echo.seen, (std::vector<std::string>{"f10", "a30", "f40", "a50"}));
  EXPECT_EQ(echo.clock_at_handle, (std::vector<TimeMs>{10, 30, 40, 50}));
}

TEST(IdempotentConsumer, InputWithMoreWaitingHoldsBackNewerEventsOfOtherInputs) {
  Fixture f;
  Echo echo({"anomalies", "features"});
  echo.start(f.ctx);
  f.bus.queue("anomalies", raw("a100", 101));  // ties go to the first input
  // More feature windows than one poll takes: the anomaly at 100 must wait for those before it.
  for (int i = 0; i < 1500; ++i) f.bus.queue("features", raw("f" + std::to_string(i), i + 1));
  echo.poll();
  ASSERT_GE(echo.seen.size(), 100u);
  for (std::size_t i = 0; i < 100; ++i) EXPECT_EQ(echo.seen[i], "f" + std::to_string(i));  // times 1..100
  EXPECT_EQ(echo.seen[100], "a100") << "the anomaly went before older windows, or after newer ones";
  while (echo.poll() > 0) {
  }
  EXPECT_EQ(echo.seen.size(), 1501u);
}

// After a broker outage an input's events are not in time order (a partition that comes back late
// delivers older events after newer ones). A full batch whose last event is older than its first
// must still be handled: bounding the other inputs by that last event put the horizon before every
// held event, nothing was handled, the full input was never polled again and the service (the
// remediator, the classifier) stalled for good.
TEST(IdempotentConsumer, InputWhoseBatchEndsWithAnOlderEventDoesNotStallTheService) {
  Fixture f;
  Echo echo({"anomalies", "features"});
  echo.start(f.ctx);
  f.bus.queue("anomalies", raw("a3000", 3000));
  for (int i = 0; i < 1023; ++i) f.bus.queue("features", raw("f" + std::to_string(1001 + i), 1001 + i));
  f.bus.queue("features", raw("late500", 500));  // the 1024th of the first batch, older than all before it
  for (int i = 0; i < 500; ++i) f.bus.queue("features", raw("g" + std::to_string(2024 + i), 2024 + i));
  for (int round = 0; round < 20 && echo.seen.size() < 1525u; ++round) echo.poll();
  ASSERT_EQ(echo.seen.size(), 1525u) << "the service stalled after handling " << echo.seen.size();
  EXPECT_EQ(echo.seen.front(), "f1001");
  EXPECT_EQ(echo.seen.back(), "a3000") << "the anomaly went before older windows";
  std::set<std::string> unique(echo.seen.begin(), echo.seen.end());
  EXPECT_EQ(unique.size(), echo.seen.size());
}

TEST(InputTimeClock, FollowsInputsNeverPastTheCeilingNeverBack) {
  SimClock ceiling(1000);
  InputTimeClock clock(ceiling, 0);
  EXPECT_EQ(clock.now(), 0);
  clock.observe(400);
  EXPECT_EQ(clock.now(), 400);
  clock.observe(300);  // an older event: time does not go back
  EXPECT_EQ(clock.now(), 400);
  clock.observe(5000);  // stamped in the future: held at the shared clock
  EXPECT_EQ(clock.now(), 1000);
  ceiling.set(6000);
  EXPECT_EQ(clock.now(), 5000);
}

}  // namespace
}  // namespace selfheal
