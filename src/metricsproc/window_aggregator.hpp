// The metrics processor's engine: validates and cleans MetricBatch samples, keeps per-series
// counter state (resets turned into correct increases), and folds samples into event-time panes
// of one `step` each; a window of `window` = window/step consecutive panes is closed when the
// service's watermark (latest event time seen, or clock-derived event time when a service goes
// quiet) passes its end plus the allowed lateness, and comes out as FeatureWindows: one per pod
// and one per service (pod empty). step == window gives tumbling windows.
//
// Lifecycle/threading: not thread-safe; one owner (the metrics-processor service, a bench or a
// test) calls ingest()/advance() from one thread. Windows are handed to the sink synchronously,
// in a deterministic order (service name, window end, pod name, then the service window).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "contracts/events.hpp"

namespace selfheal {

// Why a sample was refused; every refusal is counted under one of these, never fatal.
enum class SampleRejection : std::uint8_t {
  NonFinite,        // NaN or infinite value, sum or bound
  NegativeValue,    // a gauge, counter or raw duration below zero
  Duplicate,        // same series and timestamp seen before (redelivered scrape)
  OutOfOrder,       // a counter or histogram sample older than the series' latest one
  TooLate,          // behind the watermark beyond the allowed lateness: its windows are closed
  FutureTimestamp,  // further ahead of the clock than max_future_skew
  BadHistogram,     // bounds not increasing, counts not monotonic, count != +Inf bucket, too many
  TooManyLabels,    // more than kMaxLabels labels
  BadName,          // empty, too long or not [a-zA-Z_:][a-zA-Z0-9_:]*
  BadLabel,         // label name invalid or value too long
  KindMismatch,     // a known metric with the wrong kind (e.g. requests sent as a gauge)
  MissingPod,       // the batch names no pod
  SeriesLimit,      // no room for a new series even after evicting the idlest pods
};
inline constexpr std::size_t kSampleRejectionCount = 13;
std::string_view to_string(SampleRejection r);

struct MetricsWindowOptions {
  TimeMs window_ms = 60'000;
  TimeMs step_ms = 10'000;
  TimeMs allowed_lateness_ms = 5'000;
  std::size_t max_series = 100'000;     // over all pods; new series past this evict the idlest pods
  TimeMs series_idle_ms = 300'000;      // a pod silent this long (event time) is forgotten
  TimeMs max_future_skew_ms = 600'000;  // batches further ahead of the clock are refused
  bool emit_pod_windows = true;

  // Empty if usable, else which option is wrong and why.
  std::string validate() const;
};

struct MetricsAggregatorStats {
  std::array<std::uint64_t, kSampleRejectionCount> rejected{};
  std::uint64_t accepted = 0;        // samples folded into windows
  std::uint64_t ignored = 0;         // valid samples of metrics no feature uses
  std::uint64_t late_folded = 0;     // out-of-order gauge samples folded in within the lateness
  std::uint64_t counter_resets = 0;  // counters (and histograms) that went down: a restart
  std::uint64_t evicted_idle = 0;    // series forgotten because their pod went quiet
  std::uint64_t evicted_cap = 0;     // series evicted to stay under max_series
  std::uint64_t windows = 0;         // FeatureWindows emitted

  std::uint64_t rejected_total() const;
  std::uint64_t rejected_for(SampleRejection r) const { return rejected[static_cast<std::size_t>(r)]; }
};

// Totals over the pods of one service window that the service FeatureWindow does not carry (it
// holds means over all scrapes, which stay comparable when pods come and go): what the service
// uses in total, for the per-service Prometheus gauges. NaN when no pod reported that metric.
struct ServiceWindowTotals {
  std::string_view service;        // valid during the call only
  TimeMs end = 0;
  double cpu_millicores_sum = 0;   // Σ over pods of each pod's mean CPU in the window
  double memory_bytes_sum = 0;     // Σ over pods of each pod's mean working set in the window
};

class MetricsWindowAggregator {
 public:
  using Sink = std::function<void(FeatureWindow&&)>;
  // Called with the totals of a service window right before that window goes to the Sink.
  using TotalsSink = std::function<void(const ServiceWindowTotals&)>;

  // Throws std::invalid_argument if options.validate() fails.
  MetricsWindowAggregator(MetricsWindowOptions options, Sink sink);
  ~MetricsWindowAggregator();
  MetricsWindowAggregator(const MetricsWindowAggregator&) = delete;
  MetricsWindowAggregator& operator=(const MetricsWindowAggregator&) = delete;

  // Cleans and folds one scrape; closes the windows of its service that became due. `now` is the
  // processing clock (future-timestamp guard, and the clock/event-time offset advance() uses).
  void ingest(const MetricBatch& batch, TimeMs now);
  // Time moved: closes windows of every service whose event time, inferred from the clock, passed
  // them, so a service whose pods stopped reporting does not freeze; forgets idle pods.
  void advance(TimeMs now);
  // Closes every window that holds data (end of input; tests).
  void flush();
  // Optional: receives the totals of every service window (not of pod windows).
  void set_totals_sink(TotalsSink sink) { totals_sink_ = std::move(sink); }

  const MetricsAggregatorStats& stats() const { return stats_; }
  const MetricsWindowOptions& options() const { return options_; }
  std::size_t series() const { return total_series_; }
  std::size_t pods() const;
  // Approximate heap + object bytes held for series and open panes.
  std::size_t memory_bytes() const;

  static constexpr std::size_t kMaxLabels = 32;
  static constexpr std::size_t kMaxNameLength = 200;
  static constexpr std::size_t kMaxLabelValueLength = 1024;
  static constexpr std::size_t kMaxBuckets = 128;

  struct PodState;
  struct ServiceState;

 private:
  struct Scratch;
  PodState* find_or_add_pod(ServiceState& service, const std::string& pod);
  void close_due(ServiceState& service, TimeMs watermark);
  void emit_window(ServiceState& service, TimeMs end);
  void forget_idle(ServiceState& service, TimeMs watermark);
  bool make_room(const PodState* keep);
  void reject(SampleRejection r, std::uint64_t n = 1) { stats_.rejected[static_cast<std::size_t>(r)] += n; }

  MetricsWindowOptions options_;
  Sink sink_;
  TotalsSink totals_sink_;
  std::map<std::string, std::unique_ptr<ServiceState>, std::less<>> services_;
  std::size_t total_series_ = 0;
  MetricsAggregatorStats stats_;
  std::unique_ptr<Scratch> scratch_;
};

}  // namespace selfheal
