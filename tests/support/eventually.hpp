// Waiting for a condition in a test: poll it with a deadline, never sleep a guessed time.
#pragma once

#include <chrono>
#include <thread>

namespace selfheal::testing {

// Polls `condition` every `every` until it holds or `timeout` passes; one last look at the end.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(every);
  }
  return condition();
}

}  // namespace selfheal::testing
