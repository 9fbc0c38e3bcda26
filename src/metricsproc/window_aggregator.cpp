#include "metricsproc/window_aggregator.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "contracts/feature_names.hpp"
#include "contracts/metric_names.hpp"
#include "metricsproc/histogram_quantile.hpp"
#include "metricsproc/quantile_sketch.hpp"

namespace selfheal {

namespace mn = metric_names;
namespace fn = feature_names;

std::string_view to_string(SampleRejection r) {
  switch (r) {
    case SampleRejection::NonFinite: return "non_finite";
    case SampleRejection::NegativeValue: return "negative_value";
    case SampleRejection::Duplicate: return "duplicate";
    case SampleRejection::OutOfOrder: return "out_of_order";
    case SampleRejection::TooLate: return "too_late";
    case SampleRejection::FutureTimestamp: return "future_timestamp";
    case SampleRejection::BadHistogram: return "bad_histogram";
    case SampleRejection::TooManyLabels: return "too_many_labels";
    case SampleRejection::BadName: return "bad_name";
    case SampleRejection::BadLabel: return "bad_label";
    case SampleRejection::KindMismatch: return "kind_mismatch";
    case SampleRejection::MissingPod: return "missing_pod";
    case SampleRejection::SeriesLimit: return "series_limit";
  }
  return "unknown";
}

std::uint64_t MetricsAggregatorStats::rejected_total() const {
  std::uint64_t n = 0;
  for (auto v : rejected) n += v;
  return n;
}

std::string MetricsWindowOptions::validate() const {
  if (step_ms <= 0) return "metrics_processor.step must be positive";
  if (window_ms <= 0) return "metrics_processor.window must be positive";
  if (window_ms % step_ms != 0)
    return "metrics_processor.window must be a whole multiple of metrics_processor.step";
  if (window_ms / step_ms > 1000) return "metrics_processor.window spans more than 1000 steps";
  if (allowed_lateness_ms < 0) return "metrics_processor.allowed_lateness must not be negative";
  if (max_series == 0) return "metrics_processor.max_series must be positive";
  if (series_idle_ms <= 0) return "metrics_processor.series_idle_timeout must be positive";
  if (max_future_skew_ms < 0) return "metrics_processor.max_future_skew must not be negative";
  return {};
}

namespace {

constexpr TimeMs kNoTime = std::numeric_limits<TimeMs>::min();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

enum MetricId : std::uint8_t {
  kCpuUsage, kCpuLimit, kMemory, kMemoryLimit, kRestarts, kPodReady, kRequests, kErrors,
  kRequestDuration, kDbQueryDuration, kDbConnections, kDbPoolWaits, kMetricCount, kUnknownMetric
};

struct KnownMetric {
  std::string_view name;
  MetricId id;
};
constexpr std::array<KnownMetric, kMetricCount> kKnownMetrics = {{
    {mn::kCpuUsage, kCpuUsage}, {mn::kCpuLimit, kCpuLimit}, {mn::kMemoryWorkingSet, kMemory},
    {mn::kMemoryLimit, kMemoryLimit}, {mn::kRestarts, kRestarts}, {mn::kPodReady, kPodReady},
    {mn::kRequests, kRequests}, {mn::kErrors, kErrors}, {mn::kRequestDuration, kRequestDuration},
    {mn::kDbQueryDuration, kDbQueryDuration}, {mn::kDbConnectionsActive, kDbConnections},
    {mn::kDbPoolWaits, kDbPoolWaits},
}};

MetricId metric_id(std::string_view name) {
  for (const auto& m : kKnownMetrics)
    if (m.name.size() == name.size() && m.name == name) return m.id;
  return kUnknownMetric;
}

bool is_counter(MetricId id) {
  return id == kRestarts || id == kRequests || id == kErrors || id == kDbPoolWaits;
}
bool is_duration(MetricId id) { return id == kRequestDuration || id == kDbQueryDuration; }

bool kind_fits(MetricId id, MetricKind kind) {
  if (is_counter(id)) return kind == MetricKind::Counter;
  // Durations come as histograms, or as raw observations (one gauge sample per observation).
  if (is_duration(id)) return kind == MetricKind::Histogram || kind == MetricKind::Gauge;
  return kind == MetricKind::Gauge;
}

bool valid_metric_name(std::string_view s) {
  if (s.empty() || s.size() > MetricsWindowAggregator::kMaxNameLength) return false;
  auto head = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; };
  if (!head(s[0])) return false;
  for (char c : s)
    if (!head(c) && !(c >= '0' && c <= '9')) return false;
  return true;
}

bool valid_label_name(std::string_view s) {
  if (s.empty() || s.size() > 100) return false;
  auto head = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!head(s[0])) return false;
  for (char c : s)
    if (!head(c) && !(c >= '0' && c <= '9')) return false;
  return true;
}

