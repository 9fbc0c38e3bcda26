#include "logproc/log_processor_service.hpp"

#include <algorithm>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <tuple>

#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"

namespace selfheal::logproc {

void LogProcessorService::declare_config(ConfigSchema& schema) {
  schema.add("log_processor.window", ConfigType::Duration, "60s", "Length of each event-time window of log features");
  schema.add("log_processor.step", ConfigType::Duration, "10s",
             "How far consecutive windows start apart; window must be a whole multiple of it");
  schema.add("log_processor.allowed_lateness", ConfigType::Duration, "5s",
             "How far behind the newest event time a record may arrive and still count in its windows");
  schema.add("log_processor.multiline_timeout", ConfigType::Duration, "2s",
             "A record waits this long (event time) for continuation lines (stack traces) before it is published");
  schema.add("log_processor.max_line_bytes", ConfigType::Int, "65536", "Longer lines are truncated (and counted)");
  schema.add("log_processor.max_stack_lines", ConfigType::Int, "200",
             "Continuation lines kept per record; further ones are dropped (and counted)");
  schema.add("log_processor.max_templates", ConfigType::Int, "20000",
             "Cap on mined templates; past it the least recently used are evicted (and counted)");
  schema.add("log_processor.similarity", ConfigType::Double, "0.7",
             "Share of constant tokens a message must share with a template to join it");
  schema.add("log_processor.top_templates", ConfigType::Int, "5", "Templates listed per feature window");
  schema.add("log_processor.template_snapshot", ConfigType::String, "",
             "File the mined templates are saved to on stop and loaded from on start (empty: off)");
}

LogProcessorOptions LogProcessorService::options_from(const Config& c) {
  LogProcessorOptions o;
  auto positive = [&](const char* key) {
    const std::int64_t v = c.integer(key);
    if (v <= 0) throw std::runtime_error(std::string(key) + " must be positive, got " + std::to_string(v));
    return static_cast<std::size_t>(v);
  };
  o.windows.window_ms = c.duration_ms("log_processor.window");
  o.windows.step_ms = c.duration_ms("log_processor.step");
  o.windows.allowed_lateness_ms = c.duration_ms("log_processor.allowed_lateness");
  if (o.windows.step_ms <= 0) throw std::runtime_error("log_processor.step must be positive");
  if (o.windows.window_ms < o.windows.step_ms || o.windows.window_ms % o.windows.step_ms != 0)
    throw std::runtime_error("log_processor.window must be a whole multiple of log_processor.step");
  o.multiline_timeout_ms = c.duration_ms("log_processor.multiline_timeout");
  o.parser.max_line_bytes = positive("log_processor.max_line_bytes");
  o.max_stack_lines = positive("log_processor.max_stack_lines");
  o.miner.max_templates = positive("log_processor.max_templates");
  o.miner.similarity = c.number("log_processor.similarity");
  if (!(o.miner.similarity > 0 && o.miner.similarity <= 1))
    throw std::runtime_error("log_processor.similarity must be in (0, 1]");
  o.windows.top_templates = positive("log_processor.top_templates");
  o.snapshot_path = c.str("log_processor.template_snapshot");
  return o;
}

LogProcessorService::LogProcessorService(LogProcessorOptions options)
    : opt_(std::move(options)),
      parser_(opt_.parser),
      miner_(opt_.miner),
      windows_(opt_.windows, [this](std::uint64_t cluster) {
        return std::make_pair(miner_.template_id(cluster), miner_.template_text(cluster));
      }) {}

void LogProcessorService::start(ServiceContext& ctx) {
  bind(ctx);
  consume(topics::kLogsRaw);
  auto& m = ctx.metrics;
  lines_ = &m.counter("selfheal_log_lines_total", "Raw log lines the log processor received");
  for (int f = 0; f < 6; ++f)
    records_[f] = &m.counter("selfheal_log_records_total", "Log records published, by recognised format",
                             {{"format", std::string(to_string(static_cast<LogFormat>(f)))}});
  const char* kRej = "selfheal_log_rejected_total";
  const char* kRejHelp = "Log lines the parser had to cut or repair, by reason (the line is still published)";
  truncated_ = &m.counter(kRej, kRejHelp, {{"reason", "too_long"}});
  invalid_utf8_ = &m.counter(kRej, kRejHelp, {{"reason", "invalid_utf8"}});
  control_bytes_ = &m.counter(kRej, kRejHelp, {{"reason", "control_bytes"}});
  too_deep_ = &m.counter(kRej, kRejHelp, {{"reason", "json_too_deep"}});
  attributes_dropped_ = &m.counter(kRej, kRejHelp, {{"reason", "too_many_attributes"}});
  stack_dropped_ = &m.counter(kRej, kRejHelp, {{"reason", "stack_too_long"}});
  wrong_type_ = &m.counter(kRej, kRejHelp, {{"reason", "not_a_raw_log"}});
  joined_ = &m.counter("selfheal_log_continuation_lines_total", "Continuation lines joined to the record before them");
  late_ = &m.counter("selfheal_log_late_total", "Records too late for any open window (still published)");
  created_ = &m.counter("selfheal_log_templates_created_total", "Templates the miner created");
  changed_ = &m.counter("selfheal_log_templates_changed_total", "Templates that generalised (text and id changed)");
  evicted_ = &m.counter("selfheal_log_templates_evicted_total", "Templates evicted by the template cap");
  templates_ = &m.gauge("selfheal_log_templates", "Templates the miner holds");
  template_bytes_ = &m.gauge("selfheal_log_template_memory_bytes", "Approximate bytes the miner holds");
  if (!opt_.snapshot_path.empty()) {
    std::string error;
    if (std::ifstream probe(opt_.snapshot_path); probe) {
      if (!miner_.load_file(opt_.snapshot_path, error))
        throw std::runtime_error("log_processor.template_snapshot: " + error);
      log::info(name(), "restored {} templates from {}", miner_.size(), opt_.snapshot_path);
    }
  }
  templates_->set(static_cast<double>(miner_.size()));
  keep_state(*this);
}

void LogProcessorService::stop() {
  if (opt_.snapshot_path.empty()) return;
  std::string error;
  if (!miner_.save_file(opt_.snapshot_path, error)) log::error(name(), "template snapshot not saved: {}", error);
}

void LogProcessorService::handle(const Delivery& d) {
  const auto* raw = std::get_if<RawLog>(&d.event);
  if (!raw) {
    wrong_type_->inc();
    log::warn(name(), "ignored a {} on {}: only RawLog is expected", event_type_name(d.event), d.topic);
    return;
  }
  accept(*raw);
  close_windows(std::numeric_limits<TimeMs>::min());
}

void LogProcessorService::accept(const RawLog& raw) {
  lines_->inc();
  max_event_ts_ = std::max(max_event_ts_, raw.ts);
  const std::string key = raw.service + "/" + raw.pod;
  auto it = pending_.find(key);
  if (it != pending_.end() && is_continuation_line(raw.line)) {
    Pending& p = it->second;
    if (p.record.stack.size() >= opt_.max_stack_lines) {
      stack_dropped_->inc();
    } else {
      bool bad_utf8 = false, control = false;
      std::string_view line = raw.line;
      if (line.size() > opt_.parser.max_line_bytes) {
        line = line.substr(0, opt_.parser.max_line_bytes);
        truncated_->inc();
      }
      p.record.stack.push_back(sanitize_utf8(line, bad_utf8, control));
      if (bad_utf8) invalid_utf8_->inc();
      if (control) control_bytes_->inc();
      joined_->inc();
    }
    p.last_ts = std::max(p.last_ts, raw.ts);
    return;
  }
  if (it != pending_.end()) {
    Pending done = std::move(it->second);
    pending_.erase(it);
    publish(std::move(done));
  }
  ParsedLine parsed = parser_.parse(raw.line);
  if (parsed.issues.truncated) truncated_->inc();
  if (parsed.issues.invalid_utf8) invalid_utf8_->inc();
  if (parsed.issues.control_bytes) control_bytes_->inc();
  if (parsed.issues.too_deep) too_deep_->inc();
  if (parsed.issues.attributes_dropped) attributes_dropped_->inc();

  Pending p;
  LogRecord& r = p.record;
  r.id = raw.id;
  // The collector's time orders and windows records; a line's own time is kept as an attribute so
  // a skewed or wrong clock in a container cannot move records across windows.
  r.ts = raw.ts;
  r.service = raw.service;
  r.pod = raw.pod;
  r.level = parsed.level;
  r.format = parsed.format;
  r.logger = std::move(parsed.logger);
  r.message = std::move(parsed.message);
  r.attributes = std::move(parsed.attributes);
  if (parsed.has_time) r.attributes.emplace_back("time", format_iso8601(parsed.time));
  p.unparsed = parsed.format == LogFormat::Unparsed;
  p.raw_first_line = raw.line.substr(0, std::min<std::size_t>(raw.line.size(), 512));
  p.last_ts = raw.ts;
  pending_.emplace(key, std::move(p));
}

void LogProcessorService::publish(Pending&& p) {
  LogRecord& r = p.record;
  const MineResult mined = miner_.add(r.message);
  if (mined.is_new) {
    created_->inc();
    log::debug(name(), "new template {:016x} for {}: {}", mined.template_id, r.service, miner_.template_text(mined.cluster));
  } else if (mined.changed) {
    changed_->inc();
    log::debug(name(), "template {:016x} became {:016x}: {}", mined.previous_id, mined.template_id,
               miner_.template_text(mined.cluster));
  }
  if (miner_.evictions() != evictions_seen_) {
    evicted_->inc(static_cast<double>(miner_.evictions() - evictions_seen_));
    evictions_seen_ = miner_.evictions();
  }
  templates_->set(static_cast<double>(miner_.size()));
  note_template(r.service, mined.cluster);
  r.template_id = mined.template_id;
  r.template_text = miner_.template_text(mined.cluster);
  r.params = miner_.params(mined.cluster, r.message);
  if (r.id.empty()) r.id = next_id();

  WindowRecord w;
  w.ts = r.ts;
  w.level = r.level;
  w.unparsed = p.unparsed;
  w.cluster = mined.cluster;
  w.new_template = mined.is_new;
  w.example = p.raw_first_line;
  windows_.add(r.service, w);
  if (windows_.late() != late_seen_) {
    late_->inc(static_cast<double>(windows_.late() - late_seen_));
    late_seen_ = windows_.late();
  }
  records_[static_cast<int>(r.format) % 6]->inc();
  emit(topics::kLogsStructured, std::move(r));
}

void LogProcessorService::flush_idle(TimeMs now) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.last_ts + opt_.multiline_timeout_ms <= now) {
      Pending done = std::move(it->second);
      it = pending_.erase(it);
      publish(std::move(done));
    } else {
      ++it;
    }
  }
}

