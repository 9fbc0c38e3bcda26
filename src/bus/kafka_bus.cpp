#include "bus/kafka_bus.hpp"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <deque>
#include <map>
#include <set>
#include <stdexcept>
#include <utility>

#include "contracts/events_json.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"

namespace selfheal {
namespace {

void set_or_throw(RdKafka::Conf& conf, const std::string& name, const std::string& value) {
  std::string err;
  if (conf.set(name, value, err) != RdKafka::Conf::CONF_OK)
    throw std::runtime_error("kafka setting " + name + "=" + value + ": " + err);
}

void apply_properties(RdKafka::Conf& conf, const std::vector<std::string>& properties) {
  for (const auto& p : properties) {
    auto eq = p.find('=');
    if (eq == std::string::npos)
      throw std::runtime_error("kafka.properties entry \"" + p + "\": expected name=value");
    set_or_throw(conf, p.substr(0, eq), p.substr(eq + 1));
  }
}

class DeliveryReports final : public RdKafka::DeliveryReportCb {
 public:
  explicit DeliveryReports(MetricsRegistry* m) : metrics_(m) {}
  void dr_cb(RdKafka::Message& msg) override {
    if (msg.err() == RdKafka::ERR_NO_ERROR) return;
    log::error("kafka", "delivery to {} failed: {}", msg.topic_name(), msg.errstr());
    if (metrics_)
      metrics_->counter("selfheal_kafka_produce_errors_total", "Messages Kafka did not acknowledge",
                        {{"topic", msg.topic_name()}}).inc();
  }

 private:
  MetricsRegistry* metrics_;
};

DeliveryReports* delivery_reports(MetricsRegistry* m) {
  // One per process is enough; librdkafka keeps a pointer for the producer's lifetime.
  static DeliveryReports reports(m);
  return &reports;
}

class KafkaSubscription;

// Commits what was processed before partitions move to another member, so the new owner starts
// after them (and re-reads only what was not committed: at-least-once).
class Rebalance final : public RdKafka::RebalanceCb {
 public:
  explicit Rebalance(KafkaSubscription* s) : sub_(s) {}
  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override;

 private:
  KafkaSubscription* sub_;
};

class KafkaSubscription final : public Subscription {
 public:
  KafkaSubscription(KafkaBus& bus, std::string topic, std::string group, SubscribeOptions options)
      : bus_(bus), topic_(std::move(topic)), group_(std::move(group)), rebalance_(this), options_(options) {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    const auto& o = bus.options();
    set_or_throw(*conf, "bootstrap.servers", o.bootstrap_servers);
    set_or_throw(*conf, "client.id", o.client_id + "-" + group_);
    set_or_throw(*conf, "group.id", group_);
    set_or_throw(*conf, "enable.auto.commit", "false");
    set_or_throw(*conf, "auto.offset.reset", "earliest");
    set_or_throw(*conf, "enable.partition.eof", "true");  // the event-time merge needs to know "caught up"
    // Short group timeouts: a killed member's partitions move within seconds.
    set_or_throw(*conf, "session.timeout.ms", "6000");
    set_or_throw(*conf, "heartbeat.interval.ms", "500");
    // Back at most 1 s between reconnects (the Java client's default; librdkafka's is 10 s), so a
    // broker that comes back is used again within a second.
    set_or_throw(*conf, "reconnect.backoff.max.ms", "1000");
    apply_properties(*conf, o.properties);
    std::string err;
    if (conf->set("rebalance_cb", &rebalance_, err) != RdKafka::Conf::CONF_OK)
      throw std::runtime_error("kafka rebalance callback: " + err);
    consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
    if (!consumer_) throw std::runtime_error("kafka consumer for " + topic_ + ": " + err);
    RdKafka::ErrorCode e = consumer_->subscribe({bus.full_topic(topic_)});
    if (e != RdKafka::ERR_NO_ERROR)
      throw std::runtime_error("kafka subscribe to " + topic_ + ": " + RdKafka::err2str(e));
    if (auto* m = bus.metrics()) {
      lag_ = &m->gauge("selfheal_kafka_consumer_lag_events", "Events not yet consumed, by topic and group",
                       {{"topic", topic_}, {"group", group_}});
      dead_ = &m->counter("selfheal_kafka_consume_errors_total", "Errors reported while consuming",
                          {{"topic", topic_}, {"group", group_}});
    }
  }