TimeMs floor_div(TimeMs a, TimeMs b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

struct Stat {
  double sum = 0;
  double max = -std::numeric_limits<double>::infinity();
  std::uint32_t n = 0;
  void add(double v) {
    sum += v;
    max = std::max(max, v);
    ++n;
  }
  void merge(const Stat& o) {
    sum += o.sum;
    max = std::max(max, o.max);
    n += o.n;
  }
  double mean() const { return n ? sum / n : kNaN; }
  double maximum() const { return n ? max : kNaN; }
};

// Increase of a counter over the intervals ending in this pane; `dt_s` is the time those
// intervals cover, so a rate stays right for a pod that appears or vanishes mid-window.
struct CounterSum {
  double delta = 0;
  double dt_s = 0;
  std::uint32_t samples = 0;  // including the first sample of a series, which has no delta yet
  void merge(const CounterSum& o) {
    delta += o.delta;
    dt_s += o.dt_s;
    samples += o.samples;
  }
  double rate() const { return dt_s > 0 ? delta / dt_s : kNaN; }
};

// Least-squares sums of (t seconds, value); t is relative to a reference the owner knows (pane or
// window start) so the sums keep their precision.
struct LeastSquares {
  double n = 0, st = 0, sv = 0, stt = 0, stv = 0;
  void add(double t, double v) {
    n += 1;
    st += t;
    sv += v;
    stt += t * t;
    stv += t * v;
  }
  // Adds sums whose t is measured from a reference `shift` seconds after ours.
  void merge_shifted(const LeastSquares& o, double shift) {
    n += o.n;
    st += o.st + o.n * shift;
    sv += o.sv;
    stt += o.stt + 2 * shift * o.st + o.n * shift * shift;
    stv += o.stv + shift * o.sv;
  }
  double slope() const {
    if (n < 2) return kNaN;
    const double var = n * stt - st * st;
    if (!(var > 1e-9 * n * n)) return kNaN;
    return (n * stv - st * sv) / var;
  }
};

// Everything one pod's samples contribute to windows, for one step of event time (or, merged, for
// one window).
struct Aggregates {
  Stat cpu, cpu_util, memory, memory_util, db_connections;
  LeastSquares memory_fit;
  CounterSum restarts, requests, errors, pool_waits;
  double ready = kNaN;
  TimeMs ready_ts = kNoTime;
  BucketCounts latency, db_query;
  std::unique_ptr<QuantileSketch> latency_raw, db_query_raw;  // raw observations, rarely used
  bool has_data = false;

  void merge(const Aggregates& o, double shift_s) {
    cpu.merge(o.cpu);
    cpu_util.merge(o.cpu_util);
    memory.merge(o.memory);
    memory_util.merge(o.memory_util);
    db_connections.merge(o.db_connections);
    memory_fit.merge_shifted(o.memory_fit, shift_s);
    restarts.merge(o.restarts);
    requests.merge(o.requests);
    errors.merge(o.errors);
    pool_waits.merge(o.pool_waits);
    if (o.ready_ts != kNoTime && o.ready_ts >= ready_ts) {
      ready = o.ready;
      ready_ts = o.ready_ts;
    }
    latency.add(o.latency);
    db_query.add(o.db_query);
    merge_sketch(latency_raw, o.latency_raw);
    merge_sketch(db_query_raw, o.db_query_raw);
    has_data = has_data || o.has_data;
  }
  static void merge_sketch(std::unique_ptr<QuantileSketch>& into, const std::unique_ptr<QuantileSketch>& from) {
    if (!from || from->empty()) return;
    if (!into) into = std::make_unique<QuantileSketch>();
    into->merge(*from);
  }
  std::size_t memory_bytes() const {
    std::size_t b = sizeof(*this);
    b += (latency.upper_bounds.capacity() + latency.cumulative.capacity() +
          db_query.upper_bounds.capacity() + db_query.cumulative.capacity()) * sizeof(double);
    if (latency_raw) b += latency_raw->memory_bytes();
    if (db_query_raw) b += db_query_raw->memory_bytes();
    return b;
  }
};

struct Pane {
  TimeMs index = 0;  // covers [index*step, (index+1)*step)
  Aggregates agg;
};

// Quantile of request or query durations: histogram buckets when the window has them, else the
// raw-value sketch.
double duration_quantile(double q, const BucketCounts& buckets, const std::unique_ptr<QuantileSketch>& raw) {
  if (buckets.total() > 0) return histogram_quantile(q, buckets);
  if (raw && !raw->empty()) return raw->quantile(q);
  return kNaN;
}

// Absent stays absent; so does an overflow from absurd but finite inputs (1e308 + 1e308).
void put(FeatureWindow& w, std::string_view name, double v) {
  if (std::isfinite(v)) w.features.emplace_back(std::string(name), v);
}

}  // namespace