void LogProcessorService::close_windows(TimeMs clock_watermark) {
  windows_.close(clock_watermark, closed_);
  for (auto& w : closed_) {
    w.id = next_id();
    emit(topics::kFeatures, std::move(w));
  }
  closed_.clear();
}

void LogProcessorService::on_tick(TimeMs now) {
  // Event time of records still waiting for continuation lines is behind `now`; publish them
  // before windows close so they count where they belong.
  flush_idle(std::max(now, max_event_ts_));
  close_windows(now - opt_.windows.allowed_lateness_ms - opt_.multiline_timeout_ms);
  template_bytes_->set(static_cast<double>(miner_.memory_bytes()));
}

void LogProcessorService::note_template(const std::string& service, std::uint64_t cluster) {
  auto& refs = service_templates_[service];
  auto [it, added] = refs.try_emplace(cluster, 0);
  it->second = ++template_use_;
  if (added && ++template_refs_ > kTemplateRefsPerTemplate * opt_.miner.max_templates) trim_template_refs();
}

void LogProcessorService::trim_template_refs() {
  // First what the miner evicted, then, if that is not enough, the least recently used references,
  // down to 90% of the cap so the sort is paid once per tenth of the cap.
  const std::size_t cap = kTemplateRefsPerTemplate * opt_.miner.max_templates;
  const std::size_t target = cap - cap / 10;
  for (auto& [service, refs] : service_templates_) {
    for (auto it = refs.begin(); it != refs.end();) {
      if (!miner_.contains(it->first)) {
        it = refs.erase(it);
        --template_refs_;
      } else {
        ++it;
      }
    }
  }
  if (template_refs_ > target) {
    std::vector<std::tuple<std::uint64_t, std::string, std::uint64_t>> live;  // (last use, service, cluster)
    live.reserve(template_refs_);
    for (const auto& [service, refs] : service_templates_)
      for (const auto& [cluster, use] : refs) live.emplace_back(use, service, cluster);
    const std::size_t drop = template_refs_ - target;
    std::nth_element(live.begin(), live.begin() + static_cast<std::ptrdiff_t>(drop - 1), live.end());
    for (std::size_t i = 0; i < drop; ++i) service_templates_[std::get<1>(live[i])].erase(std::get<2>(live[i]));
    template_refs_ -= drop;
  }
  std::erase_if(service_templates_, [](const auto& kv) { return kv.second.empty(); });
}

