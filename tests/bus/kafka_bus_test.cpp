// KafkaBus against librdkafka's mock cluster, in process: real Kafka protocol, consumer groups and
// committed offsets.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <map>

#include "bus/kafka_bus.hpp"
#include "support/mock_kafka_cluster.hpp"
#include "contracts/events_json.hpp"
#include "core/metrics.hpp"

namespace selfheal {
namespace {

// Every test starts its own cluster with the topics it uses.
struct MockCluster : testing::MockKafkaCluster {
  MockCluster() : MockKafkaCluster({"logs.raw", "anomalies", "selfheal.dead-letter"}) {}
};

KafkaOptions options(const MockCluster& c) {
  KafkaOptions o;
  o.bootstrap_servers = c.bootstraps();
  o.properties = {"log_level=2"};
  return o;
}

RawLog raw(const std::string& service, int seq) {
  return RawLog{service + "-" + std::to_string(seq), 1000 + seq, service, service + "-0", "line"};
}

// Polls until `want` deliveries arrived or 30 s passed (group joins take a few seconds).
std::vector<Delivery> poll_for(Subscription& s, std::size_t want) {
  std::vector<Delivery> out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (out.size() < want && std::chrono::steady_clock::now() < deadline) {
    if (s.poll(out, want - out.size()) == 0) s.wait(std::chrono::milliseconds(100));
  }
  return out;
}

TEST(KafkaBus, KeyedEventsKeepTheirOrderAndEveryGroupSeesThem) {
  MockCluster cluster;
  MetricsRegistry metrics;
  KafkaBus bus(options(cluster), &metrics);
  auto a = bus.subscribe("logs.raw", "group-a");
  auto b = bus.subscribe("logs.raw", "group-b");
  for (int i = 0; i < 50; ++i)
    for (const char* svc : {"orders", "payments", "search"}) ASSERT_EQ(bus.publish("logs.raw", raw(svc, i)), PublishStatus::Ok);
  bus.flush(std::chrono::seconds(5));
  for (auto* sub : {a.get(), b.get()}) {
    auto got = poll_for(*sub, 150);
    ASSERT_EQ(got.size(), 150u) << sub->group();
    std::map<std::string, TimeMs> last;
    std::map<std::string, int> partition;
    for (const auto& d : got) {
      const auto& e = std::get<RawLog>(d.event);
      EXPECT_GT(e.ts, last[e.service]) << e.service;
      last[e.service] = e.ts;
      if (partition.count(e.service)) {
        EXPECT_EQ(partition[e.service], d.partition) << "one key, one partition";
      }
      partition[e.service] = d.partition;
    }
    sub->commit();
  }
}

TEST(KafkaBus, MalformedMessageGoesToDeadLetterAndDoesNotBlockThePartition) {
  MockCluster cluster;
  MetricsRegistry metrics;
  KafkaBus bus(options(cluster), &metrics);
  // A foreign producer writes garbage, then a valid event, with the same key (same partition).
  {
    std::string err;
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    conf->set("bootstrap.servers", cluster.bootstraps(), err);
    std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
    std::string garbage = "{\"type\":\"raw_log\",\"v\":1,\"data\":{\"id\":\"x\"}}";
    std::string key = "orders";
    p->produce("logs.raw", RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY, garbage.data(),
               garbage.size(), key.data(), key.size(), 0, nullptr);
    std::string good = encode_event(raw("orders", 1));
    p->produce("logs.raw", RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY, good.data(), good.size(),
               key.data(), key.size(), 0, nullptr);
    p->flush(5000);
  }
  auto sub = bus.subscribe("logs.raw", "g");
  auto got = poll_for(*sub, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(std::get<RawLog>(got[0].event).id, "orders-1");
  sub->commit();
  bus.flush(std::chrono::seconds(5));

  // Read the dead-letter topic raw, with its headers.
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", cluster.bootstraps(), err);
  conf->set("group.id", "dlq-reader", err);
  conf->set("auto.offset.reset", "earliest", err);
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  c->subscribe({"selfheal.dead-letter"});
  std::unique_ptr<RdKafka::Message> m;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    m.reset(c->consume(200));
    if (m && m->err() == RdKafka::ERR_NO_ERROR) break;
  }
  ASSERT_TRUE(m && m->err() == RdKafka::ERR_NO_ERROR);
  RdKafka::Headers* h = m->headers();
  ASSERT_NE(h, nullptr);
  auto header = [&](const std::string& k) {
    auto v = h->get_last(k);
    return std::string(static_cast<const char*>(v.value()), v.value_size());
  };
  EXPECT_EQ(header("selfheal-error"), "data.ts: missing");
  EXPECT_EQ(header("selfheal-original-topic"), "logs.raw");
  EXPECT_EQ(header("selfheal-original-offset"), "0");
  c->close();
  EXPECT_NE(metrics.render().find("selfheal_bus_dead_letters_total{topic=\"logs.raw\"} 1"), std::string::npos);
}

TEST(KafkaBus, UncommittedEventsAreReadAgainCommittedOnesAreNot) {
  MockCluster cluster;
  KafkaBus bus(options(cluster), nullptr);
  for (int i = 0; i < 10; ++i) bus.publish("anomalies", raw("orders", i));  // any event type will do
  bus.flush(std::chrono::seconds(5));
  {
    auto first = bus.subscribe("anomalies", "g");
    EXPECT_EQ(poll_for(*first, 10).size(), 10u);
    // Destroyed without commit(): processing "crashed" before its outputs were published.
  }
  {
    auto second = bus.subscribe("anomalies", "g");
    auto again = poll_for(*second, 10);
    ASSERT_EQ(again.size(), 10u);
    EXPECT_EQ(std::get<RawLog>(again.front().event).id, "orders-0");
    second->commit();
  }
  bus.publish("anomalies", raw("orders", 10));
  bus.flush(std::chrono::seconds(5));
  auto third = bus.subscribe("anomalies", "g");
  auto rest = poll_for(*third, 1);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(std::get<RawLog>(rest[0].event).id, "orders-10");
}

}  // namespace
}  // namespace selfheal

