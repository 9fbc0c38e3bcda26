#include "core/log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace selfheal::log {
namespace {
std::atomic<Level> g_level{Level::Info};
std::mutex g_mu;
}  // namespace

void set_level(Level l) { g_level.store(l); }
Level level() { return g_level.load(std::memory_order_relaxed); }

bool parse_level(std::string_view s, Level& out) {
  if (s == "debug") out = Level::Debug;
  else if (s == "info") out = Level::Info;
  else if (s == "warn") out = Level::Warn;
  else if (s == "error") out = Level::Error;
  else if (s == "off") out = Level::Off;
  else return false;
  return true;
}

void write(Level l, std::string_view component, std::string_view message) {
  static constexpr const char* kNames[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};
  std::lock_guard<std::mutex> lock(g_mu);
  std::fprintf(stderr, "%-5s %.*s: %.*s\n", kNames[static_cast<int>(l)],
               static_cast<int>(component.size()), component.data(),
               static_cast<int>(message.size()), message.data());
}

}  // namespace selfheal::log