nlohmann::json LogProcessorService::save_key(const std::string& service) const {
  auto it = service_templates_.find(service);
  if (it == service_templates_.end()) return nullptr;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> by_use;  // (last use, cluster)
  for (const auto& [cluster, use] : it->second)
    if (miner_.contains(cluster)) by_use.emplace_back(use, cluster);
  if (by_use.empty()) return nullptr;
  std::sort(by_use.begin(), by_use.end());  // deterministic, and a restore keeps the recency order
  nlohmann::json templates = nlohmann::json::array();
  for (const auto& [use, cluster] : by_use) templates.push_back(miner_.snapshot_line(cluster));
  return {{"format", 1}, {"templates", std::move(templates)}};
}

void LogProcessorService::restore_key(const std::string& service, const nlohmann::json& state) {
  std::vector<std::pair<std::vector<std::string>, std::uint64_t>> parsed;  // (tokens, count)
  if (!state.is_null()) {  // null: save_key had nothing for the service
    if (!state.is_object()) throw std::invalid_argument("state: expected an object or null");
    if (!state.contains("format") || state["format"] != 1) throw std::invalid_argument("format: expected 1");
    if (!state.contains("templates") || !state["templates"].is_array())
      throw std::invalid_argument("templates: expected an array");
    const auto& templates = state["templates"];
    if (templates.size() > opt_.miner.max_templates)
      throw std::invalid_argument("templates: " + std::to_string(templates.size()) + " templates, at most " +
                                  std::to_string(opt_.miner.max_templates) + " (log_processor.max_templates)");
    for (std::size_t i = 0; i < templates.size(); ++i) {
      const std::string field = "templates[" + std::to_string(i) + "]";
      if (!templates[i].is_string()) throw std::invalid_argument(field + ": expected a string 'count<TAB>template'");
      std::uint64_t count = 0;
      std::vector<std::string> tokens;
      if (std::string why = miner_.parse_snapshot_line(templates[i].get_ref<const std::string&>(), count, tokens);
          !why.empty())
        throw std::invalid_argument(field + ": " + why);
      parsed.emplace_back(std::move(tokens), count);
    }
  }
  if (auto it = service_templates_.find(service); it != service_templates_.end()) {
    template_refs_ -= it->second.size();
    service_templates_.erase(it);
  }
  const std::size_t before = miner_.size();
  for (auto& [tokens, count] : parsed) note_template(service, miner_.merge_template(std::move(tokens), count));
  if (templates_) templates_->set(static_cast<double>(miner_.size()));
  if (evicted_ && miner_.evictions() != evictions_seen_) {
    evicted_->inc(static_cast<double>(miner_.evictions() - evictions_seen_));
    evictions_seen_ = miner_.evictions();
  }
  log::debug(name(), "restored {} templates of {} ({} new to this process)", parsed.size(), service,
             miner_.size() > before ? miner_.size() - before : 0);
}

}  // namespace selfheal::logproc