// Cumulative state of one series, for counters and histograms (gauges only use last_ts).
struct SeriesState {
  TimeMs last_ts = kNoTime;
  double last_value = 0;
  std::vector<double> last_bounds, last_cumulative;
  bool used = false;
};

struct MetricsWindowAggregator::PodState {
  std::string name;
  TimeMs max_ts = kNoTime;
  std::array<TimeMs, 8> recent_ts{kNoTime, kNoTime, kNoTime, kNoTime, kNoTime, kNoTime, kNoTime, kNoTime};
  std::uint8_t recent_pos = 0;
  std::array<SeriesState, kMetricCount> fixed;          // the known metrics without extra labels
  std::map<std::string, SeriesState> labeled;           // "name\x1fk=v\x1f..." -> state
  std::size_t series = 0;
  double cpu_limit = kNaN;
  double memory_limit = kNaN;
  std::vector<Pane> panes;  // sorted by index; only panes some unclosed window still needs

  bool seen_ts(TimeMs ts) const { return std::find(recent_ts.begin(), recent_ts.end(), ts) != recent_ts.end(); }
  void remember_ts(TimeMs ts) {
    recent_ts[recent_pos] = ts;
    recent_pos = static_cast<std::uint8_t>((recent_pos + 1) % recent_ts.size());
  }
  Pane& pane(TimeMs index) {
    for (auto it = panes.rbegin(); it != panes.rend(); ++it) {
      if (it->index == index) return *it;
      if (it->index < index) return *panes.insert(it.base(), Pane{index, {}});
    }
    return *panes.insert(panes.begin(), Pane{index, {}});
  }
};

struct MetricsWindowAggregator::ServiceState {
  std::string name;
  std::unordered_map<std::string, std::unique_ptr<PodState>> pods;
  TimeMs max_ts = kNoTime;
  TimeMs clock_minus_event = 0;  // processing clock - event time at the latest batch
  bool started = false;          // next_end is set
  bool closed_any = false;
  TimeMs next_end = 0;           // end of the next window to close
};

// Per-batch working memory, kept to avoid allocating per scrape.
struct MetricsWindowAggregator::Scratch {
  struct Item {
    MetricId id = kUnknownMetric;
    SeriesState* series = nullptr;
    TimeMs previous_ts = 0;  // the series' latest timestamp before this scrape
    bool accepted = false;
  };
  std::vector<Item> items;
  std::string key;
  BucketCounts delta;
};

MetricsWindowAggregator::MetricsWindowAggregator(MetricsWindowOptions options, Sink sink)
    : options_(options), sink_(std::move(sink)), scratch_(std::make_unique<Scratch>()) {
  if (std::string why = options_.validate(); !why.empty()) throw std::invalid_argument(why);
}

MetricsWindowAggregator::~MetricsWindowAggregator() = default;

std::size_t MetricsWindowAggregator::pods() const {
  std::size_t n = 0;
  for (const auto& [_, s] : services_) n += s->pods.size();
  return n;
}

