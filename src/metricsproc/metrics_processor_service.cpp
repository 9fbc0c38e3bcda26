#include "metricsproc/metrics_processor_service.hpp"

#include <stdexcept>

#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "contracts/feature_names.hpp"
#include "core/metrics.hpp"

namespace selfheal {

void MetricsProcessorService::declare_config(ConfigSchema& schema) {
  schema.add("metrics_processor.window", ConfigType::Duration, "60s",
             "Length of each event-time window of metric features");
  schema.add("metrics_processor.step", ConfigType::Duration, "10s",
             "How far consecutive windows start apart (sliding); equal to window for tumbling windows; "
             "window must be a whole multiple of it");
  schema.add("metrics_processor.allowed_lateness", ConfigType::Duration, "5s",
             "How long after a window's end (in event time) late samples are still folded in before it closes");
  schema.add("metrics_processor.max_series", ConfigType::Int, "100000",
             "Cap on series kept in memory; past it the least recently reporting pods are evicted");
  schema.add("metrics_processor.series_idle_timeout", ConfigType::Duration, "5m",
             "A pod that has not reported for this long (event time) is forgotten");
  schema.add("metrics_processor.max_future_skew", ConfigType::Duration, "10m",
             "Scrapes stamped further than this ahead of the clock are refused");
  schema.add("metrics_processor.pod_windows", ConfigType::Bool, "true",
             "Emit a window per pod as well as the one per service");
}

MetricsWindowOptions MetricsProcessorService::options_from(const Config& config) {
  MetricsWindowOptions o;
  o.window_ms = config.duration_ms("metrics_processor.window");
  o.step_ms = config.duration_ms("metrics_processor.step");
  o.allowed_lateness_ms = config.duration_ms("metrics_processor.allowed_lateness");
  const std::int64_t max_series = config.integer("metrics_processor.max_series");
  if (max_series <= 0) throw std::runtime_error("metrics_processor.max_series must be positive");
  o.max_series = static_cast<std::size_t>(max_series);
  o.series_idle_ms = config.duration_ms("metrics_processor.series_idle_timeout");
  o.max_future_skew_ms = config.duration_ms("metrics_processor.max_future_skew");
  o.emit_pod_windows = config.boolean("metrics_processor.pod_windows");
  if (std::string why = o.validate(); !why.empty()) throw std::runtime_error(why);
  return o;
}

MetricsProcessorService::MetricsProcessorService(MetricsWindowOptions options)
    : aggregator_(options, [this](FeatureWindow&& w) {
        w.id = next_id();
        if (w.pod.empty()) export_service_window(w);
        emit(topics::kFeatures, std::move(w));
      }) {
  aggregator_.set_totals_sink([this](const ServiceWindowTotals& t) { export_totals(t); });
}

void MetricsProcessorService::start(ServiceContext& ctx) {
  bind(ctx);
  consume(topics::kMetricsRaw);
  auto& m = ctx.metrics;
  for (std::size_t i = 0; i < kSampleRejectionCount; ++i)
    rejected_[i] = &m.counter("selfheal_metrics_rejected_total", "Metric samples refused by the metrics processor, by reason",
                              {{"reason", std::string(to_string(static_cast<SampleRejection>(i)))}});
  accepted_ = &m.counter("selfheal_metrics_samples_total", "Metric samples folded into windows");
  ignored_ = &m.counter("selfheal_metrics_ignored_total", "Valid metric samples of metrics no feature uses");
  late_folded_ = &m.counter("selfheal_metrics_late_folded_total",
                            "Out-of-order gauge samples folded into still-open windows");
  // Not "..._counter_resets_total": promtool's lint refuses a metric type inside a name.
  resets_ = &m.counter("selfheal_metrics_series_resets_total",
                       "Counter and histogram series that went down (a restarted process), by the metrics processor");
  evicted_idle_ = &m.counter("selfheal_metrics_series_evicted_total", "Series forgotten, by reason", {{"reason", "idle"}});
  evicted_cap_ = &m.counter("selfheal_metrics_series_evicted_total", "Series forgotten, by reason", {{"reason", "cap"}});
  wrong_type_ = &m.counter("selfheal_metrics_rejected_total", "Metric samples refused by the metrics processor, by reason",
                           {{"reason", "not_a_metric_batch"}});
  series_ = &m.gauge("selfheal_metrics_series", "Metric series the metrics processor holds");
  memory_ = &m.gauge("selfheal_metrics_processor_memory_bytes", "Approximate bytes held for series and open windows");
  services_not_exported_ = &m.counter("selfheal_metrics_services_not_exported_total",
                                      "Service windows whose per-service gauges were not exported because "
                                      "the cap on exported services was reached");
}

MetricsProcessorService::ServiceGauges* MetricsProcessorService::service_gauges(std::string_view service,
                                                                                bool count_refusal) {
  if (!services_not_exported_) return nullptr;  // not started: no registry to export to
  if (auto it = service_gauges_.find(service); it != service_gauges_.end()) return &it->second;
  if (service_gauges_.size() >= kMaxExportedServices) {
    if (count_refusal) services_not_exported_->inc();
    return nullptr;
  }
  auto& m = ctx().metrics;
  const Labels labels = {{"service", std::string(service)}};
  ServiceGauges g;
  g.cpu_cores = &m.gauge("selfheal_service_cpu_usage_cores",
                         "CPU the service's pods use, summed over pods (each pod's mean over the latest closed "
                         "window), in cores",
                         labels);
  g.memory_bytes = &m.gauge("selfheal_service_memory_working_set_bytes",
                            "Working-set memory of the service's pods, summed over pods (each pod's mean over the "
                            "latest closed window)",
                            labels);
  g.p95_seconds = &m.gauge("selfheal_service_request_duration_p95_seconds",
                           "95th percentile request latency of the service over the latest closed window (histogram "
                           "buckets merged across pods); NaN when it served no request",
                           labels);
  g.error_ratio = &m.gauge("selfheal_service_error_ratio",
                           "Share of the service's requests answered 5xx in the latest closed window (0..1); NaN "
                           "when it served no request",
                           labels);
  g.requests_per_second = &m.gauge("selfheal_service_requests_per_second",
                                   "Requests per second the service served in the latest closed window, summed over pods",
                                   labels);
  return &service_gauges_.emplace(std::string(service), g).first->second;
}

// A value missing from the latest window (no requests, no sample) is exported as NaN rather than
// left at the previous window's value: a stale number would look current in a dashboard.
void MetricsProcessorService::export_totals(const ServiceWindowTotals& t) {
  ServiceGauges* g = service_gauges(t.service, /*count_refusal=*/false);  // counted with its window
  if (!g) return;
  g->cpu_cores->set(t.cpu_millicores_sum / 1000.0);
  g->memory_bytes->set(t.memory_bytes_sum);
}

void MetricsProcessorService::export_service_window(const FeatureWindow& w) {
  ServiceGauges* g = service_gauges(w.service, /*count_refusal=*/true);
  if (!g) return;
  namespace fn = feature_names;
  g->p95_seconds->set(w.get(fn::kLatencyP95, kAbsent));
  g->error_ratio->set(w.get(fn::kErrorRatio, kAbsent));
  g->requests_per_second->set(w.get(fn::kRequestsPerS, kAbsent));
}

void MetricsProcessorService::handle(const Delivery& d) {
  const auto* batch = std::get_if<MetricBatch>(&d.event);
  if (!batch) {
    wrong_type_->inc();
    log::warn(name(), "ignored a {} on {}: only MetricBatch is expected", event_type_name(d.event), d.topic);
    return;
  }
  aggregator_.ingest(*batch, ctx().clock.now());
  publish_counts();
}

void MetricsProcessorService::on_tick(TimeMs now) {
  aggregator_.advance(now);
  publish_counts();
  series_->set(static_cast<double>(aggregator_.series()));
  memory_->set(static_cast<double>(aggregator_.memory_bytes()));
}

void MetricsProcessorService::publish_counts() {
  const MetricsAggregatorStats& s = aggregator_.stats();
  auto sync = [](Counter* c, std::uint64_t now, std::uint64_t& published) {
    if (now > published) c->inc(static_cast<double>(now - published));
    published = now;
  };
  for (std::size_t i = 0; i < kSampleRejectionCount; ++i) sync(rejected_[i], s.rejected[i], published_.rejected[i]);
  sync(accepted_, s.accepted, published_.accepted);
  sync(ignored_, s.ignored, published_.ignored);
  sync(late_folded_, s.late_folded, published_.late_folded);
  sync(resets_, s.counter_resets, published_.counter_resets);
  sync(evicted_idle_, s.evicted_idle, published_.evicted_idle);
  sync(evicted_cap_, s.evicted_cap, published_.evicted_cap);
}

}  // namespace selfheal
