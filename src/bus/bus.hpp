// The event bus between services. Two implementations: InProcessBus (one process, `selfheal all`)
// and KafkaBus (microservices). Semantics both keep:
//  * a topic has partitions; an event goes to partition hash(key) % partitions, key = its service,
//    so one service's events keep their order;
//  * every consumer group sees every event published after it subscribed; within a group each
//    partition is read by one member at a time;
//  * publish blocks while the partition is full (backpressure): nothing is dropped silently, and
//    each time a producer has to wait is counted;
//  * consumers commit after processing an event and publishing its outputs (at-least-once).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "contracts/events.hpp"

namespace selfheal {

struct Delivery {
  std::string topic;
  int partition = 0;
  std::int64_t offset = 0;
  Event event;
  // Read again to rebuild the consumer's state (see SubscribeOptions): its outputs were produced
  // and committed by the partition's previous owner, so the consumer must not publish them again.
  bool rebuild = false;
};

// State rebuild on partition assignment (over a bus that moves partitions between processes):
// a partition gained with a committed offset C is read again from up to `rebuild_max_events`
// messages before C, and of those, the ones stamped within `rebuild_lookback_ms` of the message at
// C-1 are handed out with Delivery::rebuild set, oldest first, before anything from C on.
// 0 for either: no rebuild (the default).
struct SubscribeOptions {
  std::int64_t rebuild_lookback_ms = 0;
  std::int64_t rebuild_max_events = 0;
};

enum class PublishStatus { Ok, Closed, Failed };

class Subscription {
 public:
  virtual ~Subscription() = default;
  // Appends up to `max` ready events to `out` without blocking; returns how many.
  virtual std::size_t poll(std::vector<Delivery>& out, std::size_t max) = 0;
  // Blocks until an event may be ready, the bus closes, or `timeout` passes.
  virtual void wait(std::chrono::milliseconds timeout) = 0;
  // Everything polled so far has been processed and its outputs published.
  virtual void commit() = 0;
  virtual const std::string& topic() const = 0;
  virtual const std::string& group() const = 0;
  // Rebuild deliveries are still to come (or being handed out) for some assigned partition.
  virtual bool rebuilding() const { return false; }
  // Partitions given to this member since the last call that it did not hold until then: the
  // state of their keys is elsewhere (a checkpoint, see runtime/keyed_state.hpp). A bus that never
  // moves partitions has none.
  virtual std::vector<int> take_gained_partitions() { return {}; }
  // Whether this member holds `partition` now (it may write checkpoints for its keys).
  virtual bool holds(int /*partition*/) const { return true; }
};

// One record of a state changelog (runtime/keyed_state.hpp): the newest value of a key wins.
struct StateRecord {
  std::string key;
  std::string value;
};

class Bus {
 public:
  virtual ~Bus() = default;
  // Publishes keyed by event_key(event); blocks while the target partition is full.
  virtual PublishStatus publish(std::string_view topic, Event event) = 0;
  virtual std::unique_ptr<Subscription> subscribe(std::string_view topic, std::string_view group) = 0;
  // The same with a state rebuild on assignment; a bus that never moves partitions ignores it.
  virtual std::unique_ptr<Subscription> subscribe(std::string_view topic, std::string_view group,
                                                  const SubscribeOptions& /*options*/) {
    return subscribe(topic, group);
  }
  // State checkpoints (runtime/keyed_state.hpp) go to a changelog topic, not as events: no
  // service consumes them, a process reads them back when it gains a partition. Keyed by `key`
  // (the newest record of a key is the one that counts; Kafka can compact the topic on it). A bus
  // that never moves partitions keeps none: publish_state is a no-op, read_state empty.
  virtual PublishStatus publish_state(std::string_view /*topic*/, const std::string& /*key*/,
                                      const std::string& /*value*/, std::int64_t /*ts_ms*/) {
    return PublishStatus::Ok;
  }
  // Every record of `topic` up to its end when called, in offset order per partition. Throws
  // std::runtime_error saying what failed when it cannot be read within `timeout`.
  virtual std::vector<StateRecord> read_state(std::string_view /*topic*/, std::chrono::milliseconds /*timeout*/) {
    return {};
  }
  // Waits until everything published has been handed to the transport (Kafka: acknowledged).
  virtual void flush(std::chrono::milliseconds timeout) = 0;
  // Wakes every blocked producer and consumer; later publishes return Closed.
  virtual void close() = 0;
  // Whether a consumer may see an event again (after a crash, a rebalance or a retry before its
  // commit): consumers of such a bus skip what they already handled and derive output ids from it.
  virtual bool may_redeliver() const { return true; }
};

// Stable partition of a key (FNV-1a), the same in every process.
int partition_for_key(std::string_view key, int partitions);

}  // namespace selfheal