  bool rebuild_enabled() const { return options_.rebuild_lookback_ms > 0 && options_.rebuild_max_events > 0; }

  // No commit here: only the service knows what it finished processing (it calls commit()).
  ~KafkaSubscription() override { consumer_->close(); }  // leaves the group so partitions move at once

  // Hands out buffered messages oldest event time first across the assigned partitions, and only
  // while every assigned partition either has a message buffered or has been read to its end: a
  // consumer catching up on a backlog (start, restart, take-over, broker outage) then sees its
  // inputs in event-time order, as the deterministic executor shows them, instead of one
  // partition's minutes ahead of another's (which would close other services' windows early).
  std::size_t poll(std::vector<Delivery>& out, std::size_t max) override {
    fetch(0);
    std::size_t n = 0;
    while (n < max) {
      PartitionBuffer* next = next_in_time();
      if (!next) break;
      std::unique_ptr<RdKafka::Message> msg = std::move(next->messages.front());
      next->messages.pop_front();
      --buffered_;
      const bool rebuild = msg->offset() < next->rebuild_until;
      if (rebuild) {
        if (next->rebuild_buffered > 0) --next->rebuild_buffered;
        ++next->rebuild_handed;
      }
      next->handed_until = std::max(next->handed_until, msg->offset() + 1);
      // The rebuild is over once the last message before the committed offset (or anything after
      // it, if retention dropped the rest) is handed out.
      if (next->rebuild_pending() && next->handed_until >= next->rebuild_until) {
        next->rebuild_done = true;
        log::info("kafka", "group {}: state of {}[{}] rebuilt from {} message(s)", group_, msg->topic_name(),
                  msg->partition(), next->rebuild_handed);
      }
      if (take(*msg, rebuild, out)) ++n;
    }
    if (max > 0) report_stall(n);  // asked for nothing: nothing to report
    update_lag();
    return n;
  }

  void wait(std::chrono::milliseconds timeout) override {
    if (next_in_time()) return;
    fetch(static_cast<int>(timeout.count()));
  }

  void commit() override {
    if (pending_.empty()) return;
    std::vector<RdKafka::TopicPartition*> tps;
    for (const auto& [tp, next] : pending_) {
      auto* p = RdKafka::TopicPartition::create(tp.first, tp.second);
      p->set_offset(next);
      tps.push_back(p);
    }
    RdKafka::ErrorCode e = consumer_->commitSync(tps);
    if (e != RdKafka::ERR_NO_ERROR)
      log::warn("kafka", "commit for group {} on {} failed: {} (events will be re-read)", group_, topic_,
                RdKafka::err2str(e));
    else
      pending_.clear();
    RdKafka::TopicPartition::destroy(tps);
  }

  const std::string& topic() const override { return topic_; }
  const std::string& group() const override { return group_; }

  bool rebuilding() const override {
    for (const auto& [tp, part] : parts_)
      if (part.rebuild_pending()) return true;
    return false;
  }

  std::vector<int> take_gained_partitions() override { return std::exchange(gained_, {}); }

  bool holds(int partition) const override {
    for (const auto& [tp, part] : parts_)
      if (tp.second == partition) return true;
    return false;
  }

  // Offsets of processed events were committed by the service already; events handed out but not yet
  // committed will be read again by the partition's next owner (at-least-once; consumers that must
  // not act twice de-duplicate by event id).
  void on_revoke(const std::vector<RdKafka::TopicPartition*>& partitions) {
    held_before_revoke_.clear();
    for (auto* p : partitions) {
      pending_.erase({p->topic(), p->partition()});
      // Messages fetched but not handed out belong to the next owner now.
      auto it = parts_.find({p->topic(), p->partition()});
      if (it == parts_.end()) continue;
      // Remember how far this process's state goes, unless a rebuild was cut short (then it is
      // incomplete: if the partition comes back, the rebuild starts over; what was handled already
      // is skipped by event id).
      const PartitionBuffer& part = it->second;
      if (part.rebuild_until == 0 || part.rebuild_done)
        held_before_revoke_.insert({p->topic(), p->partition()});
      buffered_ -= part.messages.size();
      parts_.erase(it);
    }
  }

