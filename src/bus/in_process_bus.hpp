// The bus of `selfheal all`: bounded in-memory queues, one per (topic, consumer group, partition).
//
// Threading: all methods are thread-safe. A producer that finds a queue full first calls the
// backpressure handler (the deterministic executor installs one that lets consumers drain, since it
// runs every service on one thread), then waits on a condition variable until there is room.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>

#include "bus/bus.hpp"

namespace selfheal {

class MetricsRegistry;

class InProcessBus final : public Bus {
 public:
  struct Options {
    int partitions = 4;
    std::size_t queue_capacity = 65536;  // events per (topic, group, partition)
  };

  InProcessBus(Options options, MetricsRegistry* metrics = nullptr);
  ~InProcessBus() override;

  PublishStatus publish(std::string_view topic, Event event) override;
  using Bus::subscribe;  // with SubscribeOptions: ignored, nothing moves between processes here
  std::unique_ptr<Subscription> subscribe(std::string_view topic, std::string_view group) override;
  void flush(std::chrono::milliseconds) override {}
  void close() override;
  // Each event reaches each group once, in order, within one process.
  bool may_redeliver() const override { return false; }

  // Called without locks held when a publish finds a full queue; returns true if it made room.
  void set_backpressure_handler(std::function<bool()> handler);

  // Undelivered events over every queue of a topic (all groups); for tests and /metrics.
  std::size_t depth(std::string_view topic) const;
  std::uint64_t blocked_publishes() const;

 private:
  friend class InProcessSubscription;
  struct Member;
  struct Group {
    std::vector<std::deque<Delivery>> partitions;
    std::vector<std::int64_t> next_offset;  // per partition, for Delivery::offset
    std::vector<Member*> members;
  };
  struct Topic {
    std::map<std::string, Group, std::less<>> groups;
    std::uint64_t published = 0;
    std::uint64_t blocked = 0;
  };
  struct Member {
    Group* group = nullptr;
    std::string topic;
    std::string group_name;
    std::size_t cursor = 0;
  };

  Topic& topic_locked(std::string_view name);
  bool has_room_locked(const Topic& t, int partition) const;
  std::vector<int> assigned_locked(const Member& m) const;
  void leave(Member* m);

  Options options_;
  MetricsRegistry* metrics_;
  mutable std::mutex mu_;
  std::condition_variable room_;   // signalled when a consumer takes events
  std::condition_variable data_;   // signalled when a producer adds events
  std::map<std::string, Topic, std::less<>> topics_;
  std::function<bool()> backpressure_handler_;
  bool closed_ = false;
};

}  // namespace selfheal