std::size_t MetricsWindowAggregator::memory_bytes() const {
  std::size_t b = sizeof(*this);
  for (const auto& [name, s] : services_) {
    b += sizeof(ServiceState) + name.capacity() * 2 + 64;
    for (const auto& [pod_name, p] : s->pods) {
      b += sizeof(PodState) + pod_name.capacity() * 2 + 64;  // key, name, hash node
      for (const auto& st : p->fixed) b += (st.last_bounds.capacity() + st.last_cumulative.capacity()) * sizeof(double);
      for (const auto& [k, st] : p->labeled)
        b += 64 + sizeof(SeriesState) + k.capacity() + (st.last_bounds.capacity() + st.last_cumulative.capacity()) * sizeof(double);
      b += (p->panes.capacity() - p->panes.size()) * sizeof(Pane);
      for (const auto& pane : p->panes) b += pane.agg.memory_bytes() + sizeof(TimeMs);
    }
  }
  return b;
}

MetricsWindowAggregator::PodState* MetricsWindowAggregator::find_or_add_pod(ServiceState& service,
                                                                            const std::string& pod) {
  auto it = service.pods.find(pod);
  if (it != service.pods.end()) return it->second.get();
  auto state = std::make_unique<PodState>();
  state->name = pod;
  return service.pods.emplace(pod, std::move(state)).first->second.get();
}

