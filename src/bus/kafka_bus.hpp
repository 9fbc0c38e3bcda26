// The Bus over Apache Kafka (librdkafka's C++ API), for running each service as its own process.
//
// Producer: idempotent, acks=all; the key is the event's service, so a service's events stay ordered
// in one partition; the value is the versioned JSON of the event (contracts/events_json.hpp). A full
// local queue makes publish() wait (backpressure), counted like the in-process bus.
// Consumers: one KafkaConsumer per subscription in its consumer group; offsets are committed only by
// commit(), which EventService calls after an event's outputs are published (at-least-once). A
// message that cannot be decoded goes to the dead-letter topic with the reason and its original
// topic/partition/offset, and never blocks its partition.
//
// Threading: publish() is thread-safe. A subscription belongs to one thread (its service's).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bus/bus.hpp"

namespace RdKafka {
class Producer;
}

namespace selfheal {

class Config;
class ConfigSchema;
class MetricsRegistry;

struct KafkaOptions {
  std::string bootstrap_servers;
  std::string client_id = "selfheal";
  std::string topic_prefix;       // prepended to every topic name (several installs on one cluster)
  int partitions = 4;             // for topics selfheal creates
  int replication_factor = 1;
  std::string dead_letter_topic = "selfheal.dead-letter";
  std::vector<std::string> properties;  // "name=value" librdkafka settings for every client
  bool create_topics = true;
};

void declare_kafka_config(ConfigSchema& schema);
KafkaOptions kafka_options_from_config(const Config& config);

class KafkaBus final : public Bus {
 public:
  // Throws std::runtime_error naming the setting when librdkafka refuses the configuration.
  KafkaBus(KafkaOptions options, MetricsRegistry* metrics);
  ~KafkaBus() override;

  PublishStatus publish(std::string_view topic, Event event) override;
  std::unique_ptr<Subscription> subscribe(std::string_view topic, std::string_view group) override;
  // With a state rebuild on assignment (SubscribeOptions in bus.hpp).
  std::unique_ptr<Subscription> subscribe(std::string_view topic, std::string_view group,
                                          const SubscribeOptions& options) override;
  void flush(std::chrono::milliseconds timeout) override;
  void close() override;
  PublishStatus publish_state(std::string_view topic, const std::string& key, const std::string& value,
                              std::int64_t ts_ms) override;
  std::vector<StateRecord> read_state(std::string_view topic, std::chrono::milliseconds timeout) override;

  // Creates the topics that do not exist yet (partitions, replication factor from the options).
  // Returns an empty string on success, else what failed.
  std::string ensure_topics(const std::vector<std::string>& topics, std::chrono::milliseconds timeout);

  // Sends raw bytes to the dead-letter topic with the reason and where they came from.
  void dead_letter(const std::string& original_topic, int partition, std::int64_t offset,
                   const std::string& key, const std::string& payload, const std::string& reason);

  const KafkaOptions& options() const { return options_; }
  std::string full_topic(std::string_view topic) const { return options_.topic_prefix + std::string(topic); }
  MetricsRegistry* metrics() const { return metrics_; }

 private:
  PublishStatus produce(const std::string& topic, const std::string& key, const std::string& payload,
                        const std::vector<std::pair<std::string, std::string>>& headers,
                        std::int64_t timestamp_ms);  // 0: now

  KafkaOptions options_;
  MetricsRegistry* metrics_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> stop_poller_{false};
  std::thread poller_;  // serves delivery reports
};

// `selfheal dev-broker`: librdkafka's in-memory mock cluster, for development and tests only.
int dev_broker_main(int argc, char** argv);

}  // namespace selfheal
