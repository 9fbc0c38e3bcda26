// The rule-engine service: evaluates the rules on every feature window and publishes rule hits on
// `anomalies` (source=rule) for the classifier. Hot-reloads its rules file from on_tick.
//
// Lifecycle: start() loads the rules (a bad file at start is fatal, with the reason); afterwards a
// bad file is logged and counted, and the previous rules stay. Threading: one executor thread.
#include "rules/services.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "contracts/topics.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "rules/rule_engine.hpp"
#include "runtime/event_service.hpp"

namespace selfheal {
namespace {

constexpr std::string_view kName = "rule-engine";

class RuleEngineService final : public EventService {
 public:
  explicit RuleEngineService(const Config& c)
      : file_(c.str("rule_engine.file")),
        reload_interval_ms_(c.duration_ms("rule_engine.reload_interval")),
        series_ttl_ms_(c.duration_ms("rule_engine.series_ttl")),
        engine_(rules::RuleSet{}) {}

  std::string_view name() const override { return kName; }

  void start(ServiceContext& ctx) override {
    bind(ctx);
    auto& m = ctx.metrics;
    reload_ok_ = &m.counter("selfheal_rule_reloads_total", "Rules file reloads, by result", {{"result", "ok"}});
    reload_error_ = &m.counter("selfheal_rule_reloads_total", "Rules file reloads, by result", {{"result", "error"}});
    evaluations_ = &m.counter("selfheal_rule_evaluations_total", "Feature windows evaluated against the rules");
    loaded_ = &m.gauge("selfheal_rules_loaded", "Rules currently loaded");
    if (file_.empty()) {
      engine_.replace(rules::default_rule_set());
    } else {
      std::string text;
      if (!read_file(file_, text))
        throw std::runtime_error("rule-engine: cannot read rule_engine.file '" + file_ + "'");
      try {
        engine_.replace(rules::parse_rule_set(text, file_));
      } catch (const rules::RuleFileError& e) {
        throw std::runtime_error(std::string("rule-engine: ") + e.what());
      }
      loaded_text_ = text;
      stamp_ = file_stamp();
    }
    loaded_->set(static_cast<double>(engine_.rule_set().rules.size()));
    log::info(kName, "{} rules loaded from {} (version {})", engine_.rule_set().rules.size(),
              engine_.rule_set().source_name, engine_.rule_set().version);
    consume(topics::kFeatures);
  }

  void on_tick(TimeMs now) override {
    if (last_expire_ == 0 || now - last_expire_ >= series_ttl_ms_ / 4) {
      engine_.expire(now - series_ttl_ms_);
      last_expire_ = now;
    }
    if (file_.empty() || now - last_check_ < reload_interval_ms_) return;
    last_check_ = now;
    maybe_reload();
  }

 protected:
  void handle(const Delivery& d) override {
    const auto* w = std::get_if<FeatureWindow>(&d.event);
    if (!w) return;
    evaluations_->inc();
    for (Anomaly& a : engine_.evaluate(*w)) {
      a.id = next_id();
      ctx().metrics.counter("selfheal_rule_hits_total", "Rule hits published, by rule", {{"rule", a.model}}).inc();
      emit(topics::kAnomalies, std::move(a));
    }
  }

 private:
  static bool read_file(const std::string& path, std::string& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    std::ostringstream ss;
    ss << in.rdbuf();
    out = ss.str();
    return true;
  }

  std::string file_stamp() const {
    std::error_code ec;
    auto t = std::filesystem::last_write_time(file_, ec);
    if (ec) return {};
    auto size = std::filesystem::file_size(file_, ec);
    return std::to_string(t.time_since_epoch().count()) + ":" + std::to_string(ec ? 0 : size);
  }

  void maybe_reload() {
    std::string stamp = file_stamp();
    if (stamp == stamp_) return;
    stamp_ = stamp;
    std::string text;
    if (!read_file(file_, text)) {
      reload_error_->inc();
      log::error(kName, "cannot read {}; keeping the {} rules of version {}", file_,
                 engine_.rule_set().rules.size(), engine_.rule_set().version);
      return;
    }
    if (text == loaded_text_) return;
    try {
      rules::RuleSet set = rules::parse_rule_set(text, file_);
      log::info(kName, "reloaded {}: {} rules (version {} -> {})", file_, set.rules.size(),
                engine_.rule_set().version, set.version);
      engine_.replace(std::move(set));
      loaded_text_ = text;
      reload_ok_->inc();
      loaded_->set(static_cast<double>(engine_.rule_set().rules.size()));
    } catch (const rules::RuleFileError& e) {
      reload_error_->inc();
      log::error(kName, "{}; keeping the {} rules of version {}", e.what(), engine_.rule_set().rules.size(),
                 engine_.rule_set().version);
    }
  }

  std::string file_;
  std::int64_t reload_interval_ms_;
  std::int64_t series_ttl_ms_;
  rules::RuleEngine engine_;
  std::string loaded_text_;
  std::string stamp_;
  TimeMs last_check_ = 0;
  TimeMs last_expire_ = 0;
  Counter* reload_ok_ = nullptr;
  Counter* reload_error_ = nullptr;
  Counter* evaluations_ = nullptr;
  Gauge* loaded_ = nullptr;
};

}  // namespace

void register_rules_services(ServiceRegistry& r) {
  r.add(ServiceInfo{
      "rule-engine",
      "Deterministic threshold rules over window features (Prometheus-style, hot reload)",
      {"log-processor", "metrics-processor"},
      [](ConfigSchema& s) {
        s.add("rule_engine.file", ConfigType::String, "",
              "Rules file (YAML, see src/rules/README.md); empty: the defaults compiled into the binary "
              "(config/rules/default.yaml). Reloaded when it changes");
        s.add("rule_engine.reload_interval", ConfigType::Duration, "10s",
              "How often the rules file is checked for changes (a bad new file keeps the old rules)");
        s.add("rule_engine.series_ttl", ConfigType::Duration, "15m",
              "Forget the for: state of a series (rule, service, pod) not seen for this long");
      },
      [](const Config& c) { return std::make_unique<RuleEngineService>(c); }});
}

}  // namespace selfheal
