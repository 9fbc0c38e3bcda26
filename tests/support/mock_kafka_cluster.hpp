// librdkafka's in-process mock cluster (one broker) for tests of the Kafka bus: real Kafka protocol
// on 127.0.0.1 without a Kafka install. In memory only; it lives as long as this object.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <initializer_list>
#include <string>

namespace selfheal::testing {

class MockKafkaCluster {
 public:
  // Creates each topic with `partitions` partitions (replication factor 1).
  explicit MockKafkaCluster(std::initializer_list<const char*> topics, int partitions = 4) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err);
    rd_kafka_conf_set(conf, "log_level", "2", err, sizeof err);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    mc_ = rd_kafka_handle_mock_cluster(rk_);
    for (const char* t : topics) rd_kafka_mock_topic_create(mc_, t, partitions, 1);
  }
  ~MockKafkaCluster() { rd_kafka_destroy(rk_); }
  MockKafkaCluster(const MockKafkaCluster&) = delete;
  MockKafkaCluster& operator=(const MockKafkaCluster&) = delete;

  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(mc_); }

 private:
  rd_kafka_t* rk_;
  rd_kafka_mock_cluster_t* mc_;
};

}  // namespace selfheal::testing
