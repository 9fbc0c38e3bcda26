#include "app/app.hpp"

#include <algorithm>
#include <stdexcept>

#include "bus/in_process_bus.hpp"
#include "bus/kafka_bus.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/http_server.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "runtime/executor.hpp"
#include "runtime/input_time_clock.hpp"
#include "store/store.hpp"
#include "store/store_factory.hpp"

namespace selfheal {
namespace {

void declare_core_config(ConfigSchema& s) {
  s.add("log.level", ConfigType::String, "info", "selfheal's own log level: debug, info, warn, error, off");
  s.add("clock.mode", ConfigType::String, "sim",
        "sim: simulated time from clock.start (the scenario's clock); system: the machine's clock");
  s.add("clock.start", ConfigType::String, "2026-01-05T00:00:00Z", "Simulated start time (ISO 8601, UTC)");
  s.add("clock.speed", ConfigType::Double, "0",
        "Simulated seconds per wall second in sim mode; 0 runs as fast as the CPU allows");
  s.add("clock.anchor", ConfigType::String, "",
        "Sim mode in separate processes: the wall time (ISO 8601) at which simulated time was clock.start; "
        "give every process the same value so they agree. Empty: when this process started");
  s.add("clock.follow_inputs", ConfigType::Bool, "true",
        "Sim mode in separate processes (bus.kind=kafka): a service that consumes other services' output runs "
        "on the event time of its inputs (never ahead of the shared clock), so consumer lag cannot close its "
        "windows or fire its timers early");
  s.add("clock.tick", ConfigType::Duration, "1s", "Executor tick: how often services' timers run");
  s.add("run.id", ConfigType::String, "",
        "Tag in every event id of this run; empty: derived from the seed (sim) or the start time (system)");
  s.add("bus.kind", ConfigType::String, "inprocess", "inprocess (one process) or kafka (microservices)");
  s.add("bus.partitions", ConfigType::Int, "4", "Partitions per topic");
  s.add("bus.queue_capacity", ConfigType::Int, "65536",
        "In-process bus: events buffered per topic, consumer group and partition before producers wait");
  s.add("bus.rebuild_lookback", ConfigType::Duration, "10m",
        "bus.kind=kafka: when a stateful service gains a partition someone consumed before (restart, take-over), "
        "it re-reads this much event time before the committed offset to rebuild its windows, models and open "
        "incidents, publishing nothing for it; 0 turns the rebuild off");
  s.add("bus.rebuild_max_events", ConfigType::Int, "20000",
        "bus.kind=kafka: at most this many messages per partition are re-read for a rebuild");
  s.add("bus.rebuild_services", ConfigType::StringList,
        "log-processor,metrics-processor,anomaly-detector,rule-engine,incident-classifier",
        "Services that rebuild their state on assignment; not the remediator, whose handler acts on the cluster");
  s.add("bus.checkpoint_interval", ConfigType::Duration, "1m",
        "bus.kind=kafka: how often (event time) services that keep long-lived per-key state (detector "
        "baselines, open incidents, mined templates, remediation runs and cooldowns) checkpoint it to the `state` topic, restored by whoever gains "
        "the key's partition; 0s turns checkpoints off");
  s.add("admin.listen", ConfigType::String, "127.0.0.1:9464",
        "Admin HTTP endpoint of this process: /healthz, /readyz, /metrics (port 0 picks a free port)");
}

}  // namespace

const ConfigSchema& config_schema() {
  static const ConfigSchema schema = [] {
    ConfigSchema s;
    declare_core_config(s);
    declare_kafka_config(s);
    declare_store_config(s);
    service_registry().declare_config(s);
    return s;
  }();
  return schema;
}

App::App(Config config, std::vector<std::string> services)
    : config_(std::move(config)), names_(std::move(services)) {
  if (names_.empty()) names_ = service_registry().names(/*include_hidden=*/true);
}

App::~App() { stop(); }

void App::start() {
  log::Level level;
  if (!log::parse_level(config_.str("log.level"), level))
    throw ConfigError("config: key 'log.level': expected debug, info, warn, error or off");
  log::set_level(level);

  metrics_ = std::make_unique<MetricsRegistry>();
  const bool all_in_one = names_.size() > 1;
  const std::string clock_mode = config_.str("clock.mode");
  if (clock_mode != "sim" && clock_mode != "system")
    throw ConfigError("config: key 'clock.mode': expected sim or system, got \"" + clock_mode + "\"");
  TimeMs start_ms = 0;
  if (!parse_iso8601(config_.str("clock.start"), start_ms))
    throw ConfigError("config: key 'clock.start': expected an ISO 8601 time such as 2026-01-05T00:00:00Z");

  const std::string bus_kind = config_.str("bus.kind");
  if (bus_kind == "inprocess") {
    InProcessBus::Options o;
    o.partitions = static_cast<int>(config_.integer("bus.partitions"));
    o.queue_capacity = static_cast<std::size_t>(std::max<std::int64_t>(1, config_.integer("bus.queue_capacity")));
    auto b = std::make_unique<InProcessBus>(o, metrics_.get());
    in_process_bus_ = b.get();
    bus_ = std::move(b);
  } else if (bus_kind == "kafka") {
    KafkaOptions ko = kafka_options_from_config(config_);
    auto k = std::make_unique<KafkaBus>(ko, metrics_.get());
    if (ko.create_topics) {
      std::vector<std::string> names(topics::kAll.begin(), topics::kAll.end());
      names.push_back(ko.dead_letter_topic);
      std::string failure = k->ensure_topics(names, std::chrono::seconds(10));
      if (!failure.empty())
        log::warn("kafka", "could not create topics ({}); continuing with the existing ones", failure);
    }
    bus_ = std::move(k);
  } else {
    throw ConfigError("config: key 'bus.kind': expected inprocess or kafka, got \"" + bus_kind + "\"");
  }

  const bool deterministic = clock_mode == "sim" && in_process_bus_ && all_in_one;
  if (deterministic) {
    auto c = std::make_unique<SimClock>(start_ms);
    sim_clock_ = c.get();
    clock_ = std::move(c);
  } else if (clock_mode == "sim") {
    double speed = config_.number("clock.speed");
    TimeMs anchor = SystemClock().now();
    const std::string anchor_text = config_.str("clock.anchor");
    if (!anchor_text.empty() && !parse_iso8601(anchor_text, anchor))
      throw ConfigError("config: key 'clock.anchor': expected an ISO 8601 time such as 2026-11-25T10:00:00Z");
    clock_ = std::make_unique<ScaledClock>(start_ms, speed > 0 ? speed : 1.0, anchor);
  } else {
    clock_ = std::make_unique<SystemClock>();
  }
  run_id_ = config_.str("run.id");
  if (run_id_.empty()) run_id_ = clock_mode == "sim" ? "sim" : std::to_string(SystemClock().now());

  store_ = open_store(config_, metrics_.get());  // may be null when store.backend = none; metrics: selfheal_store_*

  admin_ = std::make_unique<AdminServer>(config_.str("admin.listen"), *metrics_);
  ctx_ = std::make_unique<ServiceContext>(
      ServiceContext{*bus_, *clock_, config_, *metrics_, store_.get(), admin_.get(), run_id_});

  const bool follow_inputs = !deterministic && clock_mode == "sim" && config_.boolean("clock.follow_inputs");
  for (const ServiceInfo* info : service_registry().ordered(names_)) {
    services_.push_back(info->create(config_));
    Service* s = services_.back().get();
    admin_->add_readiness_probe(std::string(s->name()), [s] { return s->ready(); });
    Clock* clock = clock_.get();
    if (follow_inputs && !info->deps.empty()) {  // sources (cluster-sim) keep the shared clock
      input_clocks_.push_back(std::make_unique<InputTimeClock>(*clock_, start_ms));
      clock = input_clocks_.back().get();
    }
    service_ctx_.push_back(std::make_unique<ServiceContext>(ServiceContext{
        *bus_, *clock, config_, *metrics_, store_.get(), admin_.get(), run_id_}));
    if (!in_process_bus_) {
      const auto rebuilders = config_.strings("bus.rebuild_services");
      if (std::find(rebuilders.begin(), rebuilders.end(), std::string(s->name())) != rebuilders.end()) {
        service_ctx_.back()->rebuild.rebuild_lookback_ms = config_.duration_ms("bus.rebuild_lookback");
        service_ctx_.back()->rebuild.rebuild_max_events = config_.integer("bus.rebuild_max_events");
      }
      // Checkpoints restore, they never act: every service that keeps per-key state gets them (the
      // remediator too, which must not forget a cooldown or a verification under way on a restart).
      service_ctx_.back()->checkpoint_interval_ms = config_.duration_ms("bus.checkpoint_interval");
    }
  }
  for (std::size_t i = 0; i < services_.size(); ++i) {
    auto& s = services_[i];
    try {
      s->start(*service_ctx_[i]);
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string(s->name()) + " failed to start: " + e.what());
    }
  }
  admin_->start();
  metrics_->gauge("selfheal_build_info", "Build information; the value is always 1",
                  {{"version", "0.1.0"}}).set(1);

