// Base class for services that consume topics: polls its subscriptions in a fixed order, rejects
// malformed events (counted and logged, never fatal), times each handler, catches handler errors,
// commits after the outputs are published, and counts events in and out under one naming scheme:
//   selfheal_events_in_total{service,topic}, selfheal_events_out_total{service,topic},
//   selfheal_events_rejected_total{service,topic,reason}, selfheal_handler_errors_total{service},
//   selfheal_processing_seconds{service} (histogram).
//
// Over a bus that can deliver an event twice (Kafka: at-least-once), it is also idempotent:
//  * a delivery whose event was handled recently (same id; same id and revision for incident
//    snapshots, same id and status for actions) is skipped, counted in
//    selfheal_events_duplicates_total{service,topic} (a bounded set of the newest ids);
//  * next_id() inside a handler derives the output's id from the input's, so re-processing an input
//    (after a crash or a rebalance) yields the same ids and consumers downstream drop the copies;
//    ids of events made by timers carry a per-process tag, so two instances never collide.
// Over the in-process bus (`selfheal all`, tests) nothing is delivered twice and ids stay
// "<name>-<run>-<seq>".
//
// State rebuild (ServiceContext::rebuild, Kafka): when this service gains a partition that another
// process (or an earlier run) consumed, the bus hands out the look-back before the committed offset
// first, as Delivery::rebuild. Those are handled like any input — windows, models and open incidents
// fill up again — but nothing they cause is published (the previous owner published it), nor is
// anything a timer emits for a key being rebuilt while the rebuild is under way (keys this process
// already held keep publishing); counted in
// selfheal_events_rebuilt_total{service,topic} and selfheal_events_suppressed_total{service,topic}.
//
// Checkpoints (keep_state(), ServiceContext::checkpoint_interval_ms, Kafka): a look-back rebuilds
// only what fits in it; state that lives longer (detector baselines, open incidents) moves as a
// checkpoint. Every interval of event time the service writes, for each key it took in whose
// partitions it still holds and whose state changed, save_key(key) with the offsets of the newest
// committed delivery of that key per input, to the `state` changelog. When it gains a partition it
// reads the changelog and restore_key()s every key that partition carries (unless the key's state
// is live here through another input), before handling anything from it; deliveries the checkpoint
// covers (offset at or before its mark, rebuild or not) are skipped, the rest — the rebuild's
// look-back after the mark, then the backlog — are handled on top of it. Counted in
// selfheal_state_checkpoints_total{service}, selfheal_state_restored_keys_total{service} and
// selfheal_events_in_checkpoint_total{service,topic}.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "bus/bus.hpp"
#include "runtime/keyed_state.hpp"
#include "runtime/service.hpp"

namespace selfheal {

class Counter;
class Histogram;
class InputTimeClock;

// Returns an empty string for a well-formed event, else what is wrong with it ("service is empty").
std::string validate_event(const Event& e);

class EventService : public Service {
 public:
  std::size_t poll() override;
  void wait_for_work(std::chrono::milliseconds timeout) override;

 protected:
  // Call from start(); `ctx` must outlive the service.
  void bind(ServiceContext& ctx);
  void consume(std::string_view topic, std::string_view group = {});
  // Opts the service's per-key state into checkpoints that move with partitions (keyed_state.hpp).
  // Call from start(); `state` must outlive the service.
  void keep_state(KeyedState& state) { keyed_state_ = &state; }
  // Write the checkpoints of changed keys after this poll's commit, not at the next interval: for
  // state that must not be lost even for an interval (the remediator after it acted).
  void checkpoint_soon() { checkpoint_soon_ = true; }
  // Whether this process still holds the partitions `key` came in on. False once a rebalance moved
  // one away (the key's state is another process's now, restored there from its checkpoint): a
  // timer must not act for it. True for a key never taken in, and whenever checkpoints are off.
  bool holds_key(const std::string& key) const;
  PublishStatus emit(std::string_view topic, Event event);
  ServiceContext& ctx() { return *ctx_; }
  // Unique event id for this service: "<name>-<run>-<seq>" in one process; over Kafka
  // "<name>:<input id>[.<n>]" inside a handler and "<name>-<run>-<process tag>-<seq>" in timers.
  std::string next_id();
  // Tells this process from another instance or an earlier run of the service (empty over a bus
  // that never redelivers); for ids a service mints itself that must not collide across processes.
  const std::string& process_tag() const { return process_tag_; }

  virtual void handle(const Delivery& d) = 0;

  std::size_t max_batch_ = 1024;  // events per poll() per subscription

 private:
  // Where a key's state stands in one input: the newest delivery of the key it took in.
  struct InputMark {
    int partition = 0;
    std::int64_t offset = -1;
  };
  struct Input {
    std::unique_ptr<Subscription> sub;
    Counter* in = nullptr;
    Counter* rebuilt = nullptr;  // selfheal_events_rebuilt_total, made on the first rebuild delivery
    std::map<std::string, InputMark> uncommitted;  // by key: handled since the last commit
  };
  void process(Input& input, const Delivery& d);
  std::size_t poll_in_time_order();
  void commit(Input& input);

  // Keyed state checkpoints (keyed_state.hpp).
  struct KeyCheckpoint {
    std::map<std::string, InputMark> inputs;  // by topic: the newest committed delivery of the key
    std::size_t written_hash = 0;             // of the state last written: unchanged, not written again
  };
  bool checkpointing() const { return keyed_state_ && idempotent_ && ctx_->checkpoint_interval_ms > 0; }
  void restore_gained(const Input& input, const std::vector<int>& partitions);
  bool covered_by_checkpoint(const Delivery& d) const;
  void write_checkpoints();
  void write_checkpoint(const std::string& key, TimeMs now);
  std::map<std::string, KeyCheckpoint> checkpoints_;  // by key, the keys this process took in
  // By key and topic: deliveries up to here are in the restored state (skipped, not handled again).
  std::map<std::string, std::map<std::string, InputMark>> restored_;
  TimeMs last_checkpoint_ = 0;
  bool checkpoint_soon_ = false;
  std::set<std::string> deferred_keys_;  // to write after the next commit (see write_checkpoint)
  Counter* checkpoints_written_ = nullptr;

  ServiceContext* ctx_ = nullptr;
  KeyedState* keyed_state_ = nullptr;  // set by keep_state()
  InputTimeClock* input_clock_ = nullptr;  // set when this service runs on its inputs' event time
  std::vector<Input> inputs_;
  std::vector<std::pair<std::string, Counter*>> outputs_;
  std::vector<Delivery> batch_;
  Histogram* latency_ = nullptr;
  Counter* errors_ = nullptr;
  std::uint64_t seq_ = 0;

  // Idempotence over a bus that redelivers (see above).
  bool idempotent_ = false;
  std::string process_tag_;
  std::string current_input_;  // the handled delivery's identity while handle() runs
  std::uint32_t outputs_of_input_ = 0;
  std::unordered_set<std::string> seen_;  // membership only; eviction order is seen_order_'s
  std::deque<std::string> seen_order_;
  std::vector<std::deque<Delivery>> held_;  // per input: polled, not yet handled (time-ordered merge)
  // State rebuild (see above).
  bool in_handler_ = false;
  bool handling_rebuild_ = false;  // the delivery being handled is a rebuild delivery
  std::unordered_set<std::string> rebuild_keys_;  // event keys seen in rebuild deliveries, until it ends
  bool any_input_rebuilding() const;
  bool suppressed(const Event& output);
  static constexpr std::size_t kSeenCapacity = 65536;
};

}  // namespace selfheal
