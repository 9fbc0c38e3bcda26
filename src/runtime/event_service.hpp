// Base class for services that consume topics: polls its subscriptions in a fixed order, rejects
// malformed events (counted and logged, never fatal), times each handler, catches handler errors,
// commits after the outputs are published, and counts events in and out under one naming scheme:
//   selfheal_events_in_total{service,topic}, selfheal_events_out_total{service,topic},
//   selfheal_events_rejected_total{service,topic,reason}, selfheal_handler_errors_total{service},
//   selfheal_processing_seconds{service} (histogram).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bus/bus.hpp"
#include "runtime/service.hpp"

namespace selfheal {

class Counter;
class Histogram;

// Returns an empty string for a well-formed event, else what is wrong with it ("service is empty").
std::string validate_event(const Event& e);

class EventService : public Service {
 public:
  std::size_t poll() override;
  void wait_for_work(std::chrono::milliseconds timeout) override;

 protected:
  // Call from start(); `ctx` must outlive the service.
  void bind(ServiceContext& ctx) { ctx_ = &ctx; }
  void consume(std::string_view topic, std::string_view group = {});
  PublishStatus emit(std::string_view topic, Event event);
  ServiceContext& ctx() { return *ctx_; }
  // Unique event id for this service: "<name>-<run>-<seq>".
  std::string next_id();

  virtual void handle(const Delivery& d) = 0;

  std::size_t max_batch_ = 1024;  // events per poll() per subscription

 private:
  struct Input {
    std::unique_ptr<Subscription> sub;
    Counter* in = nullptr;
  };
  ServiceContext* ctx_ = nullptr;
  std::vector<Input> inputs_;
  std::vector<std::pair<std::string, Counter*>> outputs_;
  std::vector<Delivery> batch_;
  Histogram* latency_ = nullptr;
  Counter* errors_ = nullptr;
  std::uint64_t seq_ = 0;
};

}  // namespace selfheal
