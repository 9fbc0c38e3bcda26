// What a selfheal service is, and what it gets from the process that runs it.
//
// Lifecycle: construct -> start(ctx) -> any number of on_tick()/poll() calls from one executor
// thread -> stop(). The same service code runs under both executors:
//  * DeterministicExecutor (`selfheal all`, tests, eval): every service on one thread in a fixed
//    order over a SimClock, so a scenario gives the same result every time and runs as fast as the
//    CPU allows (or paced with --speed);
//  * ThreadedExecutor (one service per process over Kafka): each service on its own thread,
//    blocking in wait_for_work() between events.
// A service must never block in poll() or on_tick() waiting for another service.
#pragma once

#include <chrono>
#include <cstddef>
#include <limits>
#include <string>

#include "bus/bus.hpp"
#include "contracts/events.hpp"

namespace selfheal {

class Bus;
class Clock;
class Config;
class MetricsRegistry;
class Store;
class AdminServer;

struct ServiceContext {
  Bus& bus;
  Clock& clock;
  const Config& config;
  MetricsRegistry& metrics;
  Store* store;         // nullptr for services that run without one
  AdminServer* admin;   // mount extra routes here (may be nullptr in unit tests)
  std::string run_id;   // distinguishes event ids of this run ("r1")
  // State rebuild when this service gains a partition over a bus that moves them (Kafka): what
  // EventService::consume asks for. Default: none.
  SubscribeOptions rebuild{};
  // Per-key state checkpoints of a service that keeps them (runtime/keyed_state.hpp) are written
  // this often, in event time, over a bus that moves partitions. 0: none.
  std::int64_t checkpoint_interval_ms = 0;
};

class Service {
 public:
  virtual ~Service() = default;
  virtual std::string_view name() const = 0;

  // Subscribe, bind ports, load state. Throws std::runtime_error with an actionable message.
  virtual void start(ServiceContext& ctx) = 0;
  // Time moved to `now`: emit what is due (generators), close windows by timer, expire timeouts.
  virtual void on_tick(TimeMs now) {}
  // Handle the events that are ready now, without blocking; returns how many were handled.
  virtual std::size_t poll() { return 0; }
  // ThreadedExecutor only: block until poll() may find work, or `timeout`.
  virtual void wait_for_work(std::chrono::milliseconds timeout);
  virtual void stop() {}
  virtual bool ready() const { return true; }
  // A URL this service serves for people or tools (api, cluster-sim), shown when the run starts.
  virtual std::string endpoint() const { return {}; }

  // A service that drives a finite scenario (cluster-sim) says when it ends; `--once` runs until
  // the earliest end any service reports.
  static constexpr TimeMs kNoEnd = std::numeric_limits<TimeMs>::max();
  virtual TimeMs end_of_run() const { return kNoEnd; }
};

}  // namespace selfheal