  // Starts every assigned partition at its committed offset C or — with a state rebuild, for a
  // partition this process did not hold until this rebalance (a restart, a take-over) — up to
  // rebuild_max_events before it. The messages before C are handed out as rebuild deliveries and
  // never committed, so the group's offsets never move back. A partition this process held until
  // this rebalance (eager rebalancing revokes everything first, and a broker outage loses and
  // regains every partition) keeps its state and needs no broker round trip here: the callback
  // runs inside consume(), and while it blocks, this process's other consumers in the group (one
  // per input) cannot answer the rebalance either.
  void on_assign(RdKafka::KafkaConsumer* consumer, std::vector<RdKafka::TopicPartition*>& partitions) {
    for (auto* p : partitions) parts_[{p->topic(), p->partition()}] = PartitionBuffer{};
    std::vector<RdKafka::TopicPartition*> gained;
    for (auto* p : partitions)
      if (!held_before_revoke_.count({p->topic(), p->partition()})) {
        gained_.push_back(p->partition());  // for take_gained_partitions(): restore their keys' state
        if (rebuild_enabled()) gained.push_back(p);
      }
    held_before_revoke_.clear();
    if (!gained.empty()) {
      if (consumer->committed(gained, 2000) == RdKafka::ERR_NO_ERROR) {
        for (auto* p : gained) {
          const std::int64_t committed = p->offset();
          if (p->err() != RdKafka::ERR_NO_ERROR || committed <= 0) {
            p->set_offset(RdKafka::Topic::OFFSET_INVALID);  // nothing committed: auto.offset.reset
            continue;
          }
          // If the broker no longer holds `from`, the fetch resets to the oldest it holds
          // (auto.offset.reset=earliest), which is where the rebuild then starts.
          const std::int64_t from = std::max<std::int64_t>(0, committed - options_.rebuild_max_events);
          auto& part = parts_[{p->topic(), p->partition()}];
          part.rebuild_until = committed;
          p->set_offset(from);
          log::info("kafka", "group {}: rebuilding state from {}[{}] offsets {}..{}", group_, p->topic(),
                    p->partition(), from, committed - 1);
        }
      } else {
        // Committed offsets unknown (broker unreachable): start from them without a rebuild.
        for (auto* p : gained) p->set_offset(RdKafka::Topic::OFFSET_INVALID);
      }
    }
    consumer->assign(partitions);
  }

 private:
  // Returns true when the message became a Delivery; false for errors, EOF and dead letters.
  bool take(RdKafka::Message& msg, bool rebuild, std::vector<Delivery>& out) {
    if (msg.err() == RdKafka::ERR__PARTITION_EOF) return false;
    if (msg.err() != RdKafka::ERR_NO_ERROR) {
      if (dead_) dead_->inc();
      log::warn("kafka", "consuming {} for group {}: {}", topic_, group_, msg.errstr());
      return false;
    }
    // A rebuild message is before the committed offset: committing it would move the group back.
    if (!rebuild) pending_[{msg.topic_name(), msg.partition()}] = msg.offset() + 1;
    std::string_view payload(static_cast<const char*>(msg.payload()), msg.len());
    DecodeResult r = decode_event(payload);
    if (!r.ok) {
      if (rebuild) return false;  // dead-lettered by the previous owner already
      std::string key = msg.key() ? *msg.key() : std::string();
      bus_.dead_letter(msg.topic_name(), msg.partition(), msg.offset(), key, std::string(payload), r.error);
      return false;
    }
    Delivery d;
    d.topic = topic_;
    d.partition = msg.partition();
    d.offset = msg.offset();
    d.event = std::move(r.event);
    d.rebuild = rebuild;
    out.push_back(std::move(d));
    return true;
  }

