// The in-process bus keeps the semantics the Kafka bus will keep: partition by key, every group
// sees every event, order per key, and backpressure that blocks instead of dropping.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "bus/in_process_bus.hpp"
#include "core/metrics.hpp"

namespace selfheal {
namespace {

RawLog log_event(const std::string& service, int seq) {
  return RawLog{service + "-" + std::to_string(seq), 1000 + seq, service, service + "-pod", "line " + std::to_string(seq)};
}

std::vector<Delivery> poll_all(Subscription& s) {
  std::vector<Delivery> out;
  while (s.poll(out, 1000) > 0) {
  }
  return out;
}

TEST(InProcessBus, EveryGroupSeesEveryEventInOrderPerKey) {
  InProcessBus bus({4, 1000});
  auto a = bus.subscribe("logs.raw", "group-a");
  auto b = bus.subscribe("logs.raw", "group-b");
  for (int i = 0; i < 100; ++i)
    for (const char* svc : {"orders", "payments", "search"})
      ASSERT_EQ(bus.publish("logs.raw", log_event(svc, i)), PublishStatus::Ok);
  for (auto* sub : {a.get(), b.get()}) {
    auto got = poll_all(*sub);
    ASSERT_EQ(got.size(), 300u);
    std::map<std::string, TimeMs> last;
    for (const auto& d : got) {
      const auto& e = std::get<RawLog>(d.event);
      EXPECT_GT(e.ts, last[e.service]) << "order broken for " << e.service;
      last[e.service] = e.ts;
      EXPECT_EQ(d.partition, partition_for_key(e.service, 4));
    }
  }
}

TEST(InProcessBus, MembersOfOneGroupSharePartitions) {
  InProcessBus bus({4, 1000});
  auto m1 = bus.subscribe("t", "g");
  auto m2 = bus.subscribe("t", "g");
  for (int i = 0; i < 50; ++i)
    for (const char* svc : {"a", "b", "c", "d", "e", "f", "g", "h"}) bus.publish("t", log_event(svc, i));
  auto got1 = poll_all(*m1);
  auto got2 = poll_all(*m2);
  EXPECT_EQ(got1.size() + got2.size(), 400u);  // each event to exactly one member
  std::set<int> p1, p2;
  for (auto& d : got1) p1.insert(d.partition);
  for (auto& d : got2) p2.insert(d.partition);
  for (int p : p1) EXPECT_FALSE(p2.count(p)) << "partition " << p << " read by both members";

  // When a member leaves, the other takes over its partitions.
  m2.reset();
  for (const char* svc : {"a", "b", "c", "d", "e", "f", "g", "h"}) bus.publish("t", log_event(svc, 99));
  EXPECT_EQ(poll_all(*m1).size(), 8u);
}

TEST(InProcessBus, FullQueueBlocksTheProducerAndDropsNothing) {
  MetricsRegistry metrics;
  InProcessBus bus({1, 8}, &metrics);
  auto sub = bus.subscribe("t", "g");
  std::atomic<int> published{0};
  std::thread producer([&] {
    for (int i = 0; i < 100; ++i) {
      ASSERT_EQ(bus.publish("t", log_event("svc", i)), PublishStatus::Ok);
      published.fetch_add(1);
    }
  });
  // The producer must stall at the capacity until the consumer takes events.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (published.load() < 8 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(published.load(), 8);
  EXPECT_EQ(bus.depth("t"), 8u);
  std::vector<Delivery> got;
  while (got.size() < 100 && std::chrono::steady_clock::now() < deadline) {
    if (sub->poll(got, 3) == 0) sub->wait(std::chrono::milliseconds(50));
  }
  producer.join();
  ASSERT_EQ(got.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(std::get<RawLog>(got[i].event).ts, 1000 + i);
  EXPECT_GE(bus.blocked_publishes(), 1u);
  EXPECT_NE(metrics.render().find("selfheal_bus_publish_blocked_total{topic=\"t\"}"), std::string::npos);
}

TEST(InProcessBus, BackpressureHandlerLetsASingleThreadMakeRoom) {
  InProcessBus bus({1, 4});
  auto sub = bus.subscribe("t", "g");
  std::vector<Delivery> consumed;
  int handler_calls = 0;
  bus.set_backpressure_handler([&] {
    ++handler_calls;
    return sub->poll(consumed, 2) > 0;
  });
  for (int i = 0; i < 20; ++i) ASSERT_EQ(bus.publish("t", log_event("svc", i)), PublishStatus::Ok);
  poll_all(*sub).swap(consumed);  // remaining ones
  EXPECT_GT(handler_calls, 0);
}

TEST(InProcessBus, CloseWakesBlockedProducersAndRefusesLater) {
  InProcessBus bus({1, 1});
  auto sub = bus.subscribe("t", "g");
  ASSERT_EQ(bus.publish("t", log_event("svc", 0)), PublishStatus::Ok);
  std::atomic<int> status{-1};
  std::thread producer([&] { status = static_cast<int>(bus.publish("t", log_event("svc", 1))); });
  bus.close();
  producer.join();
  EXPECT_EQ(status.load(), static_cast<int>(PublishStatus::Closed));
  EXPECT_EQ(bus.publish("t", log_event("svc", 2)), PublishStatus::Closed);
}

TEST(InProcessBus, PartitionForKeyIsStable) {
  // The same key always lands on the same partition, in every process.
  EXPECT_EQ(partition_for_key("orders", 8), partition_for_key("orders", 8));
  EXPECT_EQ(partition_for_key("anything", 1), 0);
  std::set<int> used;
  for (const char* k : {"frontend", "orders", "payments", "search", "inventory", "cache", "postgres"})
    used.insert(partition_for_key(k, 4));
  EXPECT_GT(used.size(), 1u);
}

}  // namespace
}  // namespace selfheal
