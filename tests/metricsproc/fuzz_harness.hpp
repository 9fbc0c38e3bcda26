// Turns arbitrary bytes into a stream of MetricBatch scrapes (or JSON events) for the metrics
// processor, and checks its invariants: no crash, series under the cap, every emitted feature
// finite, windows well formed. Used by the libFuzzer target (fuzz_metrics_batch, SELFHEAL_FUZZ=ON)
// and by a short seeded run in the unit tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "contracts/events_json.hpp"
#include "contracts/metric_names.hpp"
#include "metricsproc/window_aggregator.hpp"

namespace selfheal::fuzz {

class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  double raw_double() {
    std::uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | byte();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  std::string text(std::size_t max) {
    std::string s;
    const std::size_t n = byte() % (max + 1);
    for (std::size_t i = 0; i < n && !done(); ++i) s.push_back(static_cast<char>(byte()));
    return s;
  }
  std::string_view rest() {
    std::string_view r(reinterpret_cast<const char*>(data_ + pos_), size_ - pos_);
    pos_ = size_;
    return r;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

inline double fuzz_value(ByteReader& in) {
  switch (in.byte() % 4) {
    case 0: return in.raw_double();  // NaN, inf, denormals, 1e308
    case 1: return -static_cast<double>(in.byte());
    default: return static_cast<double>(in.byte()) * 10.0 + in.byte();
  }
}

inline MetricSample fuzz_sample(ByteReader& in) {
  static constexpr std::string_view kNames[] = {
      metric_names::kCpuUsage, metric_names::kCpuLimit, metric_names::kMemoryWorkingSet,
      metric_names::kMemoryLimit, metric_names::kRestarts, metric_names::kPodReady,
      metric_names::kRequests, metric_names::kErrors, metric_names::kRequestDuration,
      metric_names::kDbQueryDuration, metric_names::kDbConnectionsActive, metric_names::kDbPoolWaits};
  MetricSample s;
  const std::uint8_t pick = in.byte();
  s.name = pick < 200 ? std::string(kNames[pick % 12]) : in.text(40);
  s.kind = static_cast<MetricKind>(in.byte() % 3);
  s.value = fuzz_value(in);
  const std::uint8_t labels = in.byte();
  const std::size_t n_labels = labels < 200 ? 0 : labels < 250 ? labels % 3 : 40;
  for (std::size_t i = 0; i < n_labels; ++i) s.labels.emplace_back(in.text(6), in.text(6));
  if (s.kind == MetricKind::Histogram) {
    const std::size_t n = in.byte() % 6;
    double bound = 0, count = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint8_t b = in.byte();
      bound = b < 240 ? bound + b / 100.0 : fuzz_value(in);
      count = b < 230 ? count + in.byte() : fuzz_value(in);
      s.buckets.push_back({bound, count});
    }
    if (in.byte() % 2) {
      s.buckets.push_back({std::numeric_limits<double>::infinity(), count});
      s.value = count;
    }
    s.sum = in.byte() < 250 ? count * 0.1 : fuzz_value(in);
  }
  return s;
}

inline void check_window(const FeatureWindow& w) {
  if (w.end <= w.start) throw std::logic_error("window end is not after its start");
  for (const auto& [k, v] : w.features)
    if (!std::isfinite(v)) throw std::logic_error("feature " + k + " is not finite");
}

struct RunSummary {
  std::uint64_t accepted = 0, rejected = 0, windows = 0;
};

// Runs one input through a fresh aggregator; throws std::logic_error when an invariant breaks.
inline RunSummary run_one_input(const std::uint8_t* data, std::size_t size) {
  ByteReader in(data, size);
  MetricsWindowOptions o;
  o.window_ms = 20'000;
  o.step_ms = 5'000;
  o.allowed_lateness_ms = 2'000;
  o.max_series = 64;
  o.series_idle_ms = 60'000;
  MetricsWindowAggregator agg(o, [](FeatureWindow&& w) { check_window(w); });
  const TimeMs t0 = 1'800'000'000'000;
  TimeMs now = t0;
  int batches = 0;
  while (!in.done() && batches++ < 2000) {
    const std::uint8_t op = in.byte();
    if (op < 8) {  // a JSON event, as it would arrive over Kafka
      DecodeResult r = decode_event(in.rest());
      if (r.ok)
        if (const auto* b = std::get_if<MetricBatch>(&r.event)) agg.ingest(*b, now);
      break;
    }
    if (op < 24) {
      now += in.byte() * 1000;
      agg.advance(now);
      continue;
    }
    MetricBatch b;
    b.id = "f";
    b.service = "svc-" + std::to_string(in.byte() % 3);
    const std::uint8_t pod = in.byte();
    b.pod = pod < 250 ? b.service + "-" + std::to_string(pod % 9) : in.text(8);
    const std::uint8_t shift = in.byte();
    b.ts = now + (shift < 250 ? (static_cast<TimeMs>(shift) - 64) * 250 : (shift % 2 ? 86'400'000 : -86'400'000));
    const std::size_t n = in.byte() % 16;
    for (std::size_t i = 0; i < n && !in.done(); ++i) b.samples.push_back(fuzz_sample(in));
    agg.ingest(b, now);
    if (agg.series() > o.max_series) throw std::logic_error("series above the cap");
    now = std::max(now, b.ts);
  }
  agg.flush();
  agg.advance(now + 3'600'000);
  if (agg.series() != 0) throw std::logic_error("series left after an hour of silence");
  return {agg.stats().accepted, agg.stats().rejected_total(), agg.stats().windows};
}

}  // namespace selfheal::fuzz
