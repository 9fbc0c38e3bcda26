// Registers the simulated cloud's services and implements them (see sim_services.hpp).
#include "sim/services.hpp"

#include <httplib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "bus/bus.hpp"
#include "contracts/events_json.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/http_server.hpp"
#include "core/log.hpp"
#include "sim/chaos.hpp"
#include "sim/sim_services.hpp"

#ifdef SELFHEAL_HAVE_K8S_API
#include "sim/k8s_api/k8s_api_server.hpp"
#endif

namespace selfheal {
namespace sim {

#ifdef SELFHEAL_HAVE_K8S_API
class K8sApiHandle {
 public:
  K8sApiHandle(ClusterControl& cluster, K8sApiServerOptions options, MetricsRegistry* metrics)
      : server(cluster, std::move(options), metrics) {}
  K8sApiServer server;
};
#else
class K8sApiHandle {};
#endif

void declare_cluster_sim_config(ConfigSchema& s) {
  s.add("cluster_sim.scenario", ConfigType::String, "",
        "Scenario YAML (see scenarios/); empty runs the demo scenario compiled into the binary");
  s.add("cluster_sim.seed", ConfigType::Int, "0", "Random seed; 0 keeps the scenario's own seed");
  s.add("cluster_sim.api_enabled", ConfigType::Bool, "true",
        "Serve the simulated cluster's Kubernetes API (HTTPS) and write a kubeconfig for it");
  s.add("cluster_sim.listen", ConfigType::String, "127.0.0.1:6443",
        "Address of the simulated Kubernetes API (port 0 picks a free port)");
  s.add("cluster_sim.token", ConfigType::String, "",
        "Bearer token the Kubernetes API accepts; empty generates one at start (written to the kubeconfig)");
  s.add("cluster_sim.cert_dir", ConfigType::String, "./data/cluster-sim-tls",
        "Where the API's self-signed certificate is made");
  s.add("cluster_sim.kubeconfig_out", ConfigType::String, "./data/kubeconfig",
        "Kubeconfig written at start for kubectl and the remediator");
  s.add("cluster_sim.truth_out", ConfigType::String, "./data/ground-truth.jsonl",
        "Ground truth: one JSON line per fault start and end (empty: do not write)");
}

void declare_log_generator_config(ConfigSchema& s) {
  s.add("log_generator.request_sample", ConfigType::Double, "0.15",
        "Fraction of requests that leave a request/access log line (0..1)");
  s.add("log_generator.background_per_s", ConfigType::Double, "0.4",
        "Background lines per pod per second (health, stats, harmless WARN and ERROR noise)");
  s.add("log_generator.layouts", ConfigType::StringList,
        "frontend=nginx,orders=java,payments=json,search=logfmt,inventory=json,cache=logfmt,postgres=postgres",
        "Log layout per service (json, logfmt, java, nginx, postgres); other services write JSON lines");
  s.add("log_generator.max_lines_per_pod_tick", ConfigType::Int, "400",
        "Safety cap on the lines one pod writes in one tick");
}

void declare_metrics_generator_config(ConfigSchema& s) {
  s.add("metrics_generator.scrape_interval", ConfigType::Duration, "10s",
        "How often each pod is scraped (one MetricBatch per pod per interval)");
}

// ---------------------------------------------------------------------------------------------------
// cluster-sim
// ---------------------------------------------------------------------------------------------------

ClusterSimService::ClusterSimService(const Config& config) {
  const std::string path = config.str("cluster_sim.scenario");
  try {
    scenario_ = path.empty() ? demo_scenario() : load_scenario_file(path);
  } catch (const ScenarioError& e) {
    throw ConfigError(std::string("config: key 'cluster_sim.scenario': ") + e.what());
  }
  if (std::int64_t seed = config.integer("cluster_sim.seed"); seed != 0) scenario_.seed = static_cast<std::uint64_t>(seed);
  truth_path_ = config.str("cluster_sim.truth_out");
  api_enabled_ = config.boolean("cluster_sim.api_enabled");
  listen_ = config.str("cluster_sim.listen");
  token_ = config.str("cluster_sim.token");
  kubeconfig_out_ = config.str("cluster_sim.kubeconfig_out");
  cert_dir_ = config.str("cluster_sim.cert_dir");
}

ClusterSimService::~ClusterSimService() { stop(); }

void ClusterSimService::start(ServiceContext& ctx) {
  bind(ctx);
  cluster_ = std::make_unique<SimulatedCluster>(scenario_, ctx.clock.now());
  if (!truth_path_.empty()) {
    std::error_code ec;
    auto parent = std::filesystem::path(truth_path_).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    truth_.open(truth_path_, std::ios::out | std::ios::trunc);
    if (!truth_) throw std::runtime_error("cannot write the ground truth to '" + truth_path_ +
                                          "' (config cluster_sim.truth_out)");
  }
  auto chaos = [this](const httplib::Request& req, httplib::Response& res) {
    auto [status, body] = handle_chaos(req.body);
    res.status = status;
    res.set_content(body, "application/json");
  };
  if (ctx.admin) ctx.admin->http().Post("/chaos/faults", chaos);
#ifdef SELFHEAL_HAVE_K8S_API
  if (api_enabled_) {
    K8sApiServerOptions options;
    options.listen = listen_;
    options.token = token_;
    options.cert_dir = cert_dir_;
    api_ = std::make_unique<K8sApiHandle>(*cluster_, options, &ctx.metrics);
    api_->server.http().Post("/chaos/faults", chaos);
    api_->server.start();
    if (!kubeconfig_out_.empty()) api_->server.write_kubeconfig(kubeconfig_out_);
    log::info("cluster-sim", "Kubernetes API at {}; kubeconfig written to {}", api_->server.url(), kubeconfig_out_);
  }
#endif
  log::info("cluster-sim", "scenario '{}': {} services, {} faults, {} simulated, seed {}", scenario_.name,
            scenario_.services.size(), scenario_.faults.size(), format_duration(scenario_.duration_ms), scenario_.seed);
}

std::pair<int, std::string> ClusterSimService::handle_chaos(const std::string& body) {
  FaultSpec fault;
  std::string err = parse_chaos_request(body, fault);
  std::string label;
  if (err.empty() && cluster_) err = cluster_->inject_fault(fault, &label);
  if (!err.empty()) return {422, nlohmann::json{{"error", err}}.dump()};
  nlohmann::json answer = {{"id", label}, {"type", fault.type}, {"service", fault.target},
                           {"duration", format_duration(fault.duration_ms)}, {"strength", fault.strength},
                           {"status", "accepted: starts at the next tick"}};
  return {201, answer.dump()};
}

void ClusterSimService::on_tick(TimeMs now) {
  cluster_->step(now, step_);
  for (auto& label : step_.labels) {
    // label.id is stable per fault ("fault-N"): consumers key its start and end on it.
    if (truth_.is_open()) {
      truth_ << encode_event(Event{label}) << '\n';
      truth_.flush();
    }
    emit(topics::kGroundTruth, std::move(label));
  }
  for (auto& st : step_.states) {
    st.id = next_id();
    emit(topics::kSimState, std::move(st));
  }
}

void ClusterSimService::stop() {
#ifdef SELFHEAL_HAVE_K8S_API
  if (api_) api_->server.stop();
#endif
  api_.reset();
  if (truth_.is_open()) truth_.close();
}

std::string ClusterSimService::endpoint() const {
#ifdef SELFHEAL_HAVE_K8S_API
  if (api_) return api_->server.url() + " (Kubernetes API; kubeconfig " + kubeconfig_out_ + ")";
#endif
  return {};
}

TimeMs ClusterSimService::end_of_run() const { return cluster_ ? cluster_->end() : kNoEnd; }

// ---------------------------------------------------------------------------------------------------
// generators
// ---------------------------------------------------------------------------------------------------

namespace {
LogRendererOptions log_options(const Config& c) {
  LogRendererOptions o;
  o.request_sample = c.number("log_generator.request_sample");
  if (!(o.request_sample >= 0 && o.request_sample <= 1))
    throw ConfigError("config: key 'log_generator.request_sample': must be between 0 and 1");
  o.background_per_s = c.number("log_generator.background_per_s");
  if (!(o.background_per_s >= 0 && o.background_per_s <= 1000))
    throw ConfigError("config: key 'log_generator.background_per_s': must be between 0 and 1000");
  std::int64_t cap = c.integer("log_generator.max_lines_per_pod_tick");
  if (cap < 1) throw ConfigError("config: key 'log_generator.max_lines_per_pod_tick': must be at least 1");
  o.max_lines_per_pod_tick = static_cast<std::size_t>(cap);
  if (std::string err = o.set_styles(c.strings("log_generator.layouts")); !err.empty())
    throw ConfigError("config: key 'log_generator.layouts': " + err);
  return o;
}
}  // namespace

LogGeneratorService::LogGeneratorService(const Config& config) : renderer_(log_options(config)) {}

void LogGeneratorService::start(ServiceContext& ctx) {
  bind(ctx);
  consume(topics::kSimState);
}

void LogGeneratorService::handle(const Delivery& d) {
  const auto* st = std::get_if<ServiceState>(&d.event);
  if (!st) return;
  lines_.clear();
  renderer_.render(*st, lines_);
  for (auto& l : lines_) {
    l.id = next_id();
    emit(topics::kLogsRaw, std::move(l));
  }
}

MetricsGeneratorService::MetricsGeneratorService(const Config& config)
    : renderer_([&] {
        std::int64_t ms = config.duration_ms("metrics_generator.scrape_interval");
        if (ms < 100) throw ConfigError("config: key 'metrics_generator.scrape_interval': must be at least 100ms");
        return ms;
      }()) {}

void MetricsGeneratorService::start(ServiceContext& ctx) {
  bind(ctx);
  consume(topics::kSimState);
}

void MetricsGeneratorService::handle(const Delivery& d) {
  const auto* st = std::get_if<ServiceState>(&d.event);
  if (!st) return;
  batches_.clear();
  renderer_.observe(*st, batches_);
  for (auto& b : batches_) {
    b.id = next_id();
    emit(topics::kMetricsRaw, std::move(b));
  }
}

}  // namespace sim

void register_sim_services(ServiceRegistry& r) {
  r.add(ServiceInfo{"cluster-sim",
                    "Simulated Kubernetes cluster: workload, faults and a Kubernetes API kubectl can drive",
                    {},
                    sim::declare_cluster_sim_config,
                    [](const Config& c) { return std::make_unique<sim::ClusterSimService>(c); }});
  r.add(ServiceInfo{"log-generator",
                    "Renders the simulated workload into application logs (JSON, logfmt, text, access logs)",
                    {"cluster-sim"},
                    sim::declare_log_generator_config,
                    [](const Config& c) { return std::make_unique<sim::LogGeneratorService>(c); }});
  r.add(ServiceInfo{"metrics-generator", "Renders the simulated workload into per-pod metrics scrapes",
                    {"cluster-sim"},
                    sim::declare_metrics_generator_config,
                    [](const Config& c) { return std::make_unique<sim::MetricsGeneratorService>(c); }});
}

}  // namespace selfheal
