#include "runtime/event_service.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <thread>

#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "runtime/input_time_clock.hpp"

namespace selfheal {

void Service::wait_for_work(std::chrono::milliseconds timeout) { std::this_thread::sleep_for(timeout); }

namespace {

template <typename T>
std::string common_checks(const T& e) {
  if (e.service.empty()) return "service is empty";
  if (e.id.empty()) return "id is empty";
  return {};
}

std::string check(const RawLog& e) {
  if (e.ts <= 0) return "ts is not set";
  return {};
}
std::string check(const LogRecord& e) { return e.ts <= 0 ? "ts is not set" : ""; }
std::string check(const MetricBatch& e) {
  if (e.ts <= 0) return "ts is not set";
  return {};  // sample values are cleaned by the metrics processor, which counts NaNs per reason
}
std::string check(const FeatureWindow& e) {
  if (e.end <= e.start) return "end is not after start";
  return {};
}
std::string check(const Anomaly& e) {
  if (!(e.score >= 0.0 && e.score <= 1.0)) return "score is not in [0,1]";
  if (e.ts <= 0) return "ts is not set";
  return {};
}
std::string check(const Incident& e) { return e.opened_at <= 0 ? "opened_at is not set" : ""; }
std::string check(const RemediationAction& e) { return e.ts <= 0 ? "ts is not set" : ""; }
std::string check(const ActionResult& e) { return e.action_id.empty() ? "action_id is empty" : ""; }
std::string check(const ServiceState& e) { return e.tick_ms <= 0 ? "tick_ms is not positive" : ""; }
std::string check(const FaultLabel& e) { return e.fault_type.empty() ? "fault_type is empty" : ""; }

}  // namespace

std::string validate_event(const Event& event) {
  return std::visit(
      [](const auto& e) {
        std::string why = common_checks(e);
        return why.empty() ? check(e) : why;
      },
      event);
}

namespace {

// What makes a delivery a duplicate of an earlier one: the id, plus what changes between
// snapshots that share an id.
std::string delivery_identity(const Event& e) {
  if (const auto* i = std::get_if<Incident>(&e)) return i->id + "@r" + std::to_string(i->revision);
  if (const auto* a = std::get_if<RemediationAction>(&e)) return a->id + "@" + std::string(to_string(a->status));
  if (const auto* f = std::get_if<FaultLabel>(&e)) return f->id + "@" + std::to_string(f->end);  // start, then end
  return event_id(e);
}

// Tells this process's timer-made ids from another instance's (or an earlier run's) of the same
// service: pid and start time, base 36.
std::string make_process_tag() {
  auto b36 = [](std::uint64_t v) {
    std::string s;
    do {
      s.insert(s.begin(), "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36]);
      v /= 36;
    } while (v);
    return s;
  };
  return b36(static_cast<std::uint64_t>(::getpid())) + b36(static_cast<std::uint64_t>(monotonic_ns() / 1000) % 46656);
}

}  // namespace

void EventService::bind(ServiceContext& ctx) {
  ctx_ = &ctx;
  input_clock_ = dynamic_cast<InputTimeClock*>(&ctx.clock);
  idempotent_ = ctx.bus.may_redeliver();
  if (idempotent_) process_tag_ = make_process_tag();
}

void EventService::consume(std::string_view topic, std::string_view group) {
  std::string g = group.empty() ? std::string(name()) : std::string(group);
  Input in;
  in.sub = ctx_->bus.subscribe(topic, g, ctx_->rebuild);
  in.in = &ctx_->metrics.counter("selfheal_events_in_total", "Events consumed, by service and topic",
                                 {{"service", std::string(name())}, {"topic", std::string(topic)}});
  inputs_.push_back(std::move(in));
  if (!latency_) {
    latency_ = &ctx_->metrics.histogram("selfheal_processing_seconds",
                                        "Wall time spent handling one event, by service",
                                        MetricsRegistry::latency_buckets_seconds(),
                                        {{"service", std::string(name())}});
    errors_ = &ctx_->metrics.counter("selfheal_handler_errors_total",
                                     "Events whose handler failed (logged and skipped)",
                                     {{"service", std::string(name())}});
  }
}

void EventService::process(Input& input, const Delivery& d) {
  input.in->inc();
  std::string why = validate_event(d.event);
  if (!why.empty()) {
    ctx_->metrics
        .counter("selfheal_events_rejected_total", "Malformed events refused by a consumer",
                 {{"service", std::string(name())}, {"topic", d.topic}, {"reason", why}})
        .inc();
    log::warn(name(), "rejected a malformed {} on {} (partition {}, offset {}): {}", event_type_name(d.event),
              d.topic, d.partition, d.offset, why);
    return;
  }
  if (!restored_.empty() && covered_by_checkpoint(d)) {
    ctx_->metrics
        .counter("selfheal_events_in_checkpoint_total",
                 "Deliveries skipped because the restored state checkpoint already holds them",
                 {{"service", std::string(name())}, {"topic", d.topic}})
        .inc();
    return;
  }
  if (d.rebuild) {
    if (!input.rebuilt)
      input.rebuilt = &ctx_->metrics.counter(
          "selfheal_events_rebuilt_total",
          "Events read again to rebuild state after gaining a partition (their outputs are not published)",
          {{"service", std::string(name())}, {"topic", d.topic}});
    input.rebuilt->inc();
    // Timers must not publish for this key until the rebuild is over (see emit()).
    rebuild_keys_.insert(event_key(d.event));
  }
  if (idempotent_) {
    current_input_ = delivery_identity(d.event);
    if (!seen_.insert(current_input_).second) {
      if (d.rebuild) {  // already in this process's state (it handled it before losing the partition)
        current_input_.clear();
        return;
      }
      ctx_->metrics
          .counter("selfheal_events_duplicates_total",
                   "Redelivered events skipped (already handled), by service and topic",
                   {{"service", std::string(name())}, {"topic", d.topic}})
          .inc();
      current_input_.clear();
      return;
    }
    seen_order_.push_back(current_input_);
    if (seen_order_.size() > kSeenCapacity) {
      seen_.erase(seen_order_.front());
      seen_order_.pop_front();
    }
    outputs_of_input_ = 0;
  }
  // Time moves with what was consumed, before the handler reads it (see input_time_clock.hpp).
  if (input_clock_) input_clock_->observe(event_time(d.event));
  const std::int64_t t0 = monotonic_ns();
  in_handler_ = true;
  handling_rebuild_ = d.rebuild;
  try {
    handle(d);
  } catch (const std::exception& e) {
    errors_->inc();
    log::error(name(), "failed to handle {} {} from {}: {}", event_type_name(d.event), event_id(d.event), d.topic,
               e.what());
  }
  in_handler_ = false;
  handling_rebuild_ = false;
  current_input_.clear();
  if (checkpointing()) input.uncommitted[event_key(d.event)] = InputMark{d.partition, d.offset};
  latency_->observe(static_cast<double>(monotonic_ns() - t0) / 1e9);
}

std::size_t EventService::poll() {
  std::size_t handled = 0;
  if (idempotent_ && inputs_.size() > 1) {
    handled = poll_in_time_order();
  } else {
    for (auto& input : inputs_) {
      batch_.clear();
      const std::size_t got = input.sub->poll(batch_, max_batch_);
      // The rebalance that gave a partition ran inside poll(): restore before its deliveries.
      if (checkpointing()) restore_gained(input, input.sub->take_gained_partitions());
      if (got == 0) continue;
      for (const Delivery& d : batch_) process(input, d);
      commit(input);
      handled += batch_.size();
    }
  }
  if (checkpointing()) write_checkpoints();
  return handled;
}

void EventService::commit(Input& input) {
  input.sub->commit();
  // The key's state now holds these deliveries and their offsets are committed: a checkpoint may
  // say so (a checkpoint past the committed offset would skip, at the next owner, deliveries whose
  // outputs were never published).
  if (input.uncommitted.empty()) return;
  for (auto& [key, mark] : input.uncommitted) checkpoints_[key].inputs[input.sub->topic()] = mark;
  input.uncommitted.clear();
}

// Several inputs over Kafka: each subscription hands out its events in event-time order, but one
// input may be minutes ahead of another while catching up (the classifier's anomalies arrive in one
// batch, its feature windows in many). Handling them merged by event time — and holding back what is
// newer than the point up to which an input still has events waiting — keeps the service's view
// (and its InputTimeClock) as the deterministic executor would give it. An input is committed only
// once nothing it delivered is held back.
std::size_t EventService::poll_in_time_order() {
  if (held_.size() != inputs_.size()) held_.resize(inputs_.size());
  constexpr TimeMs kNoLimit = std::numeric_limits<TimeMs>::max();
  TimeMs horizon = kNoLimit;
  for (std::size_t i = 0; i < inputs_.size(); ++i) {
    // Every input is polled, a full one for nothing: a Kafka consumer that is not polled cannot
    // answer a rebalance, and its whole group (the other inputs' consumers too) waits for it.
    batch_.clear();
    const std::size_t want = max_batch_ - std::min(max_batch_, held_[i].size());
    const std::size_t got = inputs_[i].sub->poll(batch_, want);
    if (checkpointing()) restore_gained(inputs_[i], inputs_[i].sub->take_gained_partitions());
    for (auto& d : batch_) held_[i].push_back(std::move(d));
    if (want > 0 && got < want) continue;  // this input had everything it could give: it bounds nothing
    // This input may hold more beyond its newest event here: nothing newer may go first. The newest,
    // not the last: an input's events are not always in time order (after a broker outage a
    // partition that comes back late delivers older events after newer ones; incident snapshots
    // carry their own times), and bounding by the last one could put the horizon before the
    // oldest event held anywhere: then nothing is handled, the full input is never polled again
    // and the service stalls for good (seen: the remediator after a 10 s outage).
    TimeMs newest = std::numeric_limits<TimeMs>::min();
    for (const Delivery& d : held_[i]) newest = std::max(newest, event_time(d.event));
    if (!held_[i].empty()) horizon = std::min(horizon, newest);
  }
  std::size_t handled = 0;
  for (;;) {
    std::size_t next = inputs_.size();
    TimeMs next_time = kNoLimit;
    for (std::size_t i = 0; i < inputs_.size(); ++i) {
      if (held_[i].empty()) continue;
      const TimeMs t = event_time(held_[i].front().event);
      if (next == inputs_.size() || t < next_time) {
        next = i;
        next_time = t;
      }
    }
    if (next == inputs_.size() || next_time > horizon) break;
    Delivery d = std::move(held_[next].front());
    held_[next].pop_front();
    process(inputs_[next], d);
    ++handled;
  }
  for (std::size_t i = 0; i < inputs_.size(); ++i)
    if (held_[i].empty()) commit(inputs_[i]);
  return handled;
}

namespace {

// A checkpoint record: {"v":1,"service":S,"key":K,"ts":T,"inputs":{topic:[partition,offset]},"state":...}.
constexpr int kCheckpointFormat = 1;

std::string checkpoint_record_key(std::string_view service, const std::string& key) {
  return std::string(service) + "/" + key;
}

}  // namespace

bool EventService::holds_key(const std::string& key) const {
  auto cp = checkpoints_.find(key);
  if (cp == checkpoints_.end()) return true;
  for (const auto& input : inputs_)
    if (auto m = cp->second.inputs.find(input.sub->topic());
        m != cp->second.inputs.end() && !input.sub->holds(m->second.partition))
      return false;
  return true;
}

bool EventService::covered_by_checkpoint(const Delivery& d) const {
  auto k = restored_.find(event_key(d.event));
  if (k == restored_.end()) return false;
  auto t = k->second.find(d.topic);
  return t != k->second.end() && t->second.partition == d.partition && d.offset <= t->second.offset;
}

void EventService::restore_gained(const Input& input, const std::vector<int>& partitions) {
  if (partitions.empty()) return;
  const std::string& topic = input.sub->topic();
  std::vector<StateRecord> records;
  try {
    records = ctx_->bus.read_state(topics::kState, std::chrono::seconds(10));
  } catch (const std::exception& e) {
    // Not fatal: the rebuild's look-back (if any) still refills what fits in it.
    log::error(name(), "state of {} partition(s) of {} not restored: {}; the look-back alone rebuilds it",
               partitions.size(), topic, e.what());
    return;
  }
  // The newest record per key wins (one key's records are in one partition, read in order).
  const std::string prefix = std::string(name()) + "/";
  std::map<std::string, const StateRecord*> newest;
  for (const auto& r : records)
    if (r.key.starts_with(prefix)) newest[r.key.substr(prefix.size())] = &r;
  std::size_t restored = 0;
  for (const auto& [key, record] : newest) {
    auto j = nlohmann::json::parse(record->value, nullptr, false);
    auto fail = [&](const std::string& why) {
      log::error(name(), "checkpoint of {} not restored: {} (the look-back alone rebuilds it)", key, why);
    };
    if (j.is_discarded() || !j.is_object()) { fail("not a JSON object"); continue; }
    if (j.value("v", 0) != kCheckpointFormat) { fail("v: expected " + std::to_string(kCheckpointFormat)); continue; }
    if (!j.contains("inputs") || !j["inputs"].is_object()) { fail("inputs: expected an object"); continue; }
    std::map<std::string, InputMark> marks;
    bool ok = true;
    for (auto it = j["inputs"].begin(); it != j["inputs"].end(); ++it) {
      const auto& v = it.value();
      if (!v.is_array() || v.size() != 2 || !v[0].is_number_integer() || !v[1].is_number_integer()) {
        fail("inputs." + it.key() + ": expected [partition, offset]");
        ok = false;
        break;
      }
      marks[it.key()] = InputMark{v[0].get<int>(), v[1].get<std::int64_t>()};
    }
    if (!ok) continue;
    // Only keys the gained partitions carry.
    auto mine = marks.find(topic);
    if (mine == marks.end() ||
        std::find(partitions.begin(), partitions.end(), mine->second.partition) == partitions.end())
      continue;
    // A key whose state is live here through another input (that input's partition of it is held
    // and was taken in) has moved on since any checkpoint: restoring would throw that away.
    bool live = false;
    if (auto cp = checkpoints_.find(key); cp != checkpoints_.end())
      for (const auto& other : inputs_)
        if (&other != &input)
          if (auto m = cp->second.inputs.find(other.sub->topic());
              m != cp->second.inputs.end() && other.sub->holds(m->second.partition))
            live = true;
    if (live) continue;
    try {
      keyed_state_->restore_key(key, j.contains("state") ? j["state"] : nlohmann::json());
    } catch (const std::exception& e) {
      fail(e.what());
      continue;
    }
    restored_[key] = marks;
    auto& cp = checkpoints_[key];
    cp.inputs = marks;
    cp.written_hash = std::hash<std::string>{}(j.contains("state") ? j["state"].dump() : std::string());
    ++restored;
  }
  ctx_->metrics
      .counter("selfheal_state_restored_keys_total", "Keys whose state was restored from a checkpoint",
               {{"service", std::string(name())}})
      .inc(static_cast<double>(restored));
  std::string list;
  for (int p : partitions) list += (list.empty() ? "" : ",") + std::to_string(p);
  log::info(name(), "gained {}[{}]: state of {} key(s) restored from checkpoints", topic, list, restored);
}

void EventService::write_checkpoints() {
  const TimeMs now = ctx_->clock.now();
  if (last_checkpoint_ == 0) last_checkpoint_ = now;
  const bool due = now - last_checkpoint_ >= ctx_->checkpoint_interval_ms || checkpoint_soon_;
  if (!due && deferred_keys_.empty()) return;
  std::set<std::string> keys;
  if (due) {
    last_checkpoint_ = now;
    checkpoint_soon_ = false;
    for (const auto& [key, cp] : checkpoints_) keys.insert(key);
    for (const auto& input : inputs_)
      for (const auto& [key, mark] : input.uncommitted) keys.insert(key);  // deferred below
  } else {
    keys.swap(deferred_keys_);
  }
  deferred_keys_.clear();
  for (const auto& key : keys) write_checkpoint(key, now);
}

void EventService::write_checkpoint(const std::string& key, TimeMs now) {
  // Its state holds deliveries not committed yet (an input whose events are held back by the
  // time-ordered merge): the marks would say less than the state has, and the next owner would
  // apply those deliveries twice. Written after a later poll's commit.
  for (const auto& input : inputs_)
    if (input.uncommitted.count(key)) {
      deferred_keys_.insert(key);
      return;
    }
  auto it = checkpoints_.find(key);
  if (it == checkpoints_.end() || it->second.inputs.empty()) return;
  KeyCheckpoint& cp = it->second;
  // A key whose partition moved away (or is between owners) is another process's to write now.
  for (const auto& input : inputs_)
    if (auto m = cp.inputs.find(input.sub->topic()); m != cp.inputs.end() && !input.sub->holds(m->second.partition))
      return;
  nlohmann::json state;
  try {
    state = keyed_state_->save_key(key);
  } catch (const std::exception& e) {
    log::error(name(), "state of {} not checkpointed: {}", key, e.what());
    return;
  }
  if (state.is_null()) return;
  // Unchanged state is not written again, even if its marks moved: a handler that left the state
  // as it was would leave it so again when the next owner replays it.
  const std::size_t hash = std::hash<std::string>{}(state.dump());
  if (hash == cp.written_hash) return;
  nlohmann::json inputs = nlohmann::json::object();
  for (const auto& [topic, mark] : cp.inputs) inputs[topic] = {mark.partition, mark.offset};
  nlohmann::json record = {{"v", kCheckpointFormat}, {"service", std::string(name())}, {"key", key},
                           {"ts", now},          {"inputs", std::move(inputs)},     {"state", std::move(state)}};
  if (ctx_->bus.publish_state(topics::kState, checkpoint_record_key(name(), key), record.dump(), now) !=
      PublishStatus::Ok)
    return;
  cp.written_hash = hash;
  if (!checkpoints_written_)
    checkpoints_written_ = &ctx_->metrics.counter("selfheal_state_checkpoints_total", "Per-key state checkpoints written",
                                                  {{"service", std::string(name())}});
  checkpoints_written_->inc();
}

void EventService::wait_for_work(std::chrono::milliseconds timeout) {
  if (inputs_.empty()) {
    Service::wait_for_work(timeout);
    return;
  }
  // Wait on the first input; others are polled right after, so a short slice keeps them fresh.
  auto slice = inputs_.size() == 1 ? timeout : std::min(timeout, std::chrono::milliseconds(20));
  inputs_.front().sub->wait(slice);
}

bool EventService::any_input_rebuilding() const {
  for (const auto& input : inputs_)
    if (input.sub->rebuilding()) return true;
  // Rebuild deliveries polled but held back by the event-time merge (they are the oldest, so at
  // the front) are still to be handled.
  for (const auto& held : held_)
    if (!held.empty() && held.front().rebuild) return true;
  return false;
}

bool EventService::suppressed(const Event& event) {
  // Made while handling a rebuild delivery: the partition's previous owner published it.
  if (in_handler_) return handling_rebuild_;
  if (rebuild_keys_.empty()) return false;
  if (!any_input_rebuilding()) {
    rebuild_keys_.clear();
    return false;
  }
  // Made by a timer while a rebuild is under way: only a key being rebuilt is suppressed (its
  // windows are closing on old event time, as they did at the previous owner); keys this process
  // already held go on publishing.
  return rebuild_keys_.count(event_key(event)) > 0;
}

PublishStatus EventService::emit(std::string_view topic, Event event) {
  if (suppressed(event)) {
    ctx_->metrics
        .counter("selfheal_events_suppressed_total",
                 "Outputs not published because they were made while rebuilding state",
                 {{"service", std::string(name())}, {"topic", std::string(topic)}})
        .inc();
    return PublishStatus::Ok;
  }
  PublishStatus st = ctx_->bus.publish(topic, std::move(event));
  Counter* out = nullptr;
  for (auto& [t, c] : outputs_)
    if (t == topic) out = c;
  if (!out) {
    out = &ctx_->metrics.counter("selfheal_events_out_total", "Events published, by service and topic",
                                 {{"service", std::string(name())}, {"topic", std::string(topic)}});
    outputs_.emplace_back(std::string(topic), out);
  }
  out->inc();
  return st;
}

std::string EventService::next_id() {
  if (!idempotent_) return std::string(name()) + "-" + ctx_->run_id + "-" + std::to_string(++seq_);
  if (!current_input_.empty()) {
    // Derived from the input: re-processing it yields the same ids.
    std::string id = std::string(name()) + ":" + current_input_;
    if (outputs_of_input_ > 0) id += "." + std::to_string(outputs_of_input_);
    ++outputs_of_input_;
    return id;
  }
  return std::string(name()) + "-" + ctx_->run_id + "-" + process_tag_ + "-" + std::to_string(++seq_);
}

}  // namespace selfheal