  // Says which partitions the event-time merge waits for when it has handed out nothing for 5 s
  // although messages are buffered (a partition that never answers stalls the whole subscription).
  void report_stall(std::size_t handed) {
    const std::int64_t now = monotonic_ms();
    if (handed > 0 || buffered_ == 0) {
      stalled_since_ms_ = 0;
      return;
    }
    if (stalled_since_ms_ == 0) {
      stalled_since_ms_ = now;
      last_stall_log_ms_ = now;
      return;
    }
    if (now - last_stall_log_ms_ < 5000) return;
    last_stall_log_ms_ = now;
    std::string waiting;
    for (const auto& [tp, part] : parts_)
      if (part.rebuild_loading() || (part.messages.empty() && !part.at_end))
        waiting += (waiting.empty() ? "" : ",") + std::to_string(tp.second) +
                   (part.rebuild_loading() ? "(rebuild loading)" : "");
    log::warn("kafka", "group {} on {}: nothing handed out for {} ms with {} message(s) buffered; waiting for "
              "partition(s) [{}] of {} assigned", group_, topic_, now - stalled_since_ms_, buffered_, waiting,
              parts_.size());
  }

  void update_lag() {
    if (!lag_) return;
    const std::int64_t now = monotonic_ms();
    if (now - last_lag_ms_ < 1000) return;
    last_lag_ms_ = now;
    std::vector<RdKafka::TopicPartition*> assigned;
    if (consumer_->assignment(assigned) != RdKafka::ERR_NO_ERROR) return;
    consumer_->position(assigned);
    double lag = 0;
    for (auto* p : assigned) {
      std::int64_t low = 0, high = 0;
      if (consumer_->get_watermark_offsets(p->topic(), p->partition(), &low, &high) == RdKafka::ERR_NO_ERROR &&
          p->offset() >= 0)
        lag += static_cast<double>(std::max<std::int64_t>(0, high - p->offset()));
    }
    RdKafka::TopicPartition::destroy(assigned);
    lag_->set(lag);
  }

  KafkaBus& bus_;
  std::string topic_, group_;
  Rebalance rebalance_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  struct PartitionBuffer {
    std::deque<std::unique_ptr<RdKafka::Message>> messages;
    bool at_end = false;  // read to the end of the partition (nothing buffered means nothing there)
    std::int64_t handed_until = 0;  // offset after the last message handed out
    // State rebuild: messages before this offset were processed by the previous owner.
    std::int64_t rebuild_until = 0;
    bool rebuild_loaded = false;          // read up to rebuild_until (or cut short): its look-back is known
    std::size_t rebuild_buffered = 0;     // rebuild messages buffered, not handed out yet
    std::int64_t rebuild_newest_ts = -1;  // newest timestamp among the rebuild messages read
    bool rebuild_done = false;            // every rebuild message is handed out (or was dropped)
    std::size_t rebuild_handed = 0;       // rebuild messages handed out
    // A rebuild was asked for and still has messages to hand out / is still reading up to its end.
    bool rebuild_pending() const { return rebuild_until > 0 && !rebuild_done; }
    bool rebuild_loading() const { return rebuild_until > 0 && !rebuild_loaded; }
  };

  // A message before the committed offset arrived for a rebuild: keep only what is within the
  // look-back of the newest such message so far (a long-idle partition does not replay hours, and
  // at most the look-back is buffered). The newest only grows, so what is dropped would be dropped
  // by the final cut as well.
  void add_rebuild_message(PartitionBuffer& part, std::int64_t ts) {
    ++part.rebuild_buffered;
    part.rebuild_newest_ts = std::max(part.rebuild_newest_ts, ts);
    const std::int64_t oldest_kept = part.rebuild_newest_ts - options_.rebuild_lookback_ms;
    while (!part.messages.empty() && part.messages.front()->offset() < part.rebuild_until &&
           part.messages.front()->timestamp().timestamp < oldest_kept) {
      part.messages.pop_front();
      --buffered_;
      --part.rebuild_buffered;
    }
  }
  // Past this many buffered messages a partition that has not answered yet is not waited for.
  static constexpr std::size_t kMaxBuffered = 50000;

