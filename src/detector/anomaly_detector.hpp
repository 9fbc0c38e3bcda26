// The anomaly-detector service: scores every FeatureWindow on `features` with the robust-baseline
// model (one learned state per "service[/pod]:feature") and emits an Anomaly on `anomalies` for each
// feature whose score reaches anomaly_detector.alert_threshold, for as long as it stays there.
//
// Lifecycle: start() loads the model directory (and the state checkpoint, if configured), mounts
// GET /models and POST /models/reload on the admin server; on_tick() re-checks the model files and
// writes checkpoints; stop() writes a final checkpoint.
// Keyed state (keyed_state.hpp): the learned series of one monitored service are saved and restored
// on their own, so that over Kafka they move with the service's partition; same per-series form as
// the file checkpoint.
// Threading: the executor thread runs everything except the two HTTP handlers, which run on the
// admin server's thread; `mu_` guards the model parameters they swap.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "detector/feature_model.hpp"
#include "detector/model_catalog.hpp"
#include "runtime/event_service.hpp"

namespace selfheal {

class Config;
class ConfigSchema;
class Counter;
class Gauge;
class MetricsRegistry;

namespace detector {

struct DetectorSettings {
  double alert_threshold = 0.9;
  std::string model_dir = "models";
  std::string model_name = "robust-baseline";
  std::int64_t watch_interval_ms = 10'000;
  std::string state_file;  // empty: no checkpoint
  std::int64_t checkpoint_interval_ms = 300'000;
  std::int64_t series_ttl_ms = 3'600'000;
  std::size_t max_series = 50'000;
  std::size_t max_contributions = 5;

  static void declare(ConfigSchema& s);
  static DetectorSettings from_config(const Config& c);
};

class AnomalyDetectorService final : public EventService, public KeyedState {
 public:
  explicit AnomalyDetectorService(DetectorSettings settings);
  std::string_view name() const override { return "anomaly-detector"; }
  void start(ServiceContext& ctx) override;
  void on_tick(TimeMs now) override;
  void stop() override;

  // Loads changed model files now; what the HTTP route and the file watch call.
  ReloadReport reload_models();
  nlohmann::json describe_models() const;
  // Writes / reads the learned state; false with `error` set on failure (never throws).
  bool save_checkpoint(const std::string& path, std::string& error) const;
  bool load_checkpoint(const std::string& path, std::string& error);
  std::size_t series_count() const { return series_.size(); }

  // KeyedState: {"format": 1, "series": {"<service>[/<pod>]:<feature>": [mean, spread, count,
  // anomalous_run, last_seen], ...}} for the series of `service`; null when it has none.
  nlohmann::json save_key(const std::string& service) const override;
  // Replaces exactly the series of `service` (those of other services are untouched). Validates the
  // whole state first: std::invalid_argument naming the field, nothing changed. Series beyond
  // anomaly_detector.max_series are dropped (counted in selfheal_detector_series_refused_total).
  void restore_key(const std::string& service, const nlohmann::json& state) override;
  std::string model_version() const;

 protected:
  void handle(const Delivery& d) override;

 private:
  struct SeriesState {
    BaselineState baseline;
    TimeMs last_seen = 0;
    // Length of the service name at the front of the series key: "a/b:f" is service "a/b" or pod "b"
    // of "a", and save_key() must not mix them up (nor "orders" with "orders-v2").
    std::uint32_t service_len = 0;
  };
  // The one per-series encoding, shared by the file checkpoint and the keyed state:
  // [mean, spread, count, anomalous_run, last_seen].
  static nlohmann::json encode_series(const SeriesState& st);
  // False when `v` is not in that form; `st.service_len` is left alone.
  static bool decode_series(const nlohmann::json& v, SeriesState& st);
  static std::string series_error(const std::string& key);
  // Whether series `key` (state `st`) is one of `service`'s.
  static bool series_of(const std::string& service, const std::string& key, const SeriesState& st);
  void score_window(const FeatureWindow& w);
  std::vector<Anomaly> score_locked(const FeatureWindow& w);
  void evict_idle(TimeMs now);
  std::string apply_catalog_locked();  // error text, empty when the active model is fine
  void export_score(const std::string& service, std::string_view signal, TimeMs end, double score);

  DetectorSettings settings_;
  mutable std::mutex mu_;  // guards catalog_ and params_
  ModelCatalog catalog_;
  BaselineParams params_ = BaselineParams::builtin();
  std::map<std::string, SeriesState> series_;  // ordered: checkpoints and eviction are deterministic
  TimeMs last_watch_ = 0;
  TimeMs last_checkpoint_ = 0;
  TimeMs last_eviction_ = 0;
  Counter* windows_scored_ = nullptr;
  Counter* windows_alerting_ = nullptr;
  Counter* anomalies_out_ = nullptr;
  Counter* reload_ok_ = nullptr;
  Counter* reload_failed_ = nullptr;
  Counter* windows_rejected_ = nullptr;
  // selfheal_anomaly_score{service,signal}: the latest score, the highest over the service's pods and
  // its service-level window for the newest window end (bounded: services x scored features).
  struct ScoreGauge {
    Gauge* gauge = nullptr;
    TimeMs end = 0;
    double score = 0;
  };
  MetricsRegistry* metrics_ = nullptr;
  std::map<std::pair<std::string, std::string>, ScoreGauge> score_gauges_;
};

}  // namespace detector
}  // namespace selfheal
