// Executors run services. See service.hpp for the contract they rely on.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "runtime/service.hpp"

namespace selfheal {

class SimClock;
class InProcessBus;
class Clock;

// Every service on the calling thread, in dependency order, over a SimClock. Each tick: advance
// the clock, call on_tick() on every service, then poll() every service round after round until
// none has work (quiescence). Same services + same seed = same result. With speed > 0 the ticks are
// paced against the wall clock (speed 60 = one simulated minute per second).
class DeterministicExecutor {
 public:
  struct Options {
    std::int64_t tick_ms = 1000;
    double speed = 0;  // 0: as fast as the CPU allows
  };
  DeterministicExecutor(std::vector<Service*> services, SimClock& clock, InProcessBus& bus, Options options);
  ~DeterministicExecutor();

  // One tick. Returns the new time.
  TimeMs step();
  // Ticks until the clock reaches `until` or `stop` becomes true; returns false if stopped early.
  bool run_until(TimeMs until, const std::atomic<bool>* stop = nullptr,
                 const std::function<void(TimeMs)>& after_tick = {});
  // Polls until no service has work; returns events handled.
  std::size_t drain();

 private:
  std::size_t poll_round();

  std::vector<Service*> services_;
  std::vector<bool> running_;  // a service is inside poll()/on_tick(): not re-entered by backpressure
  SimClock& clock_;
  InProcessBus& bus_;
  Options options_;
  std::int64_t pace_origin_wall_ms_ = -1;
  TimeMs pace_origin_sim_ms_ = 0;
};

// Each service on its own thread: on_tick() every tick of `clock`, poll() when there is work,
// wait_for_work() in between. Used when services run as separate processes over Kafka.
class ThreadedExecutor {
 public:
  // `speed`: simulated ms per wall ms of `clock` (1 for real time), to turn waits into wall time.
  ThreadedExecutor(std::vector<Service*> services, Clock& clock, std::int64_t tick_ms, double speed = 1.0);
  // Each service on its own clock (`clocks[i]` for `services[i]`), e.g. the event time of its inputs.
  ThreadedExecutor(std::vector<Service*> services, std::vector<Clock*> clocks, std::int64_t tick_ms,
                   double speed = 1.0);
  // Blocks until `stop` becomes true.
  void run(const std::atomic<bool>& stop);

 private:
  std::vector<Service*> services_;
  std::vector<Clock*> clocks_;
  std::int64_t tick_ms_;
  double speed_;
};

}  // namespace selfheal
