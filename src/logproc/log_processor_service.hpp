// The log-processor service: consumes RawLog on `logs.raw`, joins multi-line records (stack traces)
// per pod, parses each record (log_parser.hpp), mines its template (template_miner.hpp), publishes
// the LogRecord on `logs.structured`, and per service a FeatureWindow(source=logs) on `features`
// (log_windows.hpp).
//
// Lifecycle: construct from config -> start() (loads the template snapshot if configured) ->
// handle()/on_tick() on the executor's single thread -> stop() (saves the snapshot). A record is
// published when the next first line of its pod arrives or, by on_tick, once its pod has been quiet
// for `multiline_timeout` of event time. Deterministic: no wall clock, ordered containers only.
#pragma once

#include <map>
#include <memory>
#include <string>

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

class LogProcessorService final : public EventService {
 public:
  static void declare_config(ConfigSchema& schema);
  static LogProcessorOptions options_from(const Config& config);

  explicit LogProcessorService(LogProcessorOptions options);
  std::string_view name() const override { return "log-processor"; }
  void start(ServiceContext& ctx) override;
  void on_tick(TimeMs now) override;
  void stop() override;

  const TemplateMiner& miner() const { return miner_; }

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

  LogProcessorOptions opt_;
  LogParser parser_;
  TemplateMiner miner_;
  LogWindowAggregator windows_;
  std::map<std::string, Pending> pending_;  // by "service/pod"
  std::vector<FeatureWindow> closed_;
  TimeMs max_event_ts_ = 0;

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
