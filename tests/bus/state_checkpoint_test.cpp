// State checkpoints (issue 6 point 4): state older than any look-back — here a running total per
// key since its first input — moves with its partition as a checkpoint. A service that gains a
// partition restores its keys' newest checkpoint, skips what the checkpoint covers and handles the
// rest on top, so its outputs are what a consumer that never moved would give.
//
// Over KafkaBus against librdkafka's in-process mock cluster (real protocol, groups, commits).
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <utility>

#include "bus/kafka_bus.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/metrics.hpp"
#include "runtime/event_service.hpp"
#include "support/mock_kafka_cluster.hpp"

namespace selfheal {
namespace {

using namespace std::chrono_literals;

constexpr TimeMs kBase = 1'767'225'600'000;  // 2026-01-01, event time of round 0
constexpr TimeMs kInterval = 2'000;          // checkpoint interval (event time)
constexpr TimeMs kLookback = 3'000;          // rebuild look-back: far shorter than the totals' history
constexpr int kKeys = 8;

struct MockCluster : testing::MockKafkaCluster {
  MockCluster() : MockKafkaCluster({"logs.raw", "out", "state", "selfheal.dead-letter"}) {}  // "state": topics::kState
};

KafkaOptions options(const MockCluster& c) {
  KafkaOptions o;
  o.bootstrap_servers = c.bootstraps();
  o.properties = {"log_level=2", "fetch.wait.max.ms=20"};
  return o;
}

std::string key(int k) { return "svc" + std::to_string(k); }
std::string input_id(int k, int round) { return key(k) + "-" + std::to_string(round); }
RawLog input(int k, int round) { return RawLog{input_id(k, round), kBase + round * 1000, key(k), key(k) + "-0", "x"}; }

// Publishes, for every input, how many inputs of its key it has seen since the key's first: right
// only if the whole history of the key is in the state, which no look-back of 3 s can give.
class RunningTotal final : public EventService, public KeyedState {
 public:
  std::string_view name() const override { return "total"; }
  void start(ServiceContext& ctx) override {
    bind(ctx);
    keep_state(*this);
    consume("logs.raw");
  }
  nlohmann::json save_key(const std::string& k) const override {
    auto it = totals_.find(k);
    return it == totals_.end() ? nlohmann::json() : nlohmann::json{{"total", it->second}};
  }
  void restore_key(const std::string& k, const nlohmann::json& state) override {
    if (!state.is_object() || !state.contains("total") || !state["total"].is_number_integer())
      throw std::invalid_argument("total: expected an integer");
    totals_[k] = state["total"].get<int>();
    restored_keys.insert(k);
  }
  std::set<std::string> restored_keys;
  std::set<std::string> normal_keys;  // keys of inputs handled normally

 protected:
  void handle(const Delivery& d) override {
    const auto& r = std::get<RawLog>(d.event);
    const int total = ++totals_[r.service];
    if (!d.rebuild) normal_keys.insert(r.service);
    emit("out", RawLog{next_id(), r.ts, r.service, r.pod, std::to_string(total)});
  }

 private:
  std::map<std::string, int> totals_;
};

struct Process {
  Process(const MockCluster& cluster, TimeMs checkpoint_interval)
      : bus(options(cluster), &metrics), ctx{bus, clock, config, metrics, nullptr, nullptr, "r1"} {
    ctx.rebuild.rebuild_lookback_ms = kLookback;
    ctx.rebuild.rebuild_max_events = 20000;
    ctx.checkpoint_interval_ms = checkpoint_interval;
    service.start(ctx);
  }
  ~Process() { bus.flush(5s); }
  double metric(const std::string& series) {
    const std::string text = metrics.render();
    const auto at = text.find(series + " ");
    return at == std::string::npos ? 0.0 : std::stod(text.substr(at + series.size() + 1));
  }
  ConfigSchema schema;
  Config config = Config::load(schema, "", {});
  MetricsRegistry metrics;
  SimClock clock{kBase};
  KafkaBus bus;
  ServiceContext ctx;
  RunningTotal service;
};

class Observer {
 public:
  explicit Observer(const MockCluster& cluster) : bus_(options(cluster), nullptr), sub_(bus_.subscribe("out", "observer")) {}
  void read() {
    std::vector<Delivery> batch;
    while (sub_->poll(batch, 1000) > 0) {
      for (auto& d : batch) {
        const auto& r = std::get<RawLog>(d.event);
        ++times_[r.id];
        total_[r.id] = std::stoi(r.line);
      }
      batch.clear();
    }
    sub_->commit();
  }
  void wait() { sub_->wait(20ms); }
  const std::map<std::string, int>& times() const { return times_; }
  const std::map<std::string, int>& total() const { return total_; }

