// State rebuild on partition assignment (issue 6 point 4): a stateful EventService that gains a
// partition someone consumed before — after a restart, or when a group member leaves — re-reads
// the look-back before the committed offset, so its state is what it would have been had it never
// moved, and publishes nothing for what it re-read (the previous owner did).
//
// Over KafkaBus against librdkafka's in-process mock cluster (real protocol, groups, commits), plus
// a scripted bus for the timer rules.
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <map>
#include <set>

#include "bus/kafka_bus.hpp"
#include "support/mock_kafka_cluster.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/metrics.hpp"
#include "runtime/event_service.hpp"

namespace selfheal {
namespace {

using namespace std::chrono_literals;

constexpr TimeMs kBase = 1'767'225'600'000;  // 2026-01-01, event time of round 0
constexpr TimeMs kWindow = 5'000;            // the counter's window (event time)
constexpr TimeMs kLookback = 10'000;         // rebuild look-back: longer than the window
constexpr int kKeys = 8;

// Every test starts its own cluster with the topics it uses.
struct MockCluster : testing::MockKafkaCluster {
  MockCluster() : MockKafkaCluster({"logs.raw", "out", "selfheal.dead-letter"}) {}
};

KafkaOptions options(const MockCluster& c) {
  KafkaOptions o;
  o.bootstrap_servers = c.bootstraps();
  // Short fetch waits: the test drives one round trip after another.
  o.properties = {"log_level=2", "fetch.wait.max.ms=20"};
  return o;
}

std::string key(int k) { return "svc" + std::to_string(k); }
std::string input_id(int k, int round) { return key(k) + "-" + std::to_string(round); }
RawLog input(int k, int round) { return RawLog{input_id(k, round), kBase + round * 1000, key(k), key(k) + "-0", "x"}; }

// Stateful: for every input it publishes how many inputs of the same key fall in the window
// ending at the input's time. Right only if the service has seen the key's recent past, whichever
// process saw it first.
class WindowCounter final : public EventService {
 public:
  std::string_view name() const override { return "counter"; }
  void start(ServiceContext& ctx) override {
    bind(ctx);
    consume("logs.raw");
  }
  std::size_t normal_handled = 0;
  std::set<std::string> normal_keys;             // keys of inputs handled normally
  std::map<std::string, int> rebuilt_per_key;    // rebuild deliveries handled, by key

 protected:
  void handle(const Delivery& d) override {
    const auto& r = std::get<RawLog>(d.event);
    auto& times = recent_[r.service];
    times.push_back(r.ts);
    while (!times.empty() && times.front() <= r.ts - kWindow) times.pop_front();
    if (d.rebuild) {
      ++rebuilt_per_key[r.service];
    } else {
      ++normal_handled;
      normal_keys.insert(r.service);
    }
    RawLog out{next_id(), r.ts, r.service, r.pod, std::to_string(times.size())};
    emit("out", std::move(out));
  }

 private:
  std::map<std::string, std::deque<TimeMs>> recent_;
};

// One "process": its own bus connection, metrics and service.
struct Process {
  Process(const MockCluster& cluster, bool rebuild)
      : bus(options(cluster), &metrics), ctx{bus, clock, config, metrics, nullptr, nullptr, "r1"} {
    if (rebuild) {
      ctx.rebuild.rebuild_lookback_ms = kLookback;
      ctx.rebuild.rebuild_max_events = 20000;
    }
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
  WindowCounter service;
};

// Reads every output from the start, in its own group: id -> how many times published, and the
// count each carried.
class Observer {
 public:
  explicit Observer(const MockCluster& cluster) : bus_(options(cluster), nullptr), sub_(bus_.subscribe("out", "observer")) {}
  void read() {
    std::vector<Delivery> batch;
    while (sub_->poll(batch, 1000) > 0) {
      for (auto& d : batch) {
        const auto& r = std::get<RawLog>(d.event);
        ++times_[r.id];
        count_[r.id] = std::stoi(r.line);
      }
      batch.clear();
    }
    sub_->commit();
  }
  void wait() { sub_->wait(20ms); }
  const std::map<std::string, int>& times() const { return times_; }
  const std::map<std::string, int>& count() const { return count_; }

