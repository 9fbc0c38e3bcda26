#include "detector/anomaly_detector.hpp"

#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "contracts/feature_names.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/http_server.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"

namespace selfheal::detector {
namespace fn = feature_names;

void DetectorSettings::declare(ConfigSchema& s) {
  s.add("anomaly_detector.alert_threshold", ConfigType::Double, "0.9",
        "Emit an anomaly when a feature's score in [0,1] is at or above this");
  s.add("anomaly_detector.model_dir", ConfigType::String, "models",
        "Directory of versioned model files (*.json); changes are picked up without a restart");
  s.add("anomaly_detector.model", ConfigType::String, "robust-baseline",
        "Name of the model (in model_dir) that scores feature windows; built-in parameters when absent");
  s.add("anomaly_detector.model_watch_interval", ConfigType::Duration, "10s",
        "How often the model directory is checked for new versions (0 disables the watch)");
  s.add("anomaly_detector.state_file", ConfigType::String, "",
        "Checkpoint of the learned per-series state, restored at start (empty: no checkpoint, runs stay reproducible)");
  s.add("anomaly_detector.checkpoint_interval", ConfigType::Duration, "5m",
        "How often (event time) the learned state is checkpointed to state_file");
  s.add("anomaly_detector.series_ttl", ConfigType::Duration, "1h",
        "Forget a series (e.g. of a deleted pod) not seen for this long");
  s.add("anomaly_detector.max_series", ConfigType::Int, "50000",
        "Upper bound on learned series; new series beyond it are not scored (and counted)");
  s.add("anomaly_detector.max_contributions", ConfigType::Int, "5",
        "How many co-anomalous features an anomaly lists as contributions");
}

DetectorSettings DetectorSettings::from_config(const Config& c) {
  DetectorSettings s;
  s.alert_threshold = c.number("anomaly_detector.alert_threshold");
  if (!(s.alert_threshold > 0 && s.alert_threshold <= 1))
    throw ConfigError("anomaly_detector.alert_threshold: must be in (0, 1], got " + std::to_string(s.alert_threshold));
  s.model_dir = c.str("anomaly_detector.model_dir");
  s.model_name = c.str("anomaly_detector.model");
  s.watch_interval_ms = c.duration_ms("anomaly_detector.model_watch_interval");
  s.state_file = c.str("anomaly_detector.state_file");
  s.checkpoint_interval_ms = c.duration_ms("anomaly_detector.checkpoint_interval");
  s.series_ttl_ms = c.duration_ms("anomaly_detector.series_ttl");
  auto max_series = c.integer("anomaly_detector.max_series");
  if (max_series < 1) throw ConfigError("anomaly_detector.max_series: must be at least 1");
  s.max_series = static_cast<std::size_t>(max_series);
  auto max_contrib = c.integer("anomaly_detector.max_contributions");
  if (max_contrib < 0) throw ConfigError("anomaly_detector.max_contributions: must not be negative");
  s.max_contributions = static_cast<std::size_t>(max_contrib);
  return s;
}

AnomalyDetectorService::AnomalyDetectorService(DetectorSettings settings)
    : settings_(std::move(settings)), catalog_(settings_.model_dir) {}

std::string AnomalyDetectorService::apply_catalog_locked() {
  const ModelArtifact* a = catalog_.find(settings_.model_name);
  if (!a) return {};  // keep what we have (built-in parameters at first)
  try {
    BaselineParams p = BaselineParams::from_json(a->body);
    params_ = std::move(p);
  } catch (const std::exception& e) {
    log::error("anomaly-detector", "model {} ({}): {}; keeping version {}", a->name, a->path, e.what(), params_.version);
    return a->path + ": " + e.what();
  }
  return {};
}

ReloadReport AnomalyDetectorService::reload_models() {
  std::lock_guard lock(mu_);
  ReloadReport r = catalog_.load(/*only_changed=*/true);
  for (const auto& e : r.errors) log::error("anomaly-detector", "model file {}", e);
  std::string before = params_.version;
  if (std::string err = apply_catalog_locked(); !err.empty()) r.errors.push_back(err);
  if (params_.version != before)
    log::info("anomaly-detector", "model {} version {} -> {}", params_.name, before, params_.version);
  if (reload_ok_) reload_ok_->inc(static_cast<double>(r.loaded.size()));
  if (reload_failed_) reload_failed_->inc(static_cast<double>(r.errors.size()));
  return r;
}

nlohmann::json AnomalyDetectorService::describe_models() const {
  std::lock_guard lock(mu_);
  nlohmann::json j;
  j["model_dir"] = catalog_.dir();
  j["models"] = catalog_.describe();
  j["active"] = {{"name", params_.name}, {"version", params_.version}};
  return j;
}

std::string AnomalyDetectorService::model_version() const {
  std::lock_guard lock(mu_);
  return params_.version;
}

void AnomalyDetectorService::start(ServiceContext& ctx) {
  bind(ctx);
  auto& m = ctx.metrics;
  metrics_ = &m;
  windows_scored_ = &m.counter("selfheal_detector_windows_scored_total", "Feature windows scored by the anomaly detector");
  windows_alerting_ = &m.counter("selfheal_detector_windows_alerting_total",
                                 "Feature windows with at least one feature at or above the alert threshold");
  anomalies_out_ = &m.counter("selfheal_detector_anomalies_total", "Anomalies emitted by the anomaly detector");
  reload_ok_ = &m.counter("selfheal_detector_model_loads_total", "Model files loaded (new or changed)", {{"result", "ok"}});
  reload_failed_ = &m.counter("selfheal_detector_model_loads_total", "Model files loaded (new or changed)", {{"result", "error"}});
  windows_rejected_ = &m.counter("selfheal_detector_series_refused_total",
                                 "Series not scored because anomaly_detector.max_series was reached");
  m.gauge_fn("selfheal_detector_series", "Series with learned state in the anomaly detector", {},
             [this] { return static_cast<double>(series_.size()); });

  reload_models();
  if (!settings_.state_file.empty() && std::filesystem::exists(settings_.state_file)) {
    std::string err;
    if (!load_checkpoint(settings_.state_file, err))
      log::warn("anomaly-detector", "checkpoint {} not restored: {}", settings_.state_file, err);
    else
      log::info("anomaly-detector", "restored {} series from {}", series_.size(), settings_.state_file);
  }
  if (ctx.admin) {
    ctx.admin->http().Get("/models", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(describe_models().dump(2), "application/json");
    });
    ctx.admin->http().Post("/models/reload", [this](const httplib::Request&, httplib::Response& res) {
      ReloadReport r = reload_models();
      nlohmann::json j = describe_models();
      j["loaded"] = r.loaded;
      j["errors"] = r.errors;
      res.status = r.errors.empty() ? 200 : 422;
      res.set_content(j.dump(2), "application/json");
    });
  }
  consume(topics::kFeatures);
  keep_state(*this);
  TimeMs now = ctx.clock.now();
  last_watch_ = last_checkpoint_ = last_eviction_ = now;
}

