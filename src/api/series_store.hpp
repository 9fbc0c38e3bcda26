// Recent per-service series for the dashboard's charts, kept in memory with bounded size:
//
// * resource points (CPU, memory, p95 latency, error ratio, request rate) from the service-level
//   metric windows on `features` — GET /api/v1/services/{name}/metrics;
// * anomaly scores from `anomalies` — GET /api/v1/anomalies/scores;
// * which models and rules produced those anomalies — GET /api/v1/models.
//
// Each service has one ring of at most `points_per_service` entries per kind; at most
// `max_services` services are tracked (the ones beyond are counted and ignored, so a flood of
// made-up service names cannot grow memory). Memory is therefore bounded by
// max_services x points_per_service x (sizeof(ResourcePoint) + sizeof(ScorePoint)).
//
// Threading: add_*() from the executor thread, the queries from HTTP threads; one mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "contracts/events.hpp"

namespace selfheal {

// One closed service window. NaN (kAbsent) where the window did not carry the feature.
struct ResourcePoint {
  TimeMs ts = 0;  // window end
  double cpu_utilization_mean = kAbsent;  // fraction of the CPU limit, mean over pods
  double cpu_utilization_max = kAbsent;   // the busiest pod
  double cpu_millicores_mean = kAbsent;
  double memory_utilization_max = kAbsent;  // fraction of the memory limit, fullest pod
  double memory_bytes_max = kAbsent;
  double latency_p95_s = kAbsent;
  double error_ratio = kAbsent;
  double requests_per_s = kAbsent;
};

struct ScorePoint {
  TimeMs ts = 0;
  double score = 0;
  std::string signal;
};

class SeriesStore {
 public:
  SeriesStore(std::size_t points_per_service, std::size_t max_services)
      : capacity_(points_per_service), max_services_(max_services) {}

  // Keeps service-level metric windows (pod empty, source metrics); ignores every other window.
  // Returns whether the window was kept.
  bool add_window(const FeatureWindow& w);
  void add_anomaly(const Anomaly& a);

  // Points with from <= ts <= to, oldest first.
  std::vector<ResourcePoint> resources(const std::string& service, TimeMs from, TimeMs to) const;
  // Per service (sorted by name), the highest score in each `step`-long bucket of [from, to],
  // oldest first; `service` empty: every service.
  struct ScoreSeries {
    std::string service;
    std::vector<ScorePoint> points;
  };
  std::vector<ScoreSeries> scores(const std::string& service, TimeMs from, TimeMs to, TimeMs step) const;

  // The models and rules that produced the anomalies seen, sorted by source, name, version.
  struct ModelSeen {
    std::string source;  // model | rule
    std::string name;
    std::string version;
    std::uint64_t anomalies = 0;
    TimeMs last_seen = 0;
  };
  std::vector<ModelSeen> models() const;

  bool knows(const std::string& service) const;
  TimeMs latest_ts() const;  // newest point of any kind, 0 when empty
  std::size_t dropped_services() const;

 private:
  struct PerService {
    std::deque<ResourcePoint> resources;
    std::deque<ScorePoint> scores;
  };
  PerService* slot(const std::string& service);

  std::size_t capacity_;
  std::size_t max_services_;
  mutable std::mutex mu_;
  std::map<std::string, PerService> services_;
  std::map<std::tuple<std::string, std::string, std::string>, ModelSeen> models_;  // at most max_services_
  TimeMs latest_ = 0;
  std::size_t dropped_ = 0;
};

}  // namespace selfheal
