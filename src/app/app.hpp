// The one place that builds a selfheal process: config schema, bus, clock, store, admin server and
// the services, wired together and run by the right executor. `selfheal all`, `selfheal <service>`,
// the integration tests and `selfheal eval` all go through App.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "runtime/service_registry.hpp"

namespace selfheal {

class Bus;
class Clock;
class SimClock;
class InProcessBus;
class MetricsRegistry;
class Store;
class AdminServer;
class DeterministicExecutor;
class InputTimeClock;

// Every service of the product, registered in dependency order (wiring.cpp).
const ServiceRegistry& service_registry();
// Core keys plus every service's keys.
const ConfigSchema& config_schema();

class App {
 public:
  // `services` empty = all of them (`selfheal all`).
  App(Config config, std::vector<std::string> services);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Builds and starts everything. Throws std::runtime_error with an actionable message.
  void start();
  // Runs until `stop` is set; with `once`, until the scenario ends (the earliest end_of_run()).
  // Returns the process exit status.
  int run(const std::atomic<bool>& stop, bool once);
  void stop();

  // Deterministic mode only (all services in one process over a SimClock).
  bool deterministic() const { return executor_ != nullptr; }
  DeterministicExecutor& executor();
  SimClock& sim_clock();
  TimeMs end_of_run() const;

  const Config& config() const { return config_; }
  Bus& bus();
  Clock& clock();
  MetricsRegistry& metrics();
  Store* store();
  AdminServer* admin();
  Service* service(std::string_view name);
  std::string run_id() const { return run_id_; }

 private:
  Config config_;
  std::vector<std::string> names_;
  std::unique_ptr<MetricsRegistry> metrics_;
  std::unique_ptr<Clock> clock_;
  SimClock* sim_clock_ = nullptr;
  std::unique_ptr<Bus> bus_;
  InProcessBus* in_process_bus_ = nullptr;
  std::unique_ptr<Store> store_;
  std::unique_ptr<AdminServer> admin_;
  std::vector<std::unique_ptr<Service>> services_;
  std::unique_ptr<ServiceContext> ctx_;
  // One context per service (services_[i]): in separate processes a consumer runs on its own
  // InputTimeClock, so each needs its own clock.
  std::vector<std::unique_ptr<InputTimeClock>> input_clocks_;
  std::vector<std::unique_ptr<ServiceContext>> service_ctx_;
  std::unique_ptr<DeterministicExecutor> executor_;
  std::string run_id_;
  bool started_ = false;
};

}  // namespace selfheal