void AnomalyDetectorService::on_tick(TimeMs now) {
  if (settings_.watch_interval_ms > 0 && now - last_watch_ >= settings_.watch_interval_ms) {
    last_watch_ = now;
    bool changed;
    {
      std::lock_guard lock(mu_);
      changed = catalog_.changed_on_disk();
    }
    if (changed) reload_models();
  }
  if (!settings_.state_file.empty() && now - last_checkpoint_ >= settings_.checkpoint_interval_ms) {
    last_checkpoint_ = now;
    std::string err;
    if (!save_checkpoint(settings_.state_file, err))
      log::warn("anomaly-detector", "checkpoint {} failed: {}", settings_.state_file, err);
  }
  if (now - last_eviction_ >= std::max<std::int64_t>(60'000, settings_.series_ttl_ms / 4)) {
    last_eviction_ = now;
    evict_idle(now);
  }
}

void AnomalyDetectorService::stop() {
  if (settings_.state_file.empty()) return;
  std::string err;
  if (!save_checkpoint(settings_.state_file, err))
    log::warn("anomaly-detector", "final checkpoint {} failed: {}", settings_.state_file, err);
}

void AnomalyDetectorService::evict_idle(TimeMs now) {
  for (auto it = series_.begin(); it != series_.end();) {
    if (now - it->second.last_seen > settings_.series_ttl_ms) it = series_.erase(it);
    else ++it;
  }
}

void AnomalyDetectorService::handle(const Delivery& d) {
  if (const auto* w = std::get_if<FeatureWindow>(&d.event)) score_window(*w);
}

namespace {
struct Scored {
  std::string_view feature;
  double value;
  Score s;
};
}  // namespace

void AnomalyDetectorService::export_score(const std::string& service, std::string_view signal, TimeMs end,
                                          double score) {
  if (!metrics_) return;
  auto key = std::make_pair(service, std::string(signal));
  auto it = score_gauges_.find(key);
  if (it == score_gauges_.end()) {
    ScoreGauge g;
    g.gauge = &metrics_->gauge("selfheal_anomaly_score",
                               "Latest anomaly score (0..1) of a service's signal: the highest over its pods for the "
                               "newest window",
                               {{"service", service}, {"signal", std::string(signal)}});
    it = score_gauges_.emplace(std::move(key), g).first;
  }
  ScoreGauge& g = it->second;
  score = std::clamp(score, 0.0, 1.0);
  if (end > g.end) {
    g.end = end;
    g.score = score;
  } else if (end == g.end) {
    g.score = std::max(g.score, score);
  } else {
    return;  // a late window does not overwrite a newer score
  }
  g.gauge->set(g.score);
}

void AnomalyDetectorService::score_window(const FeatureWindow& w) {
  // Emit outside the lock: publishing may wait on backpressure, and the admin thread must not wait
  // behind it for a model reload.
  for (auto& a : score_locked(w)) {
    anomalies_out_->inc();
    emit(topics::kAnomalies, std::move(a));
  }
}

std::vector<Anomaly> AnomalyDetectorService::score_locked(const FeatureWindow& w) {
  std::vector<Anomaly> out;
  std::lock_guard lock(mu_);
  windows_scored_->inc();
  const std::string prefix = w.service + (w.pod.empty() ? "" : "/" + w.pod) + ":";
  std::vector<Scored> scored;
  scored.reserve(w.features.size());
  double tte = time_to_exhaustion_s(w.get(fn::kMemoryUtilMax), w.get(fn::kMemoryBytesMax), w.get(fn::kMemorySlope));
  for (const auto& [feature, value] : w.features) {
    const FeatureRule* rule = params_.rule(feature);
    if (!rule || !std::isfinite(value)) continue;
    std::string key = prefix + feature;
    auto it = series_.find(key);
    if (it == series_.end()) {
      if (series_.size() >= settings_.max_series) {
        windows_rejected_->inc();
        continue;
      }
      it = series_.emplace(std::move(key), SeriesState{}).first;
    }
    // Set on every window, not only at creation: a series read from a file checkpoint (which names
    // no service) gets its exact service here.
    it->second.service_len = static_cast<std::uint32_t>(w.service.size());
    it->second.last_seen = std::max(it->second.last_seen, w.end);
    Score s = score_and_update(params_, *rule, it->second.baseline, value, settings_.alert_threshold);
    // A rising memory trend that reaches the limit soon is urgent even when the slope itself is
    // only moderately unusual: scale the score by how close the predicted OOM is.
    if (feature == fn::kMemorySlope && std::isfinite(tte) && tte < params_.tte_horizon_s && s.z >= 3.0 &&
        it->second.baseline.count > static_cast<std::uint32_t>(params_.warmup)) {
      s.score = std::max(s.score, 1.0 - 0.2 * tte / params_.tte_horizon_s);  // horizon: 0.8, half of it: 0.9
    }
    scored.push_back(Scored{feature, value, s});
    export_score(w.service, feature, w.end, s.score);
  }
  std::vector<const Scored*> ranked;
  for (const auto& s : scored)
    if (s.s.score >= 0.5) ranked.push_back(&s);
  std::stable_sort(ranked.begin(), ranked.end(), [](const Scored* a, const Scored* b) { return a->s.score > b->s.score; });
  if (ranked.empty() || ranked.front()->s.score < settings_.alert_threshold) return out;
  windows_alerting_->inc();
  std::vector<Contribution> contributions;
  for (std::size_t i = 0; i < ranked.size() && i < settings_.max_contributions; ++i)
    contributions.push_back(Contribution{std::string(ranked[i]->feature), ranked[i]->value, ranked[i]->s.expected, ranked[i]->s.score});
  for (const Scored* s : ranked) {
    if (s->s.score < settings_.alert_threshold) break;
    Anomaly a;
    a.id = next_id();
    a.ts = w.end;
    a.service = w.service;
    a.pod = w.pod;
    a.series = prefix + std::string(s->feature);
    a.signal = std::string(s->feature);
    a.score = std::clamp(s->s.score, 0.0, 1.0);
    a.value = s->value;
    a.expected = s->s.expected;
    a.source = AnomalySource::Model;
    a.model = params_.name;
    a.model_version = params_.version;
    a.window_id = w.id;
    if (s->feature == fn::kMemorySlope || s->feature == fn::kMemoryUtilMax) a.time_to_exhaustion_s = tte;
    a.contributions = contributions;
    a.labels = {{"z", std::to_string(s->s.z)}, {"window_source", std::string(to_string(w.source))}};
    out.push_back(std::move(a));
  }
  return out;
}

bool AnomalyDetectorService::save_checkpoint(const std::string& path, std::string& error) const {
  nlohmann::json j;
  {
    std::lock_guard lock(mu_);
    j["model"] = params_.name;
    j["version"] = params_.version;
  }
  j["format"] = 1;
  nlohmann::json s = nlohmann::json::object();
  for (const auto& [key, st] : series_) s[key] = encode_series(st);
  j["series"] = std::move(s);
  try {
    std::filesystem::path p(path);
    if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
    std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      if (!out) { error = "cannot write " + tmp; return false; }
      out << j.dump();
      if (!out.good()) { error = "write to " + tmp + " failed"; return false; }
    }
    std::filesystem::rename(tmp, path);  // atomic: a crash never leaves a half-written checkpoint
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
  return true;
}

bool AnomalyDetectorService::load_checkpoint(const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) { error = "cannot open " + path; return false; }
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) { error = "not a JSON object"; return false; }
  if (!j.contains("format") || j["format"] != 1) { error = "format: expected 1"; return false; }
  if (!j.contains("series") || !j["series"].is_object()) { error = "series: expected an object"; return false; }
  std::map<std::string, SeriesState> restored;
  for (auto it = j["series"].begin(); it != j["series"].end(); ++it) {
    SeriesState st;
    if (!decode_series(it.value(), st)) {
      error = series_error(it.key());
      return false;
    }
    // The file names no service: take the name up to the first '/' or ':' (exact for any service
    // name without them; the next window of the series sets the exact length).
    st.service_len = static_cast<std::uint32_t>(std::min(it.key().find_first_of("/:"), it.key().size()));
    restored.emplace(it.key(), st);
  }
  series_ = std::move(restored);
  return true;
}