void MetricsWindowAggregator::ingest(const MetricBatch& batch, TimeMs now) {
  const std::size_t n = batch.samples.size();
  if (batch.pod.empty()) return reject(SampleRejection::MissingPod, n);
  if (batch.ts > now + options_.max_future_skew_ms) return reject(SampleRejection::FutureTimestamp, n);

  auto sit = services_.find(batch.service);
  if (sit == services_.end()) {
    auto s = std::make_unique<ServiceState>();
    s->name = batch.service;
    sit = services_.emplace(batch.service, std::move(s)).first;
  }
  ServiceState& service = *sit->second;
  const TimeMs S = options_.step_ms;

  // Windows a sample at ts belongs to end in (ts, ts+W]; once the first of them is closed the
  // sample can no longer be counted anywhere it belongs.
  if (service.started && service.closed_any && batch.ts < service.next_end - S)
    return reject(SampleRejection::TooLate, n);

  PodState& pod = *find_or_add_pod(service, batch.pod);
  if (pod.seen_ts(batch.ts)) return reject(SampleRejection::Duplicate, n);
  const bool out_of_order = batch.ts < pod.max_ts;

  // Pass 1: validate every sample, find its series, apply limits (utilisation needs them first).
  auto& items = scratch_->items;
  items.assign(n, {});
  bool any_accepted = false;
  for (std::size_t i = 0; i < n; ++i) {
    const MetricSample& s = batch.samples[i];
    auto& item = items[i];
    const MetricId id = metric_id(s.name);
    if (id == kUnknownMetric && !valid_metric_name(s.name)) { reject(SampleRejection::BadName); continue; }
    if (s.labels.size() > kMaxLabels) { reject(SampleRejection::TooManyLabels); continue; }
    bool labels_ok = true;
    for (const auto& [k, v] : s.labels)
      if (!valid_label_name(k) || v.size() > kMaxLabelValueLength) labels_ok = false;
    if (!labels_ok) { reject(SampleRejection::BadLabel); continue; }
    if (!std::isfinite(s.value) || (s.kind == MetricKind::Histogram && !std::isfinite(s.sum))) {
      reject(SampleRejection::NonFinite);
      continue;
    }
    if (id == kUnknownMetric) { ++stats_.ignored; continue; }
    if (!kind_fits(id, s.kind)) { reject(SampleRejection::KindMismatch); continue; }
    if (s.value < 0) { reject(SampleRejection::NegativeValue); continue; }
    if (s.kind == MetricKind::Histogram) {
      if (s.buckets.size() > kMaxBuckets) { reject(SampleRejection::BadHistogram); continue; }
      bool finite = true;
      for (const auto& b : s.buckets)
        if (!std::isfinite(b.cumulative_count)) finite = false;
      if (!finite) { reject(SampleRejection::NonFinite); continue; }
      if (!check_buckets(s.buckets).empty()) { reject(SampleRejection::BadHistogram); continue; }
      if (!s.buckets.empty() && std::isinf(s.buckets.back().upper_bound) &&
          std::fabs(s.buckets.back().cumulative_count - s.value) > 0.5) {
        reject(SampleRejection::BadHistogram);  // _count must equal the +Inf bucket
        continue;
      }
    }

    SeriesState* series;
    if (s.labels.empty()) {
      series = &pod.fixed[id];
    } else {
      std::string& key = scratch_->key;
      key.assign(s.name);
      for (const auto& [k, v] : s.labels) {
        key += '\x1f';
        key += k;
        key += '=';
        key += v;
      }
      auto lit = pod.labeled.find(key);
      series = lit == pod.labeled.end() ? nullptr : &lit->second;
      if (!series) {
        if (total_series_ >= options_.max_series && !make_room(&pod)) { reject(SampleRejection::SeriesLimit); continue; }
        series = &pod.labeled.emplace(key, SeriesState{}).first->second;
      }
    }
    if (!series->used) {
      if (total_series_ >= options_.max_series && !make_room(&pod)) { reject(SampleRejection::SeriesLimit); continue; }
      series->used = true;
      ++pod.series;
      ++total_series_;
    }
    if (series->last_ts == batch.ts) { reject(SampleRejection::Duplicate); continue; }
    const bool cumulative = is_counter(id) || s.kind == MetricKind::Histogram;
    if (series->last_ts > batch.ts && cumulative) {
      // The series' later value already includes this interval's increase.
      reject(SampleRejection::OutOfOrder);
      continue;
    }
    item.id = id;
    item.series = series;
    item.previous_ts = series->last_ts;
    item.accepted = true;
    if (series->last_ts < batch.ts) series->last_ts = batch.ts;  // a repeat later in this scrape is a duplicate
    any_accepted = true;
    if (id == kCpuLimit) pod.cpu_limit = s.value;
    if (id == kMemoryLimit) pod.memory_limit = s.value;
  }
  if (!any_accepted) return;  // a scrape of nothing but junk does not move the watermark

  // Advance the watermark before folding, so the panes kept stay within window + lateness.
  if (batch.ts >= service.max_ts) service.clock_minus_event = now - batch.ts;
  service.max_ts = std::max(service.max_ts, batch.ts);
  const TimeMs first_end = (floor_div(batch.ts, S) + 1) * S;
  if (!service.started) {
    service.started = true;
    service.next_end = first_end;
  } else if (!service.closed_any && first_end < service.next_end) {
    service.next_end = first_end;  // nothing emitted yet: an earlier scrape may start the series
  }
  close_due(service, service.max_ts);

  pod.remember_ts(batch.ts);
  pod.max_ts = std::max(pod.max_ts, batch.ts);
  Pane& pane = pod.pane(floor_div(batch.ts, S));
  Aggregates& agg = pane.agg;
  agg.has_data = true;
  const double t_in_pane = static_cast<double>(batch.ts - pane.index * S) / 1000.0;

  // Pass 2: fold. Gauges of one metric with extra labels (per container) are summed per scrape.
  std::array<double, kMetricCount> gauge{};
  std::array<bool, kMetricCount> has_gauge{};
  std::array<CounterSum, kMetricCount> counter{};
  for (std::size_t i = 0; i < n; ++i) {
    const auto& item = items[i];
    if (!item.accepted) continue;
    const MetricSample& s = batch.samples[i];
    SeriesState& series = *item.series;
    ++stats_.accepted;
    if (out_of_order && item.previous_ts > batch.ts) ++stats_.late_folded;
    // A cumulative series silent for longer than a window is stale (Prometheus drops it too): its
    // next sample is a new baseline, or an increase spread over the gap would dilute this window's
    // rate (a pod that comes back after a crash).
    const bool first = item.previous_ts == kNoTime || batch.ts - item.previous_ts > options_.window_ms;
    const double dt_s = first ? 0.0 : static_cast<double>(batch.ts - item.previous_ts) / 1000.0;

    if (s.kind == MetricKind::Gauge && is_duration(item.id)) {
      auto& sketch = item.id == kRequestDuration ? agg.latency_raw : agg.db_query_raw;
      if (!sketch) sketch = std::make_unique<QuantileSketch>();
      sketch->add(s.value);
    } else if (s.kind == MetricKind::Gauge) {
      gauge[item.id] = has_gauge[item.id] && item.id == kPodReady ? std::min(gauge[item.id], s.value)
                                                                  : gauge[item.id] + s.value;
      has_gauge[item.id] = true;
    } else if (s.kind == MetricKind::Counter) {
      CounterSum& c = counter[item.id];
      ++c.samples;
      if (!first) {
        double delta = s.value - series.last_value;
        if (delta < 0) {  // the counter restarted from zero: everything it shows is new
          delta = s.value;
          ++stats_.counter_resets;
        }
        c.delta += delta;
        c.dt_s = std::max(c.dt_s, dt_s);
      }
      series.last_value = s.value;
    } else {  // histogram
      BucketCounts& target = item.id == kRequestDuration ? agg.latency : agg.db_query;
      const bool same_layout = !first && series.last_bounds.size() == s.buckets.size() &&
          std::equal(s.buckets.begin(), s.buckets.end(), series.last_bounds.begin(),
                     [](const HistogramBucket& b, double u) { return b.upper_bound == u; });
      if (same_layout) {
        BucketCounts& delta = scratch_->delta;
        delta.upper_bounds = series.last_bounds;
        delta.cumulative.resize(s.buckets.size());
        bool reset = s.value < series.last_value;
        for (std::size_t b = 0; b < s.buckets.size() && !reset; ++b)
          reset = s.buckets[b].cumulative_count < series.last_cumulative[b];
        if (reset) ++stats_.counter_resets;
        for (std::size_t b = 0; b < s.buckets.size(); ++b)
          delta.cumulative[b] = s.buckets[b].cumulative_count - (reset ? 0.0 : series.last_cumulative[b]);
        target.add(delta);
      } else {
        series.last_bounds.resize(s.buckets.size());
        for (std::size_t b = 0; b < s.buckets.size(); ++b) series.last_bounds[b] = s.buckets[b].upper_bound;
      }
      series.last_cumulative.resize(s.buckets.size());
      for (std::size_t b = 0; b < s.buckets.size(); ++b) series.last_cumulative[b] = s.buckets[b].cumulative_count;
      series.last_value = s.value;
    }
  }

  if (has_gauge[kCpuUsage]) {
    agg.cpu.add(gauge[kCpuUsage]);
    if (pod.cpu_limit > 0) agg.cpu_util.add(gauge[kCpuUsage] / pod.cpu_limit);
  }
  if (has_gauge[kMemory]) {
    agg.memory.add(gauge[kMemory]);
    agg.memory_fit.add(t_in_pane, gauge[kMemory]);
    if (pod.memory_limit > 0) agg.memory_util.add(gauge[kMemory] / pod.memory_limit);
  }
  if (has_gauge[kDbConnections]) agg.db_connections.add(gauge[kDbConnections]);
  if (has_gauge[kPodReady] && batch.ts >= agg.ready_ts) {
    agg.ready = gauge[kPodReady];
    agg.ready_ts = batch.ts;
  }
  agg.restarts.merge(counter[kRestarts]);
  agg.requests.merge(counter[kRequests]);
  agg.errors.merge(counter[kErrors]);
  agg.pool_waits.merge(counter[kDbPoolWaits]);
}

