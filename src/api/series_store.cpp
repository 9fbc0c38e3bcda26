#include "api/series_store.hpp"

#include <algorithm>
#include <cmath>

#include "contracts/feature_names.hpp"

namespace selfheal {

namespace fn = feature_names;

SeriesStore::PerService* SeriesStore::slot(const std::string& service) {
  auto it = services_.find(service);
  if (it != services_.end()) return &it->second;
  if (services_.size() >= max_services_) {
    ++dropped_;
    return nullptr;
  }
  return &services_[service];
}

bool SeriesStore::add_window(const FeatureWindow& w) {
  if (!w.pod.empty() || w.source != FeatureSource::Metrics || w.service.empty()) return false;
  ResourcePoint p;
  p.ts = w.end;
  p.cpu_utilization_mean = w.get(fn::kCpuUtilMean);
  p.cpu_utilization_max = w.get(fn::kCpuUtilMax);
  p.cpu_millicores_mean = w.get(fn::kCpuMillicoresMean);
  p.memory_utilization_max = w.get(fn::kMemoryUtilMax);
  p.memory_bytes_max = w.get(fn::kMemoryBytesMax);
  p.latency_p95_s = w.get(fn::kLatencyP95);
  p.error_ratio = w.get(fn::kErrorRatio);
  p.requests_per_s = w.get(fn::kRequestsPerS);
  std::lock_guard lock(mu_);
  PerService* s = slot(w.service);
  if (!s) return false;
  auto& ring = s->resources;
  // A redelivered window (at-least-once) replaces its first copy; windows of one service arrive in
  // order (they are keyed by service), so anything else is appended.
  if (!ring.empty() && ring.back().ts >= p.ts) {
    auto it = std::find_if(ring.rbegin(), ring.rend(), [&](const ResourcePoint& q) { return q.ts == p.ts; });
    if (it != ring.rend()) {
      *it = p;
      return true;
    }
  }
  ring.push_back(p);
  while (ring.size() > capacity_) ring.pop_front();
  latest_ = std::max(latest_, p.ts);
  return true;
}

void SeriesStore::add_anomaly(const Anomaly& a) {
  if (a.service.empty() || !std::isfinite(a.score)) return;
  std::lock_guard lock(mu_);
  const char* source = a.source == AnomalySource::Rule ? "rule" : "model";
  auto key = std::make_tuple(std::string(source), a.model, a.model_version);
  auto m = models_.find(key);
  if (m == models_.end() && models_.size() < max_services_)
    m = models_.emplace(key, ModelSeen{source, a.model, a.model_version, 0, 0}).first;
  if (m != models_.end()) {
    ++m->second.anomalies;
    m->second.last_seen = std::max(m->second.last_seen, a.ts);
  }
  PerService* s = slot(a.service);
  if (!s) return;
  s->scores.push_back(ScorePoint{a.ts, a.score, a.signal});
  while (s->scores.size() > capacity_) s->scores.pop_front();
  latest_ = std::max(latest_, a.ts);
}

std::vector<ResourcePoint> SeriesStore::resources(const std::string& service, TimeMs from, TimeMs to) const {
  std::lock_guard lock(mu_);
  std::vector<ResourcePoint> out;
  auto it = services_.find(service);
  if (it == services_.end()) return out;
  for (const ResourcePoint& p : it->second.resources)
    if (p.ts >= from && p.ts <= to) out.push_back(p);
  return out;
}

std::vector<SeriesStore::ScoreSeries> SeriesStore::scores(const std::string& service, TimeMs from, TimeMs to,
                                                          TimeMs step) const {
  std::lock_guard lock(mu_);
  std::vector<ScoreSeries> out;
  for (const auto& [name, s] : services_) {
    if (!service.empty() && name != service) continue;
    // bucket start -> highest point in it (std::map: buckets come out oldest first).
    std::map<TimeMs, ScorePoint> buckets;
    for (const ScorePoint& p : s.scores) {
      if (p.ts < from || p.ts > to) continue;
      const TimeMs bucket = from + (p.ts - from) / step * step;
      auto [it, fresh] = buckets.try_emplace(bucket, p);
      if (!fresh && p.score > it->second.score) it->second = p;
    }
    if (buckets.empty()) continue;
    ScoreSeries series{name, {}};
    for (auto& [bucket, p] : buckets) series.points.push_back(ScorePoint{bucket, p.score, p.signal});
    out.push_back(std::move(series));
  }
  return out;
}

std::vector<SeriesStore::ModelSeen> SeriesStore::models() const {
  std::lock_guard lock(mu_);
  std::vector<ModelSeen> out;
  for (const auto& [key, m] : models_) out.push_back(m);
  return out;
}

bool SeriesStore::knows(const std::string& service) const {
  std::lock_guard lock(mu_);
  return services_.count(service) > 0;
}

TimeMs SeriesStore::latest_ts() const {
  std::lock_guard lock(mu_);
  return latest_;
}

std::size_t SeriesStore::dropped_services() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace selfheal
