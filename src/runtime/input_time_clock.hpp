// The clock of a service that runs in its own process over Kafka in simulated time: the event time
// of the inputs it has consumed, never ahead of the shared scaled clock.
//
// Why: with every process on the same ScaledClock (clock.anchor), a consumer's clock runs ahead of
// its inputs by the pipeline's wall latency times the speed — at 60x, 200 ms of Kafka latency is 12
// simulated seconds — so windows close before their samples arrive and timers fire on data that is
// not there yet. Following the inputs' event time makes a consumer see its inputs the way the
// deterministic executor shows them (everything up to `now` has arrived), whatever the lag. The
// ceiling keeps one wrongly stamped future event from moving the clock ahead of the simulation.
#pragma once

#include <algorithm>
#include <atomic>

#include "core/clock.hpp"

namespace selfheal {

class InputTimeClock final : public Clock {
 public:
  // `ceiling` must outlive this clock; `start` is the time before any input arrived.
  InputTimeClock(const Clock& ceiling, TimeMs start) : ceiling_(ceiling), latest_(start) {}

  // Both terms only grow, so now() never goes back.
  TimeMs now() const override { return std::min(latest_.load(std::memory_order_acquire), ceiling_.now()); }

  // An input with event time `t` was consumed.
  void observe(TimeMs t) {
    TimeMs cur = latest_.load(std::memory_order_relaxed);
    while (t > cur && !latest_.compare_exchange_weak(cur, t, std::memory_order_acq_rel)) {
    }
  }

 private:
  const Clock& ceiling_;
  std::atomic<TimeMs> latest_;
};

}  // namespace selfheal
