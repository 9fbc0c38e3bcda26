// A scenario: the simulated shop's topology, its traffic, and the faults injected into it. Parsed
// from YAML (scenarios/*.yaml; the demo is compiled into the binary) and validated field by field:
// a bad scenario is refused with the field's path and the problem, never half-loaded.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "contracts/events.hpp"

namespace selfheal::sim {

class ScenarioError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CallSpec {
  std::string service;             // callee
  double calls_per_request = 1.0;  // how many calls one request of the caller makes
};

struct ServiceSpec {
  std::string name;
  std::string kind = "app";  // app | database
  std::string image;         // "shop/orders:1.4.2"
  int replicas = 2;
  double cpu_request_millicores = 100, cpu_limit_millicores = 500;
  double memory_request_bytes = 128.0 * 1024 * 1024, memory_limit_bytes = 256.0 * 1024 * 1024;
  double base_memory_bytes = 96.0 * 1024 * 1024;  // working set of an idle, warmed-up pod
  double memory_per_rps_bytes = 256.0 * 1024;     // in-flight buffers grow with load
  double entry_rps = 0;             // traffic from outside the cluster at the daily mean
  double cpu_ms_per_request = 5;    // CPU time per request: millicores per request/s
  double idle_cpu_millicores = 10;
  double service_time_s = 0.010;    // own processing time (median) at low load
  double latency_sigma = 0.45;      // log-space spread of request latency
  double error_rate = 0.001;        // 5xx fraction when healthy
  double timeout_s = 2.0;           // callers give up (and answer 5xx/504) after this
  std::int64_t startup_ms = 8000;   // warm-up: container started -> ready
  int max_connections = 100;        // database: connection limit (pool exhausted above)
  std::vector<CallSpec> calls;
  std::vector<std::string> external;  // dependencies outside the cluster ("payment-gateway")
};

struct LoadSpec {
  double daily_amplitude = 0.3;  // traffic = mean * (1 + amplitude * cos(2pi (hour - peak) / 24))
  double peak_hour = 14;         // UTC hour of the daily peak
  double noise = 0.05;           // relative short-term noise (AR(1) in log space)
  double bursts_per_hour = 4;    // short traffic bursts (Poisson)
  double burst_strength = 0.4;   // +40% for the burst's duration
  std::int64_t burst_duration_ms = 20000;
};

inline constexpr std::string_view kFaultTypes[] = {
    "memory_leak", "cpu_spike", "db_latency", "error_burst",
    "crash_loop", "traffic_surge", "stuck_state", "dependency_outage"};

// The IncidentType name an ideal classifier reports for a fault type ("" for an unknown type).
std::string_view expected_incident_type(std::string_view fault_type);
bool is_fault_type(std::string_view fault_type);

struct FaultSpec {
  std::string type;
  std::string target;
  std::int64_t start_ms = 0;     // from the scenario's start
  std::int64_t duration_ms = 0;  // 0: until the scenario ends
  double strength = 1.0;
  std::string dependency;        // dependency_outage: which external dependency (default: the first)
};

struct Scenario {
  std::string name = "unnamed";
  std::string namespace_name = "shop";
  std::uint64_t seed = 1;
  std::int64_t duration_ms = 40 * 60 * 1000;
  int nodes = 3;
  LoadSpec load;
  std::vector<ServiceSpec> services;
  std::vector<FaultSpec> faults;

  const ServiceSpec* service(std::string_view name) const;
  int service_index(std::string_view name) const;  // -1 if unknown
};

// Parses and validates. Throws ScenarioError "<source>: <field path>: <problem>".
Scenario parse_scenario(std::string_view yaml_text, const std::string& source_name = "<scenario>");
Scenario load_scenario_file(const std::string& path);
// The demo scenario (scenarios/demo.yaml) as compiled into the binary.
std::string_view demo_scenario_yaml();
Scenario demo_scenario();

// Checks a fault against a scenario (type known, target exists, numbers in range); returns the
// problem ("" when valid). `field` prefixes the message ("faults[2]").
std::string validate_fault(const Scenario& scenario, const FaultSpec& fault, const std::string& field);

// "500m" / "1.5" -> millicores; "256Mi" / "1Gi" / "1000000" -> bytes. Return false when malformed.
bool parse_cpu_millicores(std::string_view s, double& out);
bool parse_memory_bytes(std::string_view s, double& out);

}  // namespace selfheal::sim
