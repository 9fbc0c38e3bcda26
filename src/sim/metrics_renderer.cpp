#include "sim/metrics_renderer.hpp"

#include <cmath>
#include <limits>

#include "contracts/metric_names.hpp"
#include "sim/random.hpp"

namespace selfheal::sim {
namespace {

// Adds `n` observations of a log-normal(median, sigma) to cumulative bucket counts and returns the
// expected sum of the observations.
double add_lognormal(std::vector<double>& buckets, const std::vector<double>& bounds, double n, double median,
                     double sigma) {
  if (!(n > 0) || !(median > 0)) return 0;
  const double lm = std::log(median);
  const double inv = sigma > 0 ? 1.0 / sigma : 0;
  for (std::size_t i = 0; i + 1 < bounds.size(); ++i) {
    double p = sigma > 0 ? normal_cdf((std::log(bounds[i]) - lm) * inv) : (bounds[i] >= median ? 1 : 0);
    buckets[i] += n * p;
  }
  buckets.back() += n;
  return n * median * std::exp(0.5 * sigma * sigma);  // mean of a log-normal
}

MetricSample gauge(std::string_view name, double v) {
  MetricSample s;
  s.name = std::string(name);
  s.kind = MetricKind::Gauge;
  s.value = v;
  return s;
}
MetricSample counter(std::string_view name, double v) {
  MetricSample s;
  s.name = std::string(name);
  s.kind = MetricKind::Counter;
  s.value = std::floor(v);
  return s;
}
MetricSample histogram(std::string_view name, const std::vector<double>& bounds, const std::vector<double>& counts,
                       double sum) {
  MetricSample s;
  s.name = std::string(name);
  s.kind = MetricKind::Histogram;
  s.buckets.resize(bounds.size());
  for (std::size_t i = 0; i < bounds.size(); ++i) s.buckets[i] = {bounds[i], std::floor(counts[i])};
  s.value = s.buckets.back().cumulative_count;
  s.sum = sum;
  return s;
}

}  // namespace

const std::vector<double>& MetricsRenderer::bucket_bounds() {
  static const std::vector<double> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                                              std::numeric_limits<double>::infinity()};
  return kBounds;
}

MetricsRenderer::MetricsRenderer(std::int64_t scrape_interval_ms)
    : interval_ms_(scrape_interval_ms > 0 ? scrape_interval_ms : 10000) {}

std::size_t MetricsRenderer::observe(const ServiceState& st, std::vector<MetricBatch>& out) {
  const auto& bounds = bucket_bounds();
  const double dt = static_cast<double>(st.tick_ms) / 1000.0;
  const TimeMs prev = st.ts - st.tick_ms;
  // Scrapes happen at multiples of the interval; a tick that crosses one is scraped at its end.
  const bool scrape = st.ts / interval_ms_ != prev / interval_ms_;
  std::size_t samples = 0;
  for (const auto& p : st.pods) {
    auto [it, fresh] = pods_.try_emplace(p.pod);
    Series& s = it->second;
    if (fresh || s.restarts != p.restarts) {
      // A new container: its process counters start again from zero.
      std::uint32_t restarts = p.restarts;
      s = Series{};
      s.restarts = restarts;
    }
    if (s.buckets.empty()) s.buckets.assign(bounds.size(), 0);
    s.last_seen = st.ts;
    const double n = p.requests_per_s * dt;
    s.requests += n;
    s.errors += p.errors_per_s * dt;
    s.duration_sum += add_lognormal(s.buckets, bounds, n, p.latency_median_s, p.latency_sigma);
    const bool db = !is_absent(p.db_query_median_s);
    if (db) {
      if (s.db_buckets.empty()) s.db_buckets.assign(bounds.size(), 0);
      s.db_queries += n;
      s.db_sum += add_lognormal(s.db_buckets, bounds, n, p.db_query_median_s, p.latency_sigma);
      if (!is_absent(p.db_pool_waits_per_s)) s.pool_waits += p.db_pool_waits_per_s * dt;
    }
    if (!scrape) continue;

    MetricBatch b;
    b.ts = st.ts;
    b.service = st.service;
    b.pod = p.pod;
    b.samples.reserve(db || !s.db_buckets.empty() ? 12 : 9);
    b.samples.push_back(gauge(metric_names::kCpuUsage, p.cpu_millicores));
    b.samples.push_back(gauge(metric_names::kCpuLimit, p.cpu_limit_millicores));
    b.samples.push_back(gauge(metric_names::kMemoryWorkingSet, p.memory_bytes));
    b.samples.push_back(gauge(metric_names::kMemoryLimit, p.memory_limit_bytes));
    b.samples.push_back(counter(metric_names::kRestarts, p.restarts));
    b.samples.push_back(gauge(metric_names::kPodReady, p.ready ? 1 : 0));
    b.samples.push_back(counter(metric_names::kRequests, s.requests));
    b.samples.push_back(counter(metric_names::kErrors, s.errors));
    b.samples.push_back(histogram(metric_names::kRequestDuration, bounds, s.buckets, s.duration_sum));
    if (!s.db_buckets.empty()) {
      b.samples.push_back(histogram(metric_names::kDbQueryDuration, bounds, s.db_buckets, s.db_sum));
      b.samples.push_back(gauge(metric_names::kDbConnectionsActive, db && !is_absent(p.db_connections_active) ? p.db_connections_active : 0));
      b.samples.push_back(counter(metric_names::kDbPoolWaits, s.pool_waits));
    }
    samples += b.samples.size();
    out.push_back(std::move(b));
  }
  // Forget pods that are gone (deleted and terminated) so the map does not grow without bound.
  if (!scrape) return samples;
  const std::string prefix = st.service + "-";
  for (auto it = pods_.lower_bound(prefix); it != pods_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
    if (st.ts - it->second.last_seen > 5 * interval_ms_)
      it = pods_.erase(it);
    else
      ++it;
  }
  return samples;
}

}  // namespace selfheal::sim