namespace selfheal {
namespace {

// A partition whose committed offset the broker no longer holds (retention dropped it while nobody
// read: dev-broker keeps ~5 MB per partition) resumes at the oldest message it still holds instead
// of stalling — also when the consumer wants a state rebuild from before that offset.
TEST(KafkaBus, CommittedOffsetDroppedByRetentionResumesAtTheOldestRetained) {
  for (bool rebuild : {true}) {
    MockCluster cluster;
    KafkaBus bus(options(cluster), nullptr);
    SubscribeOptions so;
    if (rebuild) {
      so.rebuild_lookback_ms = 600'000;
      so.rebuild_max_events = 20000;
    }
    const std::string filler(1000, 'x');
    auto big = [&](int i) { return RawLog{"orders-" + std::to_string(i), 1000 + i, "orders", "orders-0", filler}; };
    for (int i = 0; i < 10; ++i) ASSERT_EQ(bus.publish("anomalies", big(i)), PublishStatus::Ok);
    bus.flush(std::chrono::seconds(5));
    {
      auto first = bus.subscribe("anomalies", "g", so);
      ASSERT_EQ(poll_for(*first, 10).size(), 10u);
      first->commit();
    }
    // ~12 MB more on the same key (one partition): more than the mock keeps.
    for (int i = 10; i < 12000; ++i) ASSERT_EQ(bus.publish("anomalies", big(i)), PublishStatus::Ok);
    bus.flush(std::chrono::seconds(10));
    auto second = bus.subscribe("anomalies", "g", so);
    std::vector<Delivery> got;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    bool last_seen = false;
    while (!last_seen && std::chrono::steady_clock::now() < deadline) {
      got.clear();
      if (second->poll(got, 1000) == 0) second->wait(std::chrono::milliseconds(100));
      for (const auto& d : got) last_seen = last_seen || std::get<RawLog>(d.event).id == "orders-11999";
      second->commit();
    }
    EXPECT_TRUE(last_seen) << "rebuild=" << rebuild << ": the partition stalled";
  }
}

}  // namespace
}  // namespace selfheal