nlohmann::json AnomalyDetectorService::encode_series(const SeriesState& st) {
  return {st.baseline.mean, st.baseline.spread, st.baseline.count, st.baseline.anomalous_run, st.last_seen};
}

bool AnomalyDetectorService::decode_series(const nlohmann::json& v, SeriesState& st) {
  if (!v.is_array() || v.size() != 5 || !v[0].is_number() || !v[1].is_number() || !v[2].is_number_unsigned() ||
      !v[3].is_number_unsigned() || !v[4].is_number_integer())
    return false;
  // Counts are uint32 in the model: a larger number is not something save produced.
  constexpr auto kMax = std::numeric_limits<std::uint32_t>::max();
  if (v[2].get<std::uint64_t>() > kMax || v[3].get<std::uint64_t>() > kMax) return false;
  st.baseline.mean = v[0].get<double>();
  st.baseline.spread = v[1].get<double>();
  st.baseline.count = v[2].get<std::uint32_t>();
  st.baseline.anomalous_run = v[3].get<std::uint32_t>();
  st.last_seen = v[4].get<TimeMs>();
  return true;
}

std::string AnomalyDetectorService::series_error(const std::string& key) {
  return "series." + key + ": expected [mean, spread, count, anomalous_run, last_seen]";
}

bool AnomalyDetectorService::series_of(const std::string& service, const std::string& key, const SeriesState& st) {
  return st.service_len == service.size() && key.size() > service.size() && key.compare(0, service.size(), service) == 0;
}