  if (deterministic) {
    std::vector<Service*> ptrs;
    for (auto& s : services_) ptrs.push_back(s.get());
    DeterministicExecutor::Options o;
    o.tick_ms = config_.duration_ms("clock.tick");
    o.speed = config_.number("clock.speed");
    executor_ = std::make_unique<DeterministicExecutor>(std::move(ptrs), *sim_clock_, *in_process_bus_, o);
  }
  started_ = true;
}

TimeMs App::end_of_run() const {
  TimeMs end = Service::kNoEnd;
  for (const auto& s : services_) end = std::min(end, s->end_of_run());
  return end;
}

int App::run(const std::atomic<bool>& stop, bool once) {
  if (!started_) start();
  if (executor_) {
    TimeMs until = once ? end_of_run() : Service::kNoEnd;
    if (once && until == Service::kNoEnd)
      throw std::runtime_error("--once needs a service that ends (cluster-sim with a scenario)");
    executor_->run_until(until, &stop);
    executor_->drain();
    return 0;
  }
  std::vector<Service*> ptrs;
  std::vector<Clock*> clocks;
  for (std::size_t i = 0; i < services_.size(); ++i) {
    ptrs.push_back(services_[i].get());
    clocks.push_back(&service_ctx_[i]->clock);
  }
  const double speed = config_.str("clock.mode") == "sim" && config_.number("clock.speed") > 0
                            ? config_.number("clock.speed")
                            : 1.0;
  ThreadedExecutor(std::move(ptrs), std::move(clocks), config_.duration_ms("clock.tick"), speed).run(stop);
  return 0;
}

void App::stop() {
  if (!started_) return;
  started_ = false;
  executor_.reset();
  for (auto it = services_.rbegin(); it != services_.rend(); ++it) {
    try {
      (*it)->stop();
    } catch (const std::exception& e) {
      log::warn((*it)->name(), "error while stopping: {}", e.what());
    }
  }
  if (admin_) admin_->stop();
  if (bus_) bus_->close();
  services_.clear();
  service_ctx_.clear();
  input_clocks_.clear();
}

DeterministicExecutor& App::executor() {
  if (!executor_) throw std::logic_error("App::executor(): not in deterministic mode");
  return *executor_;
}
SimClock& App::sim_clock() {
  if (!sim_clock_) throw std::logic_error("App::sim_clock(): not in deterministic mode");
  return *sim_clock_;
}
Bus& App::bus() { return *bus_; }
Clock& App::clock() { return *clock_; }
MetricsRegistry& App::metrics() { return *metrics_; }
Store* App::store() { return store_.get(); }
AdminServer* App::admin() { return admin_.get(); }
Service* App::service(std::string_view name) {
  for (auto& s : services_)
    if (s->name() == name) return s.get();
  return nullptr;
}

}  // namespace selfheal