 private:
  KafkaBus bus_;
  std::unique_ptr<Subscription> sub_;
  std::map<std::string, int> times_, count_;
};

void publish_rounds(KafkaBus& bus, int from, int to) {
  for (int round = from; round < to; ++round)
    for (int k = 0; k < kKeys; ++k) ASSERT_EQ(bus.publish("logs.raw", input(k, round)), PublishStatus::Ok);
  bus.flush(5s);
}

// Drives the processes (single thread: each poll handles a batch, then commits it) and the
// observer until the observer has `outputs` distinct ids or 40 s passed.
bool run_until(std::vector<Process*> processes, Observer& observer, std::size_t outputs) {
  const auto deadline = std::chrono::steady_clock::now() + 40s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::size_t handled = 0;
    for (auto* p : processes) handled += p->service.poll();
    observer.read();
    if (observer.times().size() >= outputs) return true;
    if (handled == 0) observer.wait();
  }
  return false;
}

// Every output carries the count a never-moved consumer would give (min(round + 1, 5) with one
// input per key a second and a 5 s window), and none was published twice.
void expect_exact_and_once(const Observer& observer, int rounds) {
  int wrong = 0, twice = 0;
  std::string examples;
  for (int round = 0; round < rounds; ++round)
    for (int k = 0; k < kKeys; ++k) {
      const std::string id = "counter:" + input_id(k, round);
      auto it = observer.count().find(id);
      if (it == observer.count().end()) {
        ADD_FAILURE() << id << " was never published";
        continue;
      }
      const int want = std::min(round + 1, static_cast<int>(kWindow / 1000));
      if (it->second != want && ++wrong <= 5) examples += id + "=" + std::to_string(it->second) + " ";
      if (observer.times().at(id) != 1) ++twice;
    }
  EXPECT_EQ(wrong, 0) << "outputs with a count that misses state, e.g. " << examples;
  EXPECT_EQ(twice, 0) << "outputs published more than once";
  EXPECT_EQ(observer.times().size(), static_cast<std::size_t>(rounds * kKeys));
}

// A restarted consumer (a new process in the same group) starts from the committed offset with the
// look-back before it re-read: its first outputs are as if it had never stopped, and what it
// re-read is neither published again nor committed.
TEST(StateRebuild, RestartedConsumerRebuildsFromTheLookBackAndPublishesNothingTwice) {
  MockCluster cluster;
  Observer observer(cluster);
  KafkaBus producer(options(cluster), nullptr);
  publish_rounds(producer, 0, 30);
  {
    Process first(cluster, /*rebuild=*/true);
    ASSERT_TRUE(run_until({&first}, observer, 30 * kKeys));
    EXPECT_EQ(first.metric("selfheal_events_rebuilt_total{service=\"counter\",topic=\"logs.raw\"}"), 0)
        << "nothing was committed before: no rebuild";
  }  // "stops": everything handled was committed; leaves the group
  publish_rounds(producer, 30, 40);
  auto second = std::make_unique<Process>(cluster, /*rebuild=*/true);
  ASSERT_TRUE(run_until({second.get()}, observer, 40 * kKeys)) << observer.times().size();
  expect_exact_and_once(observer, 40);
  // The look-back reaches 10 s back from the newest re-read input (round 29): rounds 19..29.
  EXPECT_EQ(second->metric("selfheal_events_rebuilt_total{service=\"counter\",topic=\"logs.raw\"}"), 11 * kKeys);
  EXPECT_EQ(second->metric("selfheal_events_suppressed_total{service=\"counter\",topic=\"out\"}"), 11 * kKeys);
  EXPECT_EQ(second->metric("selfheal_events_out_total{service=\"counter\",topic=\"out\"}"), 10 * kKeys);
  EXPECT_EQ(second->service.normal_handled, static_cast<std::size_t>(10 * kKeys));
  second.reset();

  // What was re-read was never committed (the group's offsets never move back): a consumer without
  // a rebuild starts right after round 39.
  publish_rounds(producer, 40, 41);
  Process third(cluster, /*rebuild=*/false);
  ASSERT_TRUE(run_until({&third}, observer, 41 * kKeys));
  EXPECT_EQ(third.service.normal_handled, static_cast<std::size_t>(kKeys));
}

// Without the rebuild the same restart gives wrong counts: the test above could fail.
TEST(StateRebuild, WithoutTheRebuildARestartedConsumerStartsEmpty) {
  MockCluster cluster;
  Observer observer(cluster);
  KafkaBus producer(options(cluster), nullptr);
  publish_rounds(producer, 0, 10);
  {
    Process first(cluster, /*rebuild=*/false);
    ASSERT_TRUE(run_until({&first}, observer, 10 * kKeys));
  }
  publish_rounds(producer, 10, 12);
  Process second(cluster, /*rebuild=*/false);
  ASSERT_TRUE(run_until({&second}, observer, 12 * kKeys));
  EXPECT_EQ(observer.count().at("counter:" + input_id(0, 10)), 1) << "an empty window after the restart";
  EXPECT_EQ(second.metric("selfheal_events_rebuilt_total{service=\"counter\",topic=\"logs.raw\"}"), 0);
}

// Two members share the partitions; one leaves. The survivor re-reads the look-back of the
// partitions it gained — and only those — and every output stays exact, none published twice.
TEST(StateRebuild, SurvivorRebuildsOnlyThePartitionsItGained) {
  MockCluster cluster;
  Observer observer(cluster);
  KafkaBus producer(options(cluster), nullptr);
  auto a = std::make_unique<Process>(cluster, true);
  Process b(cluster, true);
  // Publish a round at a time until both members handle inputs (both are in the group), then the
  // rest of 30 rounds at once.
  int rounds = 0;
  const auto deadline = std::chrono::steady_clock::now() + 40s;
  while (std::chrono::steady_clock::now() < deadline &&
         (a->service.normal_keys.empty() || b.service.normal_keys.empty())) {
    publish_rounds(producer, rounds, rounds + 1);
    ++rounds;
    ASSERT_TRUE(run_until({a.get(), &b}, observer, static_cast<std::size_t>(rounds * kKeys)));
  }
  if (rounds < 30) {
    publish_rounds(producer, rounds, 30);
    rounds = 30;
    ASSERT_TRUE(run_until({a.get(), &b}, observer, static_cast<std::size_t>(rounds * kKeys)));
  }
  ASSERT_FALSE(a->service.normal_keys.empty());
  ASSERT_FALSE(b.service.normal_keys.empty()) << "the second member never got a partition";
  // Who holds what now: the keys each handled in the last round.
  std::set<std::string> held_by_b;
  const auto before = b.service.normal_handled;
  b.service.normal_keys.clear();
  a->service.normal_keys.clear();
  publish_rounds(producer, rounds, rounds + 1);
  ++rounds;
  ASSERT_TRUE(run_until({a.get(), &b}, observer, static_cast<std::size_t>(rounds * kKeys)));
  held_by_b = b.service.normal_keys;
  const std::set<std::string> held_by_a = a->service.normal_keys;
  ASSERT_FALSE(held_by_a.empty());
  ASSERT_FALSE(held_by_b.empty());
  ASSERT_GT(b.service.normal_handled, before);

  const auto rebuilt_before = b.service.rebuilt_per_key;
  a.reset();  // leaves the group: its partitions move to b
  publish_rounds(producer, rounds, rounds + 10);
  rounds += 10;
  ASSERT_TRUE(run_until({&b}, observer, static_cast<std::size_t>(rounds * kKeys))) << observer.times().size();
  expect_exact_and_once(observer, rounds);
  for (const auto& k : held_by_a) {
    const int n = b.service.rebuilt_per_key[k] - (rebuilt_before.count(k) ? rebuilt_before.at(k) : 0);
    EXPECT_EQ(n, 11) << k << ": a gained key's look-back (10 s back from its newest committed input)";
  }
  for (const auto& k : held_by_b) {
    const int n = b.service.rebuilt_per_key[k] - (rebuilt_before.count(k) ? rebuilt_before.at(k) : 0);
    EXPECT_EQ(n, 0) << k << " stayed with b: nothing to rebuild";
  }
}

// The rules inside EventService, over a scripted subscription: outputs made while handling a
// rebuild delivery are not published; outputs made by timers are held back only for the keys
// being rebuilt, and only until the rebuild is over.
class ScriptedBus final : public Bus {
 public:
  class Sub final : public Subscription {
   public:
    explicit Sub(ScriptedBus& bus) : bus_(bus) {}
    std::size_t poll(std::vector<Delivery>& out, std::size_t max) override {
      std::size_t n = 0;
      while (n < max && !bus_.queue.empty()) {
        out.push_back(bus_.queue.front());
        bus_.queue.pop_front();
        ++n;
      }
      return n;
    }
    void wait(std::chrono::milliseconds) override {}
    void commit() override {}
    bool rebuilding() const override { return bus_.rebuilding; }
    const std::string& topic() const override { return topic_; }
    const std::string& group() const override { return topic_; }

