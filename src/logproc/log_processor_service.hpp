// The log-processor service: consumes RawLog on `logs.raw`, joins multi-line records (stack traces)
// per pod, parses each record (log_parser.hpp), mines its template (template_miner.hpp), publishes
// the LogRecord on `logs.structured`, and per service a FeatureWindow(source=logs) on `features`
// (log_windows.hpp).
//
// Lifecycle: construct from config -> start() (loads the template snapshot if configured) ->
// handle()/on_tick() on the executor's single thread -> stop() (saves the snapshot). A record is
// published when the next first line of its pod arrives or, by on_tick, once its pod has been quiet
// for `multiline_timeout` of event time. Deterministic: no wall clock, ordered containers only.
//
// Keyed state (keyed_state.hpp; over Kafka it moves with a service's partition): per monitored
// service, the mined templates its records matched, so that after a take-over a known record of
// that service is neither flagged as a new template nor given another template id. The template
// miner itself is shared by all services; which templates each service used is tracked beside it
// (bounded, see kTemplateRefsPerTemplate). Windows and records waiting for continuation lines are
// left out: they cover at most a window plus the lateness, which the replay after a checkpoint
// rebuilds.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "logproc/log_parser.hpp"
#include "logproc/log_windows.hpp"
#include "logproc/template_miner.hpp"
#include "runtime/event_service.hpp"

namespace selfheal {

class Config;
class ConfigSchema;
class Counter;
class Gauge;

namespace logproc {

struct LogProcessorOptions {
  ParserOptions parser;
  MinerOptions miner;
  WindowOptions windows;
  TimeMs multiline_timeout_ms = 2'000;
  std::size_t max_stack_lines = 200;
  std::string snapshot_path;  // empty: templates are not kept across restarts
};

class LogProcessorService final : public EventService, public KeyedState {
 public:
  static void declare_config(ConfigSchema& schema);
  static LogProcessorOptions options_from(const Config& config);

  explicit LogProcessorService(LogProcessorOptions options);
  std::string_view name() const override { return "log-processor"; }
  void start(ServiceContext& ctx) override;
  void on_tick(TimeMs now) override;
  void stop() override;

  const TemplateMiner& miner() const { return miner_; }

  // KeyedState: {"format": 1, "templates": ["count<TAB>template", ...]} (the template snapshot's
  // line encoding), least recently used first, for the templates `service`'s records matched that
  // the miner still holds; null when there are none.
  nlohmann::json save_key(const std::string& service) const override;
  // Merges the templates into the miner (one it already holds keeps its own count and recency) and
  // makes them `service`'s templates, replacing what was tracked for it. Validates everything first:
  // std::invalid_argument naming the field ("templates[3]: ..."), nothing changed.
  void restore_key(const std::string& service, const nlohmann::json& state) override;
  // Per-service template references held (bounded by kTemplateRefsPerTemplate * max_templates).
  std::size_t template_refs() const { return template_refs_; }

  // The references to templates kept per service, as a multiple of log_processor.max_templates, in
  // total over all services: a template shared by many services counts once per service.
  static constexpr std::size_t kTemplateRefsPerTemplate = 4;

 protected:
  void handle(const Delivery& d) override;

 private:
  struct Pending {
    LogRecord record;
    std::string raw_first_line;
    bool unparsed = false;
    TimeMs last_ts = 0;
  };
  void accept(const RawLog& raw);
  void publish(Pending&& p);
  void flush_idle(TimeMs now);
  void close_windows(TimeMs clock_watermark);
  void note_template(const std::string& service, std::uint64_t cluster);
  void trim_template_refs();

  LogProcessorOptions opt_;
  LogParser parser_;
  TemplateMiner miner_;
  LogWindowAggregator windows_;
  std::map<std::string, Pending> pending_;  // by "service/pod"
  std::vector<FeatureWindow> closed_;
  TimeMs max_event_ts_ = 0;
  // Per service: miner cluster handle -> when its records last matched it (template_use_ sequence).
  // Handles of evicted templates linger until trim_template_refs() drops them.
  std::map<std::string, std::unordered_map<std::uint64_t, std::uint64_t>> service_templates_;
  std::size_t template_refs_ = 0;
  std::uint64_t template_use_ = 0;

  Counter* lines_ = nullptr;
  Counter* records_[6] = {};  // by LogFormat
  Counter* truncated_ = nullptr;
  Counter* invalid_utf8_ = nullptr;
  Counter* control_bytes_ = nullptr;
  Counter* too_deep_ = nullptr;
  Counter* attributes_dropped_ = nullptr;
  Counter* joined_ = nullptr;
  Counter* stack_dropped_ = nullptr;
  Counter* late_ = nullptr;
  Counter* created_ = nullptr;
  Counter* changed_ = nullptr;
  Counter* evicted_ = nullptr;
  Counter* wrong_type_ = nullptr;
  Gauge* templates_ = nullptr;
  Gauge* template_bytes_ = nullptr;
  std::uint64_t evictions_seen_ = 0;
  std::uint64_t late_seen_ = 0;
};

}  // namespace logproc
}  // namespace selfheal