nlohmann::json AnomalyDetectorService::save_key(const std::string& service) const {
  nlohmann::json s = nlohmann::json::object();
  // The series of `service` are among the keys that start with its name, which sort together.
  for (auto it = series_.lower_bound(service); it != series_.end() && it->first.starts_with(service); ++it)
    if (series_of(service, it->first, it->second)) s[it->first] = encode_series(it->second);
  if (s.empty()) return nullptr;
  return {{"format", 1}, {"series", std::move(s)}};
}

void AnomalyDetectorService::restore_key(const std::string& service, const nlohmann::json& state) {
  if (service.empty()) throw std::invalid_argument("key: empty service name");
  std::map<std::string, SeriesState> restored;
  if (!state.is_null()) {  // null: save_key had nothing for the service
    if (!state.is_object()) throw std::invalid_argument("state: expected an object or null");
    if (!state.contains("format") || state["format"] != 1) throw std::invalid_argument("format: expected 1");
    if (!state.contains("series") || !state["series"].is_object())
      throw std::invalid_argument("series: expected an object");
    for (auto it = state["series"].begin(); it != state["series"].end(); ++it) {
      const std::string& key = it.key();
      // "<service>:<feature>" or "<service>/<pod>:<feature>"
      if (!key.starts_with(service) || key.size() <= service.size() + 1 ||
          (key[service.size()] != ':' && key[service.size()] != '/'))
        throw std::invalid_argument("series." + key + ": not a series of service " + service);
      SeriesState st;
      if (!decode_series(it.value(), st)) throw std::invalid_argument(series_error(key));
      st.service_len = static_cast<std::uint32_t>(service.size());
      restored.emplace(key, st);
    }
  }
  for (auto it = series_.lower_bound(service); it != series_.end() && it->first.starts_with(service);) {
    if (series_of(service, it->first, it->second)) it = series_.erase(it);
    else ++it;
  }
  std::size_t refused = 0;
  for (auto& [key, st] : restored) {
    if (series_.size() >= settings_.max_series && !series_.contains(key)) {
      ++refused;
      continue;
    }
    series_.insert_or_assign(key, st);
  }
  if (refused > 0) {
    if (windows_rejected_) windows_rejected_->inc(static_cast<double>(refused));
    log::warn("anomaly-detector", "restored {} series of {}; {} more refused (anomaly_detector.max_series={})",
              restored.size() - refused, service, refused, settings_.max_series);
  }
}

}  // namespace selfheal::detector