  // Moves what librdkafka has ready into the partition buffers; waits up to `timeout_ms` for the
  // first message or event.
  void fetch(int timeout_ms) {
    while (buffered_ < kMaxBuffered) {
      std::unique_ptr<RdKafka::Message> msg(consumer_->consume(timeout_ms));
      timeout_ms = 0;
      if (!msg || msg->err() == RdKafka::ERR__TIMED_OUT) return;
      if (msg->err() == RdKafka::ERR__PARTITION_EOF) {
        if (auto it = parts_.find({msg->topic_name(), msg->partition()}); it != parts_.end()) {
          PartitionBuffer& part = it->second;
          part.at_end = true;
          part.rebuild_loaded = true;  // no more to read, before the committed offset or after
          if (part.rebuild_buffered == 0) part.rebuild_done = true;  // (what was to re-read is gone)
        }
        continue;
      }
      if (msg->err() != RdKafka::ERR_NO_ERROR) {
        if (dead_) dead_->inc();
        log::warn("kafka", "consuming {} for group {}: {}", topic_, group_, msg->errstr());
        continue;
      }
      auto it = parts_.find({msg->topic_name(), msg->partition()});
      if (it == parts_.end()) continue;  // not ours (any more): its next owner reads it from the commit
      PartitionBuffer& part = it->second;
      part.at_end = false;
      const std::int64_t offset = msg->offset();
      const std::int64_t ts = msg->timestamp().timestamp;
      part.messages.push_back(std::move(msg));
      ++buffered_;
      if (offset < part.rebuild_until) add_rebuild_message(part, ts);
      // The last message before the committed offset, or past it (the broker dropped the rest).
      if (offset >= part.rebuild_until - 1) part.rebuild_loaded = true;
    }
  }

  // The partition whose buffered head is the oldest, or nullptr while an assigned partition that
  // may hold older events has not answered yet.
  PartitionBuffer* next_in_time() {
    PartitionBuffer* best = nullptr;
    std::int64_t best_ts = 0;
    bool waiting = false;
    for (auto& [tp, part] : parts_) {
      if (part.rebuild_loading()) {  // its look-back is not known yet
        waiting = true;
        continue;
      }
      if (part.messages.empty()) {
        waiting = waiting || !part.at_end;
        continue;
      }
      const std::int64_t ts = part.messages.front()->timestamp().timestamp;
      if (!best || ts < best_ts) {
        best = &part;
        best_ts = ts;
      }
    }
    if (waiting && buffered_ < kMaxBuffered) return nullptr;
    if (!best && buffered_ >= kMaxBuffered) {
      // The buffer is full of rebuild ranges still loading: stop waiting for their end, or
      // nothing could ever be handed out (what they still read comes out later, as rebuild).
      for (auto& [tp, part] : parts_) part.rebuild_loaded = true;
      return next_in_time();
    }
    return best;
  }

  std::map<std::pair<std::string, int>, PartitionBuffer> parts_;  // assigned partitions
  std::size_t buffered_ = 0;
  std::map<std::pair<std::string, int>, std::int64_t> pending_;  // next offset to commit
  SubscribeOptions options_;
  // Partitions revoked by the rebalance under way (whose state here is complete).
  std::set<std::pair<std::string, int>> held_before_revoke_;
  std::vector<int> gained_;  // partitions newly held, not yet taken by take_gained_partitions()
  Gauge* lag_ = nullptr;
  Counter* dead_ = nullptr;
  std::int64_t last_lag_ms_ = 0;
  std::int64_t stalled_since_ms_ = 0, last_stall_log_ms_ = 0;
};

void Rebalance::rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                             std::vector<RdKafka::TopicPartition*>& partitions) {
  std::string list;
  for (auto* p : partitions) list += (list.empty() ? "" : ",") + std::to_string(p->partition());
  if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
    // Tests and operators wait for this line: the member is in its group and reading.
    log::info("kafka", "group {}: assigned {} partition(s) of {} [{}]", sub_->group(), partitions.size(),
              sub_->topic(), list);
    sub_->on_assign(consumer, partitions);
  } else {
    log::info("kafka", "group {}: {} partition(s) of {} revoked [{}]", sub_->group(), partitions.size(),
              sub_->topic(), list);
    sub_->on_revoke(partitions);
    consumer->unassign();
  }
}

}  // namespace

