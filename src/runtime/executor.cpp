#include "runtime/executor.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "bus/in_process_bus.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"

namespace selfheal {

DeterministicExecutor::DeterministicExecutor(std::vector<Service*> services, SimClock& clock,
                                             InProcessBus& bus, Options options)
    : services_(std::move(services)), running_(services_.size(), false), clock_(clock), bus_(bus),
      options_(options) {
  // A producer that fills a queue lets the other services drain it: on one thread, waiting would
  // never end.
  bus_.set_backpressure_handler([this] { return poll_round() > 0; });
}

DeterministicExecutor::~DeterministicExecutor() { bus_.set_backpressure_handler({}); }

std::size_t DeterministicExecutor::poll_round() {
  std::size_t n = 0;
  for (std::size_t i = 0; i < services_.size(); ++i) {
    if (running_[i]) continue;  // never re-enter a service that is publishing right now
    running_[i] = true;
    try {
      n += services_[i]->poll();
    } catch (...) {
      running_[i] = false;
      throw;
    }
    running_[i] = false;
  }
  return n;
}

std::size_t DeterministicExecutor::drain() {
  std::size_t total = 0;
  for (;;) {
    std::size_t n = poll_round();
    if (n == 0) return total;
    total += n;
  }
}

TimeMs DeterministicExecutor::step() {
  clock_.advance(options_.tick_ms);
  const TimeMs now = clock_.now();
  for (std::size_t i = 0; i < services_.size(); ++i) {
    running_[i] = true;
    services_[i]->on_tick(now);
    running_[i] = false;
    drain();  // let each service's tick output flow before the next service's tick
  }
  drain();
  if (options_.speed > 0) {
    if (pace_origin_wall_ms_ < 0) {
      pace_origin_wall_ms_ = monotonic_ms();
      pace_origin_sim_ms_ = now;
    }
    const double due_wall = static_cast<double>(pace_origin_wall_ms_) +
                            static_cast<double>(now - pace_origin_sim_ms_) / options_.speed;
    const auto wait = static_cast<std::int64_t>(due_wall) - monotonic_ms();
    if (wait > 0) std::this_thread::sleep_for(std::chrono::milliseconds(wait));
  }
  return now;
}

bool DeterministicExecutor::run_until(TimeMs until, const std::atomic<bool>* stop,
                                      const std::function<void(TimeMs)>& after_tick) {
  while (clock_.now() < until) {
    if (stop && stop->load()) return false;
    TimeMs now = step();
    if (after_tick) after_tick(now);
  }
  return true;
}

ThreadedExecutor::ThreadedExecutor(std::vector<Service*> services, Clock& clock, std::int64_t tick_ms, double speed)
    : services_(std::move(services)), clocks_(services_.size(), &clock),
      tick_ms_(std::max<std::int64_t>(tick_ms, 1)), speed_(speed > 0 ? speed : 1.0) {}

ThreadedExecutor::ThreadedExecutor(std::vector<Service*> services, std::vector<Clock*> clocks, std::int64_t tick_ms,
                                   double speed)
    : services_(std::move(services)), clocks_(std::move(clocks)), tick_ms_(std::max<std::int64_t>(tick_ms, 1)),
      speed_(speed > 0 ? speed : 1.0) {
  if (clocks_.size() != services_.size()) throw std::logic_error("ThreadedExecutor: one clock per service");
}

void ThreadedExecutor::run(const std::atomic<bool>& stop) {
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < services_.size(); ++i) {
    threads.emplace_back([this, s = services_[i], &clock = *clocks_[i], &stop] {
      TimeMs next_tick = clock.now();
      while (!stop.load()) {
        try {
          TimeMs now = clock.now();
          if (now >= next_tick) {
            s->on_tick(now);
            // Ticks stay on the tick grid even when one came late, so timers see regular steps.
            next_tick = std::max(next_tick + tick_ms_, now - now % tick_ms_ + tick_ms_);
          }
          if (s->poll() == 0) {
            const double wall_ms = static_cast<double>(next_tick - clock.now()) / speed_;
            auto wait = std::max<std::int64_t>(1, std::min<std::int64_t>(static_cast<std::int64_t>(wall_ms), 100));
            s->wait_for_work(std::chrono::milliseconds(wait));
          }
        } catch (const std::exception& e) {
          log::error(s->name(), "error in service loop (continuing): {}", e.what());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace selfheal