   private:
    ScriptedBus& bus_;
    std::string topic_ = "logs.raw";
  };
  PublishStatus publish(std::string_view, Event e) override {
    published.push_back(std::get<RawLog>(e).service);
    return PublishStatus::Ok;
  }
  std::unique_ptr<Subscription> subscribe(std::string_view, std::string_view) override {
    return std::make_unique<Sub>(*this);
  }
  void flush(std::chrono::milliseconds) override {}
  void close() override {}
  void deliver(const std::string& service, bool rebuild) {
    Delivery d;
    d.topic = "logs.raw";
    d.event = RawLog{service + std::to_string(++seq), kBase, service, service + "-0", "x"};
    d.rebuild = rebuild;
    queue.push_back(std::move(d));
  }
  std::deque<Delivery> queue;
  bool rebuilding = false;
  std::vector<std::string> published;
  int seq = 0;
};

class Ticker final : public EventService {
 public:
  std::string_view name() const override { return "ticker"; }
  void start(ServiceContext& ctx) override {
    bind(ctx);
    consume("logs.raw");
  }
  void on_tick(TimeMs now) override {
    for (const auto& s : keys) emit("out", RawLog{next_id(), now, s, s + "-0", "timer"});
  }
  std::set<std::string> keys;

 protected:
  void handle(const Delivery& d) override {
    const auto& r = std::get<RawLog>(d.event);
    keys.insert(r.service);
    emit("out", RawLog{next_id(), r.ts, r.service, r.pod, "handler"});
  }
};

TEST(StateRebuild, TimersPublishForKeysNotBeingRebuiltOnly) {
  ConfigSchema schema;
  Config config = Config::load(schema, "", {});
  MetricsRegistry metrics;
  SimClock clock{kBase};
  ScriptedBus bus;
  ServiceContext ctx{bus, clock, config, metrics, nullptr, nullptr, "r1"};
  Ticker t;
  t.start(ctx);
  bus.deliver("held", false);  // a key this process already had
  t.poll();
  EXPECT_EQ(bus.published, (std::vector<std::string>{"held"}));
  bus.published.clear();

  bus.rebuilding = true;  // a partition was gained: its look-back comes first
  bus.deliver("gained", true);
  t.poll();
  EXPECT_TRUE(bus.published.empty()) << "a rebuild delivery's output was published";
  t.on_tick(kBase + 1000);
  EXPECT_EQ(bus.published, (std::vector<std::string>{"held"})) << "timers: only the held key publishes";
  bus.published.clear();
  bus.deliver("held", false);  // inputs past the committed offset publish as usual, even mid-rebuild
  t.poll();
  EXPECT_EQ(bus.published, (std::vector<std::string>{"held"}));
  bus.published.clear();

  bus.rebuilding = false;  // the look-back is handled: the gained key is current
  t.on_tick(kBase + 2000);
  EXPECT_EQ(bus.published, (std::vector<std::string>{"gained", "held"}));
  EXPECT_NE(metrics.render().find("selfheal_events_suppressed_total{service=\"ticker\",topic=\"out\"} 2"),
            std::string::npos)
      << metrics.render();
}

}  // namespace
}  // namespace selfheal