void declare_kafka_config(ConfigSchema& s) {
  s.add("kafka.bootstrap_servers", ConfigType::String, "127.0.0.1:9092",
        "Kafka brokers (bus.kind=kafka): host:port[,host:port...]; `selfheal dev-broker` prints one for tests");
  s.add("kafka.client_id", ConfigType::String, "selfheal", "client.id prefix of every Kafka client");
  s.add("kafka.topic_prefix", ConfigType::String, "", "Prepended to every topic name");
  s.add("kafka.replication_factor", ConfigType::Int, "1", "Replication factor of topics selfheal creates");
  s.add("kafka.dead_letter_topic", ConfigType::String, "selfheal.dead-letter",
        "Where undecodable messages go, with the reason and their original topic/partition/offset");
  s.add("kafka.create_topics", ConfigType::Bool, "true", "Create missing topics at start (needs the ACL)");
  s.add("kafka.properties", ConfigType::StringList, "",
        "Any librdkafka setting as name=value, e.g. security.protocol=SASL_SSL, sasl.mechanisms=PLAIN");
}

KafkaOptions kafka_options_from_config(const Config& c) {
  KafkaOptions o;
  o.bootstrap_servers = c.str("kafka.bootstrap_servers");
  o.client_id = c.str("kafka.client_id");
  o.topic_prefix = c.str("kafka.topic_prefix");
  o.partitions = static_cast<int>(c.integer("bus.partitions"));
  o.replication_factor = static_cast<int>(c.integer("kafka.replication_factor"));
  o.dead_letter_topic = c.str("kafka.dead_letter_topic");
  o.properties = c.strings("kafka.properties");
  o.create_topics = c.boolean("kafka.create_topics");
  return o;
}

KafkaBus::KafkaBus(KafkaOptions options, MetricsRegistry* metrics)
    : options_(std::move(options)), metrics_(metrics) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  set_or_throw(*conf, "bootstrap.servers", options_.bootstrap_servers);
  set_or_throw(*conf, "client.id", options_.client_id);
  set_or_throw(*conf, "enable.idempotence", "true");  // implies acks=all, ordered retries
  set_or_throw(*conf, "acks", "all");
  set_or_throw(*conf, "linger.ms", "5");
  set_or_throw(*conf, "partitioner", "murmur2_random");  // the Java client's: same partitions for a key
  set_or_throw(*conf, "reconnect.backoff.max.ms", "1000");   // as the consumers' (see there)
  apply_properties(*conf, options_.properties);
  std::string err;
  if (conf->set("dr_cb", delivery_reports(metrics_), err) != RdKafka::Conf::CONF_OK)
    throw std::runtime_error("kafka delivery callback: " + err);
  producer_.reset(RdKafka::Producer::create(conf.get(), err));
  if (!producer_) throw std::runtime_error("kafka producer: " + err);
  if (metrics_)  // on /metrics from the start, so an alert on them has a series before the first error
    for (auto t : topics::kAll)
      metrics_->counter("selfheal_kafka_produce_errors_total", "Messages Kafka did not acknowledge",
                        {{"topic", full_topic(t)}});
  poller_ = std::thread([this] {
    while (!stop_poller_.load()) producer_->poll(100);
  });
}

KafkaBus::~KafkaBus() {
  close();
  stop_poller_.store(true);
  if (poller_.joinable()) poller_.join();
}

PublishStatus KafkaBus::produce(const std::string& topic, const std::string& key, const std::string& payload,
                                const std::vector<std::pair<std::string, std::string>>& headers,
                                std::int64_t timestamp_ms) {
  bool counted = false;
  for (;;) {
    if (closed_.load()) return PublishStatus::Closed;
    RdKafka::Headers* h = nullptr;
    if (!headers.empty()) {
      h = RdKafka::Headers::create();
      for (const auto& [k, v] : headers) h->add(k, v);
    }
    RdKafka::ErrorCode e = producer_->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                                              const_cast<char*>(payload.data()), payload.size(), key.data(),
                                              key.size(), timestamp_ms, h, nullptr);
    if (e == RdKafka::ERR_NO_ERROR) return PublishStatus::Ok;
    delete h;  // not taken over on failure
    if (e == RdKafka::ERR__QUEUE_FULL) {
      if (!counted && metrics_) {
        counted = true;
        metrics_->counter("selfheal_bus_publish_blocked_total",
                          "Publishes that had to wait for room in a full queue (backpressure)",
                          {{"topic", topic}}).inc();
      }
      producer_->poll(50);  // wait for deliveries to free the queue
      continue;
    }
    if (metrics_)
      metrics_->counter("selfheal_kafka_produce_errors_total", "Messages Kafka did not acknowledge",
                        {{"topic", topic}}).inc();
    log::error("kafka", "produce to {} failed: {}", topic, RdKafka::err2str(e));
    return PublishStatus::Failed;
  }
}

