#include "runtime/event_service.hpp"

#include <cmath>
#include <thread>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"

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

void EventService::consume(std::string_view topic, std::string_view group) {
  std::string g = group.empty() ? std::string(name()) : std::string(group);
  Input in;
  in.sub = ctx_->bus.subscribe(topic, g);
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

std::size_t EventService::poll() {
  std::size_t handled = 0;
  for (auto& input : inputs_) {
    batch_.clear();
    if (input.sub->poll(batch_, max_batch_) == 0) continue;
    for (const Delivery& d : batch_) {
      input.in->inc();
      std::string why = validate_event(d.event);
      if (!why.empty()) {
        ctx_->metrics
            .counter("selfheal_events_rejected_total", "Malformed events refused by a consumer",
                     {{"service", std::string(name())}, {"topic", d.topic}, {"reason", why}})
            .inc();
        log::warn(name(), "rejected a malformed {} on {} (partition {}, offset {}): {}",
                  event_type_name(d.event), d.topic, d.partition, d.offset, why);
        continue;
      }
      const std::int64_t t0 = monotonic_ns();
      try {
        handle(d);
      } catch (const std::exception& e) {
        errors_->inc();
        log::error(name(), "failed to handle {} {} from {}: {}", event_type_name(d.event),
                   event_id(d.event), d.topic, e.what());
      }
      latency_->observe(static_cast<double>(monotonic_ns() - t0) / 1e9);
    }
    input.sub->commit();
    handled += batch_.size();
  }
  return handled;
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

PublishStatus EventService::emit(std::string_view topic, Event event) {
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
  return std::string(name()) + "-" + ctx_->run_id + "-" + std::to_string(++seq_);
}

}  // namespace selfheal
