// Time comes from a Clock, never straight from the system, so a scenario of hours runs in seconds
// and tests do not depend on the machine's speed.
#pragma once

#include <atomic>

#include "contracts/events.hpp"

namespace selfheal {

class Clock {
 public:
  virtual ~Clock() = default;
  // Current time in ms since the Unix epoch. Thread-safe.
  virtual TimeMs now() const = 0;
};

// Wall-clock time; used by services that run against real infrastructure.
class SystemClock final : public Clock {
 public:
  TimeMs now() const override;
};

// Time that moves only when told to. The deterministic executor advances it tick by tick.
class SimClock final : public Clock {
 public:
  explicit SimClock(TimeMs start = 0) : now_(start) {}
  TimeMs now() const override { return now_.load(std::memory_order_acquire); }
  void set(TimeMs t) { now_.store(t, std::memory_order_release); }
  void advance(TimeMs delta) { now_.fetch_add(delta, std::memory_order_acq_rel); }

 private:
  std::atomic<TimeMs> now_;
};

// Simulated time that flows with the wall clock at `speed` times real time: `start` at wall time
// `anchor_wall_ms` (ms since the epoch). Used when services run in separate processes: given the
// same start, speed and anchor, every process agrees on the simulated time.
class ScaledClock final : public Clock {
 public:
  ScaledClock(TimeMs start, double speed, std::int64_t anchor_wall_ms);
  TimeMs now() const override;

 private:
  TimeMs start_;
  double speed_;
  std::int64_t anchor_wall_ms_;
};

// Wall time in ms on a monotonic clock: only for measuring how long real work took (latency
// histograms, pacing), never for event time.
std::int64_t monotonic_ms();
std::int64_t monotonic_ns();

// "2026-11-24T10:00:00.000Z" <-> ms. parse_iso8601 returns false on malformed input.
std::string format_iso8601(TimeMs t);
bool parse_iso8601(std::string_view s, TimeMs& out);

// "250ms", "10s", "5m", "2h", "1d" -> ms. Returns false on malformed input.
bool parse_duration_ms(std::string_view s, std::int64_t& out);
std::string format_duration(std::int64_t ms);

}  // namespace selfheal