PublishStatus KafkaBus::publish(std::string_view topic, Event event) {
  // The message timestamp is the event's time, so `selfheal replay --from` and offsetsForTimes seek
  // by the time things happened (simulated time in sim mode), not by when they were sent.
  const TimeMs ts = event_time(event);
  return produce(full_topic(topic), event_key(event), encode_event(event), {}, ts > 0 ? ts : 0);
}

void KafkaBus::dead_letter(const std::string& original_topic, int partition, std::int64_t offset,
                           const std::string& key, const std::string& payload, const std::string& reason) {
  log::warn("kafka", "dead-lettered {}[{}]@{}: {}", original_topic, partition, offset, reason);
  if (metrics_)
    metrics_->counter("selfheal_bus_dead_letters_total", "Undecodable messages sent to the dead-letter topic",
                      {{"topic", original_topic}}).inc();
  produce(options_.dead_letter_topic, key, payload,
          {{"selfheal-error", reason},
           {"selfheal-original-topic", original_topic},
           {"selfheal-original-partition", std::to_string(partition)},
           {"selfheal-original-offset", std::to_string(offset)}},
          0);
}

PublishStatus KafkaBus::publish_state(std::string_view topic, const std::string& key, const std::string& value,
                                     std::int64_t ts_ms) {
  return produce(full_topic(topic), key, value, {}, ts_ms > 0 ? ts_ms : 0);
}

// A consumer outside any group (assign(), no commits) reads every partition from its oldest
// message to the high watermark asked for first: what was written before the call.
std::vector<StateRecord> KafkaBus::read_state(std::string_view topic, std::chrono::milliseconds timeout) {
  const std::string full = full_topic(topic);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left_ms = [&] {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<std::int64_t>(0, ms.count()));
  };
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  set_or_throw(*conf, "bootstrap.servers", options_.bootstrap_servers);
  set_or_throw(*conf, "client.id", options_.client_id + "-state-reader");
  set_or_throw(*conf, "group.id", options_.client_id + "-state-reader");  // required, never joined
  set_or_throw(*conf, "enable.auto.commit", "false");
  set_or_throw(*conf, "enable.partition.eof", "true");
  apply_properties(*conf, options_.properties);
  std::string err;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer) throw std::runtime_error("state topic " + full + ": cannot create a reader: " + err);
  int partitions = 0;
  {
    RdKafka::Metadata* md = nullptr;
    if (consumer->metadata(true, nullptr, &md, left_ms()) != RdKafka::ERR_NO_ERROR || !md)
      throw std::runtime_error("state topic " + full + ": no metadata from the brokers within the timeout");
    for (const auto* t : *md->topics())
      if (t->topic() == full) partitions = static_cast<int>(t->partitions()->size());
    delete md;
  }
  if (partitions == 0) throw std::runtime_error("state topic " + full + ": does not exist (kafka.create_topics)");
  std::vector<RdKafka::TopicPartition*> assign;
  std::map<int, std::int64_t> end;  // partition -> high watermark still to reach
  for (int p = 0; p < partitions; ++p) {
    std::int64_t low = 0, high = 0;
    RdKafka::ErrorCode e = consumer->query_watermark_offsets(full, p, &low, &high, left_ms());
    if (e != RdKafka::ERR_NO_ERROR)
      throw std::runtime_error("state topic " + full + "[" + std::to_string(p) + "]: " + RdKafka::err2str(e));
    if (high <= low) continue;
    end[p] = high;
    assign.push_back(RdKafka::TopicPartition::create(full, p, low));
  }
  std::vector<StateRecord> out;
  if (assign.empty()) return out;
  consumer->assign(assign);
  RdKafka::TopicPartition::destroy(assign);
  while (!end.empty()) {
    if (left_ms() == 0) {
      consumer->close();
      throw std::runtime_error("state topic " + full + ": " + std::to_string(end.size()) +
                               " partition(s) not read to their end within " + std::to_string(timeout.count()) + " ms");
    }
    std::unique_ptr<RdKafka::Message> msg(consumer->consume(std::min(100, left_ms())));
    if (!msg || msg->err() == RdKafka::ERR__TIMED_OUT) continue;
    if (msg->err() == RdKafka::ERR__PARTITION_EOF) {
      if (auto it = end.find(msg->partition()); it != end.end() && msg->offset() >= it->second) end.erase(it);
      continue;
    }
    if (msg->err() != RdKafka::ERR_NO_ERROR) continue;  // transient: retried until the deadline
    auto it = end.find(msg->partition());
    if (it == end.end() || msg->offset() >= it->second) continue;  // written after the call
    StateRecord r;
    if (msg->key()) r.key = *msg->key();
    r.value.assign(static_cast<const char*>(msg->payload()), msg->len());
    out.push_back(std::move(r));
    if (msg->offset() + 1 >= it->second) end.erase(it);
  }
  consumer->close();
  return out;
}