void MetricsWindowAggregator::advance(TimeMs now) {
  for (auto it = services_.begin(); it != services_.end();) {
    ServiceState& s = *it->second;
    const TimeMs watermark = std::max(s.max_ts, now - s.clock_minus_event);
    close_due(s, watermark);
    forget_idle(s, watermark);
    if (s.pods.empty())
      it = services_.erase(it);
    else
      ++it;
  }
}

void MetricsWindowAggregator::flush() {
  for (auto& [_, s] : services_) {
    TimeMs last = kNoTime;
    for (const auto& [__, p] : s->pods)
      if (!p->panes.empty()) last = std::max(last, p->panes.back().index);
    if (last == kNoTime) continue;
    // The last window that still holds data ends one window after the newest pane starts.
    close_due(*s, (last + 1) * options_.step_ms + options_.window_ms - options_.step_ms + options_.allowed_lateness_ms);
  }
}

void MetricsWindowAggregator::close_due(ServiceState& s, TimeMs watermark) {
  const TimeMs S = options_.step_ms;
  const TimeMs W = options_.window_ms;
  while (s.started && s.next_end + options_.allowed_lateness_ms <= watermark) {
    TimeMs earliest = std::numeric_limits<TimeMs>::max();
    for (const auto& [_, p] : s.pods)
      if (!p->panes.empty()) earliest = std::min(earliest, p->panes.front().index * S);
    if (earliest == std::numeric_limits<TimeMs>::max()) {
      // Nothing pending: jump to the windows still open at this watermark.
      const TimeMs aligned = (floor_div(watermark - options_.allowed_lateness_ms, S) + 1) * S;
      s.next_end = std::max(s.next_end, aligned);
      s.closed_any = true;
      break;
    }
    if (earliest >= s.next_end) {  // an empty stretch: skip to the first window holding data
      s.next_end = earliest + S;
      continue;
    }
    emit_window(s, s.next_end);
    s.closed_any = true;
    s.next_end += S;
    const TimeMs oldest_needed = floor_div(s.next_end - W, S);
    for (auto& [_, p] : s.pods) {
      auto keep = std::find_if(p->panes.begin(), p->panes.end(), [&](const Pane& pn) { return pn.index >= oldest_needed; });
      p->panes.erase(p->panes.begin(), keep);
    }
  }
}

