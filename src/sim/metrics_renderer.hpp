// Turns the simulated state into what a Prometheus scrape of each pod would return: cAdvisor-style
// CPU and memory gauges, kube-state-metrics restarts and readiness, and the application's request
// counters and latency histogram (for postgres also query latency, connections and pool waits).
//
// Counters accumulate every tick between scrapes and restart from zero when the pod's container
// restarts (its restart count changes) or the pod is new, as real process counters do.
// Histogram buckets are the expected counts under the pod's log-normal latency; emitted counts are
// floored so they stay whole numbers and monotonic.
//
// Lifecycle: one per metrics generator. Not thread-safe. Deterministic.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "contracts/events.hpp"

namespace selfheal::sim {

class MetricsRenderer {
 public:
  explicit MetricsRenderer(std::int64_t scrape_interval_ms = 10000);

  // Accumulates one tick of `state`; when the tick crosses a scrape boundary, appends one batch per
  // pod to `out` (ids left empty). Returns the number of samples appended.
  std::size_t observe(const ServiceState& state, std::vector<MetricBatch>& out);

  static const std::vector<double>& bucket_bounds();  // 5ms ... 10s, then +Inf

 private:
  struct Series {
    double requests = 0, errors = 0, duration_sum = 0;
    std::vector<double> buckets;  // cumulative expected counts per bound (+Inf last)
    double db_queries = 0, db_sum = 0, pool_waits = 0;
    std::vector<double> db_buckets;
    std::uint32_t restarts = 0;
    TimeMs last_seen = 0;
  };
  std::int64_t interval_ms_;
  std::map<std::string, Series> pods_;  // by pod name; ordered for determinism
};

}  // namespace selfheal::sim