 private:
  KafkaBus bus_;
  std::unique_ptr<Subscription> sub_;
  std::map<std::string, int> times_, total_;
};

// Publishes rounds [from, to) one at a time; after each, the processes' clocks move to the
// round's time and they run until the observer has every output so far (40 s at most).
bool run_rounds(KafkaBus& producer, std::vector<Process*> processes, Observer& observer, int from, int to) {
  for (int round = from; round < to; ++round) {
    for (int k = 0; k < kKeys; ++k)
      if (producer.publish("logs.raw", input(k, round)) != PublishStatus::Ok) return false;
    producer.flush(5s);
    for (auto* p : processes) p->clock.set(kBase + round * 1000);
    const std::size_t want = static_cast<std::size_t>((round + 1) * kKeys);
    const auto deadline = std::chrono::steady_clock::now() + 40s;
    for (;;) {
      std::size_t handled = 0;
      for (auto* p : processes) handled += p->service.poll();
      observer.read();
      if (observer.times().size() >= want) break;
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (handled == 0) observer.wait();
    }
  }
  return true;
}

// Outputs of rounds [from, rounds) that do not carry round + 1, and outputs published twice.
std::pair<int, int> wrong_and_twice(const Observer& observer, int from, int rounds, std::string& examples) {
  int wrong = 0, twice = 0;
  for (int round = from; round < rounds; ++round)
    for (int k = 0; k < kKeys; ++k) {
      const std::string id = "total:" + input_id(k, round);
      auto it = observer.total().find(id);
      if (it == observer.total().end()) {
        ++wrong;
        continue;
      }
      if (it->second != round + 1 && ++wrong <= 5)
        examples += id + "=" + std::to_string(it->second) + " ";
      if (observer.times().at(id) != 1) ++twice;
    }
  return {wrong, twice};
}

// A consumer restarted in its group restores every key's total from the newest checkpoint, skips
// what it covers, replays the rest of the look-back on top, and goes on exactly.
TEST(StateCheckpoint, RestartedConsumerRestoresStateOlderThanTheLookBack) {
  MockCluster cluster;
  Observer observer(cluster);
  KafkaBus producer(options(cluster), nullptr);
  {
    Process first(cluster, kInterval);
    ASSERT_TRUE(run_rounds(producer, {&first}, observer, 0, 30));
    // One checkpoint per key every 2 s of event time over 29 s.
    EXPECT_GE(first.metric("selfheal_state_checkpoints_total{service=\"total\"}"), 10 * kKeys);
  }
  Process second(cluster, kInterval);
  ASSERT_TRUE(run_rounds(producer, {&second}, observer, 30, 40)) << observer.times().size();
  EXPECT_EQ(second.service.restored_keys.size(), static_cast<std::size_t>(kKeys));
  EXPECT_EQ(second.metric("selfheal_state_restored_keys_total{service=\"total\"}"), kKeys);
  // The look-back re-read rounds 26..29; the newest checkpoint (round 28) covers up to round 28.
  EXPECT_GT(second.metric("selfheal_events_in_checkpoint_total{service=\"total\",topic=\"logs.raw\"}"), 0);
  std::string examples;
  auto [wrong, twice] = wrong_and_twice(observer, 0, 40, examples);
  EXPECT_EQ(wrong, 0) << "totals that miss history, e.g. " << examples;
  EXPECT_EQ(twice, 0);
}

// The same restart without checkpoints: the look-back alone gives totals that miss history (so
// the test above could fail).
TEST(StateCheckpoint, WithoutCheckpointsTheLookBackAloneMissesHistory) {
  MockCluster cluster;
  Observer observer(cluster);
  KafkaBus producer(options(cluster), nullptr);
  {
    Process first(cluster, 0);
    ASSERT_TRUE(run_rounds(producer, {&first}, observer, 0, 30));
    EXPECT_EQ(first.metric("selfheal_state_checkpoints_total{service=\"total\"}"), 0);
  }
  Process second(cluster, 0);
  ASSERT_TRUE(run_rounds(producer, {&second}, observer, 30, 40));
  std::string examples;
  auto [wrong, twice] = wrong_and_twice(observer, 30, 40, examples);
  EXPECT_EQ(wrong, 10 * kKeys) << "every total after the restart misses the history before the look-back";
  EXPECT_TRUE(second.service.restored_keys.empty());
}

// Two members share the keys; one leaves. The survivor restores the keys of the partitions it
// gained (and only those: its own keys' state is live and kept), and every total stays exact.
TEST(StateCheckpoint, SurvivorRestoresTheKeysOfThePartitionsItGained) {
  MockCluster cluster;
  Observer observer(cluster);
  KafkaBus producer(options(cluster), nullptr);
  auto a = std::make_unique<Process>(cluster, kInterval);
  Process b(cluster, kInterval);
  int rounds = 0;
  // Until both members handle inputs (both are in the group), then to 30 rounds.
  while (rounds < 60 && (a->service.normal_keys.empty() || b.service.normal_keys.empty())) {
    ASSERT_TRUE(run_rounds(producer, {a.get(), &b}, observer, rounds, rounds + 1));
    ++rounds;
  }
  ASSERT_FALSE(b.service.normal_keys.empty()) << "the second member never got a partition";
  if (rounds < 30) {
    ASSERT_TRUE(run_rounds(producer, {a.get(), &b}, observer, rounds, 30));
    rounds = 30;
  }
  a->service.normal_keys.clear();
  b.service.normal_keys.clear();
  ASSERT_TRUE(run_rounds(producer, {a.get(), &b}, observer, rounds, rounds + 1));
  ++rounds;
  const std::set<std::string> held_by_a = a->service.normal_keys;
  const std::set<std::string> held_by_b = b.service.normal_keys;
  ASSERT_FALSE(held_by_a.empty());
  ASSERT_FALSE(held_by_b.empty());
  b.service.restored_keys.clear();

  a.reset();  // leaves the group: its partitions move to b
  ASSERT_TRUE(run_rounds(producer, {&b}, observer, rounds, rounds + 10)) << observer.times().size();
  rounds += 10;
  EXPECT_EQ(b.service.restored_keys, held_by_a) << "restored exactly the keys it gained";
  std::string examples;
  auto [wrong, twice] = wrong_and_twice(observer, 0, rounds, examples);
  EXPECT_EQ(wrong, 0) << "totals that miss history, e.g. " << examples;
  EXPECT_EQ(twice, 0);
}

// A checkpoint record that cannot be read is refused with the reason logged; that key falls back to
// the look-back, every other key is restored, and the service keeps running.
TEST(StateCheckpoint, AnUnreadableCheckpointLosesOnlyItsOwnKey) {
  MockCluster cluster;
  Observer observer(cluster);
  KafkaBus producer(options(cluster), nullptr);
  {
    Process first(cluster, kInterval);
    ASSERT_TRUE(run_rounds(producer, {&first}, observer, 0, 30));
  }
  ASSERT_EQ(producer.publish_state(topics::kState, "total/svc3", "{\"v\":1,\"inputs\":{\"logs.raw\":[\"x\",1]}}", kBase),
            PublishStatus::Ok);
  ASSERT_EQ(producer.publish_state(topics::kState, "total/svc5", "not json", kBase), PublishStatus::Ok);
  producer.flush(5s);
  Process second(cluster, kInterval);
  ASSERT_TRUE(run_rounds(producer, {&second}, observer, 30, 32));
  EXPECT_EQ(second.service.restored_keys.size(), static_cast<std::size_t>(kKeys - 2));
  EXPECT_FALSE(second.service.restored_keys.count("svc3"));
  EXPECT_FALSE(second.service.restored_keys.count("svc5"));
  std::string examples;
  auto [wrong, twice] = wrong_and_twice(observer, 30, 32, examples);
  EXPECT_EQ(wrong, 2 * 2) << "only svc3's and svc5's totals miss history: " << examples;
}

// The rules inside EventService, over scripted subscriptions: which keys are written when, and
// which are restored when.
class ScriptedBus final : public Bus {
 public:
  class Sub final : public Subscription {
   public:
    Sub(ScriptedBus& bus, std::string topic) : bus_(bus), topic_(std::move(topic)) {}
    std::size_t poll(std::vector<Delivery>& out, std::size_t max) override {
      auto& q = bus_.queues[topic_];
      std::size_t n = 0;
      while (n < max && !q.empty()) {
        out.push_back(q.front());
        q.pop_front();
        ++n;
      }
      return n;
    }
    void wait(std::chrono::milliseconds) override {}
    void commit() override { ++bus_.commits[topic_]; }
    std::vector<int> take_gained_partitions() override { return std::exchange(bus_.gained[topic_], {}); }
    bool holds(int partition) const override { return !bus_.lost[topic_].count(partition); }
    const std::string& topic() const override { return topic_; }
    const std::string& group() const override { return topic_; }

