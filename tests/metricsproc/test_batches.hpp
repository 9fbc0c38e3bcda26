// Builders of MetricBatch scrapes and a collecting sink for the metrics processor tests.
#pragma once

#include <string>
#include <vector>

#include "contracts/events.hpp"
#include "contracts/feature_names.hpp"
#include "contracts/metric_names.hpp"
#include "metricsproc/window_aggregator.hpp"

namespace selfheal::testing {

inline constexpr TimeMs kT0 = 1'800'000'000'000;  // a whole minute, so windows align on it

inline MetricSample gauge(std::string_view name, double v) {
  MetricSample s;
  s.name = std::string(name);
  s.kind = MetricKind::Gauge;
  s.value = v;
  return s;
}
inline MetricSample counter(std::string_view name, double v) {
  MetricSample s = gauge(name, v);
  s.kind = MetricKind::Counter;
  return s;
}
// Cumulative histogram from per-bucket (non-cumulative) counts over `bounds` (+inf appended).
inline MetricSample histogram(std::string_view name, const std::vector<double>& bounds, const std::vector<double>& counts) {
  MetricSample s;
  s.name = std::string(name);
  s.kind = MetricKind::Histogram;
  double c = 0;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    c += counts[i];
    s.buckets.push_back({bounds[i], c});
  }
  if (counts.size() > bounds.size()) c += counts.back();
  s.buckets.push_back({std::numeric_limits<double>::infinity(), c});
  s.value = c;
  return s;
}

inline MetricBatch batch(std::string service, std::string pod, TimeMs ts, std::vector<MetricSample> samples) {
  static int seq = 0;
  MetricBatch b;
  b.id = "b" + std::to_string(++seq);
  b.ts = ts;
  b.service = std::move(service);
  b.pod = std::move(pod);
  b.samples = std::move(samples);
  return b;
}

struct Collected {
  std::vector<FeatureWindow> windows;
  MetricsWindowAggregator::Sink sink() {
    return [this](FeatureWindow&& w) { windows.push_back(std::move(w)); };
  }
  std::vector<const FeatureWindow*> of(std::string_view pod) const {
    std::vector<const FeatureWindow*> out;
    for (const auto& w : windows)
      if (w.pod == pod) out.push_back(&w);
    return out;
  }
  const FeatureWindow* find(std::string_view pod, TimeMs end) const {
    for (const auto& w : windows)
      if (w.pod == pod && w.end == end) return &w;
    return nullptr;
  }
};

inline MetricsWindowOptions tumbling(TimeMs ms) {
  MetricsWindowOptions o;
  o.window_ms = ms;
  o.step_ms = ms;
  o.allowed_lateness_ms = 0;
  return o;
}

}  // namespace selfheal::testing