void MetricsWindowAggregator::emit_window(ServiceState& s, TimeMs end) {
  const TimeMs W = options_.window_ms;
  const TimeMs S = options_.step_ms;
  const TimeMs start = end - W;
  const TimeMs first_pane = floor_div(start, S);
  const TimeMs last_pane = floor_div(end, S);  // exclusive

  std::vector<PodState*> ordered;
  ordered.reserve(s.pods.size());
  for (auto& [_, p] : s.pods) ordered.push_back(p.get());
  std::sort(ordered.begin(), ordered.end(), [](const PodState* a, const PodState* b) { return a->name < b->name; });

  Aggregates service;
  double requests_rate = 0, errors_rate = 0, pool_rate = 0, slope_max = kNaN;
  bool has_requests = false, has_errors = false, has_pool = false;
  int pods = 0, ready = 0;
  ServiceWindowTotals totals;
  totals.service = s.name;
  totals.end = end;
  bool has_cpu = false, has_memory = false;
  for (PodState* p : ordered) {
    Aggregates w;
    for (const Pane& pane : p->panes)
      if (pane.index >= first_pane && pane.index < last_pane)
        w.merge(pane.agg, static_cast<double>(pane.index * S - start) / 1000.0);
    if (!w.has_data) continue;
    ++pods;
    if (w.ready >= 0.5) ++ready;
    const double slope = w.memory_fit.slope();
    if (!std::isnan(slope)) slope_max = std::isnan(slope_max) ? slope : std::max(slope_max, slope);
    if (!std::isnan(w.requests.rate())) { requests_rate += w.requests.rate(); has_requests = true; }
    if (!std::isnan(w.errors.rate())) { errors_rate += w.errors.rate(); has_errors = true; }
    if (!std::isnan(w.pool_waits.rate())) { pool_rate += w.pool_waits.rate(); has_pool = true; }
    if (!std::isnan(w.cpu.mean())) { totals.cpu_millicores_sum += w.cpu.mean(); has_cpu = true; }
    if (!std::isnan(w.memory.mean())) { totals.memory_bytes_sum += w.memory.mean(); has_memory = true; }

    if (options_.emit_pod_windows) {
      FeatureWindow fw;
      fw.start = start;
      fw.end = end;
      fw.service = s.name;
      fw.pod = p->name;
      fw.source = FeatureSource::Metrics;
      fw.features.reserve(20);
      put(fw, fn::kCpuMillicoresMean, w.cpu.mean());
      put(fw, fn::kCpuUtilMean, w.cpu_util.mean());
      put(fw, fn::kCpuUtilMax, w.cpu_util.maximum());
      put(fw, fn::kMemoryBytesMean, w.memory.mean());
      put(fw, fn::kMemoryBytesMax, w.memory.maximum());
      put(fw, fn::kMemoryUtilMax, w.memory_util.maximum());
      put(fw, fn::kMemorySlope, slope);
      if (w.restarts.samples) put(fw, fn::kRestarts, w.restarts.delta);
      put(fw, fn::kRequestsPerS, w.requests.rate());
      put(fw, fn::kErrorsPerS, w.errors.rate());
      if (w.requests.delta > 0 && w.errors.samples) put(fw, fn::kErrorRatio, w.errors.delta / w.requests.delta);
      put(fw, fn::kLatencyP50, duration_quantile(0.50, w.latency, w.latency_raw));
      put(fw, fn::kLatencyP95, duration_quantile(0.95, w.latency, w.latency_raw));
      put(fw, fn::kLatencyP99, duration_quantile(0.99, w.latency, w.latency_raw));
      put(fw, fn::kDbQueryP95, duration_quantile(0.95, w.db_query, w.db_query_raw));
      put(fw, fn::kDbConnectionsActive, w.db_connections.mean());
      put(fw, fn::kDbPoolWaitsPerS, w.pool_waits.rate());
      ++stats_.windows;
      sink_(std::move(fw));
    }
    service.merge(w, 0.0);
  }
  if (pods == 0) return;

  FeatureWindow fw;
  fw.start = start;
  fw.end = end;
  fw.service = s.name;
  fw.source = FeatureSource::Metrics;
  fw.features.reserve(20);
  put(fw, fn::kCpuMillicoresMean, service.cpu.mean());
  put(fw, fn::kCpuUtilMean, service.cpu_util.mean());
  put(fw, fn::kCpuUtilMax, service.cpu_util.maximum());
  put(fw, fn::kMemoryBytesMean, service.memory.mean());
  put(fw, fn::kMemoryBytesMax, service.memory.maximum());
  put(fw, fn::kMemoryUtilMax, service.memory_util.maximum());
  put(fw, fn::kMemorySlope, slope_max);  // the fastest-growing pod: the first to hit its limit
  if (service.restarts.samples) put(fw, fn::kRestarts, service.restarts.delta);
  put(fw, fn::kPods, pods);
  put(fw, fn::kPodsReady, ready);
  if (has_requests) put(fw, fn::kRequestsPerS, requests_rate);
  if (has_errors) put(fw, fn::kErrorsPerS, errors_rate);
  if (service.requests.delta > 0 && service.errors.samples)
    put(fw, fn::kErrorRatio, service.errors.delta / service.requests.delta);
  put(fw, fn::kLatencyP50, duration_quantile(0.50, service.latency, service.latency_raw));
  put(fw, fn::kLatencyP95, duration_quantile(0.95, service.latency, service.latency_raw));
  put(fw, fn::kLatencyP99, duration_quantile(0.99, service.latency, service.latency_raw));
  put(fw, fn::kDbQueryP95, duration_quantile(0.95, service.db_query, service.db_query_raw));
  put(fw, fn::kDbConnectionsActive, service.db_connections.mean());
  if (has_pool) put(fw, fn::kDbPoolWaitsPerS, pool_rate);
  if (totals_sink_) {
    if (!has_cpu) totals.cpu_millicores_sum = kNaN;
    if (!has_memory) totals.memory_bytes_sum = kNaN;
    totals_sink_(totals);
  }
  ++stats_.windows;
  sink_(std::move(fw));
}