   private:
    ScriptedBus& bus_;
    std::string topic_;
  };
  PublishStatus publish(std::string_view, Event) override { return PublishStatus::Ok; }
  std::unique_ptr<Subscription> subscribe(std::string_view topic, std::string_view) override {
    return std::make_unique<Sub>(*this, std::string(topic));
  }
  PublishStatus publish_state(std::string_view, const std::string& key, const std::string& value,
                              std::int64_t) override {
    state.push_back(StateRecord{key, value});
    return PublishStatus::Ok;
  }
  std::vector<StateRecord> read_state(std::string_view, std::chrono::milliseconds) override { return state; }
  void flush(std::chrono::milliseconds) override {}
  void close() override {}
  void deliver(const std::string& topic, const std::string& service, int partition, std::int64_t offset, TimeMs ts) {
    Delivery d;
    d.topic = topic;
    d.partition = partition;
    d.offset = offset;
    d.event = RawLog{topic + "-" + service + "-" + std::to_string(offset), ts, service, service + "-0", "x"};
    queues[topic].push_back(std::move(d));
  }
  // The newest record written for `key`, parsed; null if none.
  nlohmann::json newest(const std::string& key) const {
    nlohmann::json j;
    for (const auto& r : state)
      if (r.key == key) j = nlohmann::json::parse(r.value);
    return j;
  }
  std::map<std::string, std::deque<Delivery>> queues;
  std::map<std::string, std::vector<int>> gained;
  std::map<std::string, std::set<int>> lost;
  std::map<std::string, int> commits;
  std::vector<StateRecord> state;
};

// A running total per key over two inputs, "a" and "b", at most two events per input per poll.
class TwoInputTotal final : public EventService, public KeyedState {
 public:
  std::string_view name() const override { return "total"; }
  void start(ServiceContext& ctx) override {
    bind(ctx);
    keep_state(*this);
    consume("a");
    consume("b");
    max_batch_ = 2;
  }
  nlohmann::json save_key(const std::string& k) const override {
    auto it = totals.find(k);
    return it == totals.end() ? nlohmann::json() : nlohmann::json{{"total", it->second}};
  }
  void restore_key(const std::string& k, const nlohmann::json& state) override { totals[k] = state.at("total").get<int>(); }
  std::map<std::string, int> totals;
  using EventService::holds_key;

