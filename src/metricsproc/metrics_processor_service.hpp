// The metrics-processor service: consumes MetricBatch scrapes on `metrics.raw`, cleans them and
// publishes event-time FeatureWindows (source=metrics) on `features` through a
// MetricsWindowAggregator. Rejections are counted in selfheal_metrics_rejected_total{reason}.
// It also exports what each watched service uses, from its latest closed window, as the agreed
// per-service gauges (selfheal_service_cpu_usage_cores{service}, ..._memory_working_set_bytes,
// ..._request_duration_p95_seconds, ..._error_ratio, ..._requests_per_second).
//
// Lifecycle/threading: constructed from config, start() subscribes; handle() and on_tick() run on
// the executor's one thread for this service; nothing blocks.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>

#include "metricsproc/window_aggregator.hpp"
#include "runtime/event_service.hpp"

namespace selfheal {

class Config;
class ConfigSchema;
class Counter;
class Gauge;

class MetricsProcessorService final : public EventService {
 public:
  static constexpr std::string_view kName = "metrics-processor";

  // Declares metrics_processor.* keys.
  static void declare_config(ConfigSchema& schema);
  // Reads metrics_processor.* keys; throws std::runtime_error naming a bad key.
  static MetricsWindowOptions options_from(const Config& config);

  explicit MetricsProcessorService(MetricsWindowOptions options);
  std::string_view name() const override { return kName; }
  void start(ServiceContext& ctx) override;
  void on_tick(TimeMs now) override;

  const MetricsWindowAggregator& aggregator() const { return aggregator_; }

 protected:
  void handle(const Delivery& d) override;

 private:
  void publish_counts();
  // The gauges of one watched service, created on its first window and kept (a registry series
  // cannot be removed); at most kMaxExportedServices services, so a stream of bogus service names
  // cannot grow /metrics without bound.
  struct ServiceGauges {
    Gauge* cpu_cores = nullptr;
    Gauge* memory_bytes = nullptr;
    Gauge* p95_seconds = nullptr;
    Gauge* error_ratio = nullptr;
    Gauge* requests_per_second = nullptr;
  };
  ServiceGauges* service_gauges(std::string_view service, bool count_refusal);
  void export_totals(const ServiceWindowTotals& totals);
  void export_service_window(const FeatureWindow& w);

  MetricsWindowAggregator aggregator_;
  std::array<Counter*, kSampleRejectionCount> rejected_{};
  MetricsAggregatorStats published_;  // what the Prometheus counters already hold
  Counter* accepted_ = nullptr;
  Counter* ignored_ = nullptr;
  Counter* late_folded_ = nullptr;
  Counter* resets_ = nullptr;
  Counter* evicted_idle_ = nullptr;
  Counter* evicted_cap_ = nullptr;
  Counter* wrong_type_ = nullptr;
  Gauge* series_ = nullptr;
  Gauge* memory_ = nullptr;
  std::map<std::string, ServiceGauges, std::less<>> service_gauges_;
  Counter* services_not_exported_ = nullptr;

 public:
  static constexpr std::size_t kMaxExportedServices = 1000;
};

}  // namespace selfheal