std::unique_ptr<Subscription> KafkaBus::subscribe(std::string_view topic, std::string_view group) {
  return subscribe(topic, group, SubscribeOptions{});
}

std::unique_ptr<Subscription> KafkaBus::subscribe(std::string_view topic, std::string_view group,
                                                  const SubscribeOptions& options) {
  return std::make_unique<KafkaSubscription>(*this, std::string(topic), std::string(group), options);
}

void KafkaBus::flush(std::chrono::milliseconds timeout) { producer_->flush(static_cast<int>(timeout.count())); }

void KafkaBus::close() {
  if (closed_.exchange(true)) return;
  producer_->flush(5000);
}

std::string KafkaBus::ensure_topics(const std::vector<std::string>& wanted, std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = producer_->c_ptr();
  // Only what is missing: a cluster that has the topics (or a broker that cannot create them, like
  // the mock cluster, with them pre-created) answers the metadata request at once.
  std::vector<std::string> topics;
  {
    RdKafka::Metadata* md = nullptr;
    std::set<std::string> existing;
    if (producer_->metadata(true, nullptr, &md, static_cast<int>(timeout.count())) == RdKafka::ERR_NO_ERROR && md)
      for (const auto* t : *md->topics())
        if (t->err() == RdKafka::ERR_NO_ERROR) existing.insert(t->topic());
    delete md;
    for (const auto& t : wanted)
      if (!existing.count(full_topic(t))) topics.push_back(t);
  }
  if (topics.empty()) return {};
  std::vector<rd_kafka_NewTopic_t*> news;
  char err[512];
  for (const auto& t : topics) {
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(full_topic(t).c_str(), options_.partitions,
                                                    options_.replication_factor, err, sizeof err);
    if (!nt) return "topic " + t + ": " + err;
    // State checkpoints: only the newest record of a key counts, so compaction keeps what a restore
    // reads bounded by the number of keys, whatever the retention.
    if (t == topics::kState) rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    news.push_back(nt);
  }
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(opts, static_cast<int>(timeout.count()), err, sizeof err);
  rd_kafka_CreateTopics(rk, news.data(), news.size(), opts, q);
  std::string failure;
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, static_cast<int>(timeout.count()) + 1000);
  if (!ev) {
    failure = "no answer from " + options_.bootstrap_servers + " while creating topics";
  } else {
    const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
    std::size_t n = 0;
    const rd_kafka_topic_result_t** results = res ? rd_kafka_CreateTopics_result_topics(res, &n) : nullptr;
    for (std::size_t i = 0; i < n; ++i) {
      rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        failure += std::string(rd_kafka_topic_result_name(results[i])) + ": " + rd_kafka_err2str(e) + "; ";
    }
    if (!res && rd_kafka_event_error(ev)) failure = rd_kafka_event_error_string(ev);
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy_array(news.data(), news.size());
  rd_kafka_queue_destroy(q);
  return failure;
}

}  // namespace selfheal