 protected:
  void handle(const Delivery& d) override { ++totals[std::get<RawLog>(d.event).service]; }
};

struct ScriptedProcess {
  ScriptedProcess() : ctx{bus, clock, config, metrics, nullptr, nullptr, "r1"} {
    ctx.checkpoint_interval_ms = kInterval;
    service.start(ctx);
  }
  ConfigSchema schema;
  Config config = Config::load(schema, "", {});
  MetricsRegistry metrics;
  SimClock clock{kBase};
  ScriptedBus bus;
  ServiceContext ctx;
  TwoInputTotal service;
};

// A key whose state holds a delivery that is not committed yet (held back with the rest of its
// input by the time-ordered merge) is not written with the older marks: it is written after the
// commit that covers it, with that delivery's offset.
TEST(StateCheckpoint, AKeyWithUncommittedDeliveriesIsWrittenAfterTheCommit) {
  ScriptedProcess p;
  p.service.poll();  // the interval starts
  p.bus.deliver("a", "x", 0, 0, kBase + 1);
  p.bus.deliver("a", "x", 0, 1, kBase + 2);
  p.bus.deliver("a", "x", 0, 2, kBase + 3);
  p.bus.deliver("b", "k", 1, 7, kBase + 1);
  p.bus.deliver("b", "k", 1, 8, kBase + 20);
  p.clock.set(kBase + kInterval);
  p.service.poll();  // handles x@1, k@1, x@2; k@20 is held back, so b is not committed
  EXPECT_EQ(p.service.totals["k"], 1);
  EXPECT_EQ(p.bus.newest("total/x")["inputs"]["a"], nlohmann::json({0, 1}));
  EXPECT_TRUE(p.bus.newest("total/k").is_null()) << "k was written with a mark short of its state";
  p.service.poll();  // the rest: both inputs committed
  EXPECT_EQ(p.service.totals["k"], 2);
  EXPECT_EQ(p.bus.newest("total/k")["inputs"]["b"], nlohmann::json({1, 8}));
  EXPECT_EQ(p.bus.newest("total/k")["state"]["total"], 2);
}

// A key whose partition this process no longer holds is not written (its next owner writes it);
// a gained partition restores the keys it carries, except a key whose state is live here through
// the other input; deliveries the restored checkpoint covers are skipped.
TEST(StateCheckpoint, RestoresOnlyKeysNotLiveHereAndWritesOnlyHeldKeys) {
  ScriptedProcess p;
  p.service.poll();
  p.bus.deliver("b", "live", 2, 0, kBase + 1);
  p.bus.deliver("b", "gone", 3, 0, kBase + 1);
  p.service.poll();
  p.bus.lost["b"] = {3};
  p.clock.set(kBase + kInterval);
  p.service.poll();
  EXPECT_FALSE(p.bus.newest("total/live").is_null());
  EXPECT_TRUE(p.bus.newest("total/gone").is_null()) << "wrote a key whose partition is another's";
  EXPECT_FALSE(p.service.holds_key("gone")) << "timers would act for a key another process owns";
  EXPECT_TRUE(p.service.holds_key("live"));
  EXPECT_TRUE(p.service.holds_key("never-seen"));

  // Another process's checkpoints of "live" and "moved", both on partition 2 of "a".
  auto record = [](const std::string& key, int total) {
    return StateRecord{"total/" + key, nlohmann::json{{"v", 1},
                                                      {"inputs", {{"a", {2, 10}}, {"b", {2, 0}}}},
                                                      {"state", {{"total", total}}}}
                                           .dump()};
  };
  p.bus.state.push_back(record("live", 50));
  p.bus.state.push_back(record("moved", 70));
  p.bus.gained["a"] = {2};
  p.bus.deliver("a", "moved", 2, 10, kBase + kInterval + 1);  // covered by the checkpoint: skipped
  p.bus.deliver("a", "moved", 2, 11, kBase + kInterval + 2);
  p.service.poll();
  EXPECT_EQ(p.service.totals["live"], 1) << "restored over state that was live through input b";
  EXPECT_EQ(p.service.totals["moved"], 71);
  EXPECT_NE(p.metrics.render().find("selfheal_events_in_checkpoint_total{service=\"total\",topic=\"a\"} 1"),
            std::string::npos);
}

}  // namespace
}  // namespace selfheal