void MetricsWindowAggregator::forget_idle(ServiceState& s, TimeMs watermark) {
  for (auto it = s.pods.begin(); it != s.pods.end();) {
    PodState& p = *it->second;
    if (p.panes.empty() && (p.max_ts == kNoTime || p.max_ts < watermark - options_.series_idle_ms)) {
      stats_.evicted_idle += p.series;
      total_series_ -= p.series;
      it = s.pods.erase(it);
    } else {
      ++it;
    }
  }
}

// Evicts the pods that reported least recently (any service, never `keep`) until the series fit
// in 90% of the cap, so a stream of ever-new series pays for one sort per tenth of the cap.
bool MetricsWindowAggregator::make_room(const PodState* keep) {
  struct Candidate {
    TimeMs last;
    ServiceState* service;
    PodState* pod;
  };
  std::vector<Candidate> candidates;
  for (auto& [_, s] : services_)
    for (auto& [__, p] : s->pods)
      if (p.get() != keep) candidates.push_back({p->max_ts, s.get(), p.get()});
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.last != b.last) return a.last < b.last;
    if (a.service->name != b.service->name) return a.service->name < b.service->name;
    return a.pod->name < b.pod->name;
  });
  const std::size_t target = options_.max_series - options_.max_series / 10;
  for (const Candidate& c : candidates) {
    if (total_series_ <= target) break;
    stats_.evicted_cap += c.pod->series;
    total_series_ -= c.pod->series;
    const std::string name = c.pod->name;  // the key must outlive the node it erases
    c.service->pods.erase(name);
  }
  return total_series_ < options_.max_series;
}

}  // namespace selfheal
