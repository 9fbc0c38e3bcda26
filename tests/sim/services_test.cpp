// The three services under the deterministic executor, the ground-truth file, the chaos endpoint,
// and the simulated cluster driven by the machine's kubectl through the Kubernetes API.
#include <gtest/gtest.h>

#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <sys/wait.h>
#include <thread>

#include "bus/in_process_bus.hpp"
#include "contracts/events_json.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/metrics.hpp"
#include "runtime/executor.hpp"
#include "sim/sim_services.hpp"
#include "../support/eventually.hpp"

namespace selfheal::sim {
namespace {

namespace fs = std::filesystem;
constexpr TimeMs kOrigin = 1767571200000;

const ConfigSchema& schema() {
  static const ConfigSchema s = [] {
    ConfigSchema x;
    declare_cluster_sim_config(x);
    declare_log_generator_config(x);
    declare_metrics_generator_config(x);
    return x;
  }();
  return s;
}

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("selfheal-sim-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// Everything a run of the three services needs, wired like App does in deterministic mode.
struct SimRun {
  explicit SimRun(const std::vector<std::string>& overrides) : config(schema()), clock(kOrigin), bus({4, 1 << 20}, &metrics) {
    for (const auto& o : overrides) config.set(o.substr(0, o.find('=')), o.substr(o.find('=') + 1), "test");
    ctx = std::make_unique<ServiceContext>(ServiceContext{bus, clock, config, metrics, nullptr, nullptr, "t"});
    sim = std::make_unique<ClusterSimService>(config);
    logs = std::make_unique<LogGeneratorService>(config);
    metrics_gen = std::make_unique<MetricsGeneratorService>(config);
    states = bus.subscribe(topics::kSimState, "test");
    truth = bus.subscribe(topics::kGroundTruth, "test");
    raw_logs = bus.subscribe(topics::kLogsRaw, "test");
    raw_metrics = bus.subscribe(topics::kMetricsRaw, "test");
    sim->start(*ctx);
    logs->start(*ctx);
    metrics_gen->start(*ctx);
    executor = std::make_unique<DeterministicExecutor>(
        std::vector<Service*>{sim.get(), logs.get(), metrics_gen.get()}, clock, bus, DeterministicExecutor::Options{});
  }
  ~SimRun() {
    executor.reset();
    metrics_gen->stop();
    logs->stop();
    sim->stop();
  }
  // Drains a test subscription, encoding each event on its own line.
  static std::string drain(Subscription& s, std::size_t* n = nullptr) {
    std::vector<Delivery> d;
    std::string out;
    while (s.poll(d, 100000) > 0) {
      for (const auto& x : d) out += encode_event(x.event) + "\n";
      if (n) *n += d.size();
      d.clear();
      s.commit();
    }
    return out;
  }

  Config config;
  MetricsRegistry metrics;
  SimClock clock;
  InProcessBus bus;
  std::unique_ptr<ServiceContext> ctx;
  std::unique_ptr<ClusterSimService> sim;
  std::unique_ptr<LogGeneratorService> logs;
  std::unique_ptr<MetricsGeneratorService> metrics_gen;
  std::unique_ptr<Subscription> states, truth, raw_logs, raw_metrics;
  std::unique_ptr<DeterministicExecutor> executor;
};

std::string write_scenario(const fs::path& dir, const std::string& faults) {
  std::ifstream in("scenarios/demo.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string yaml = ss.str();
  yaml = yaml.substr(0, yaml.find("faults:")) + faults;
  fs::path p = dir / "scenario.yaml";
  std::ofstream(p) << yaml;
  return p.string();
}

TEST(SimServices, EmbeddedDemoIsTheScenarioFileInTheRepository) {
  std::ifstream in("scenarios/demo.yaml");
  ASSERT_TRUE(in) << "tests run from the repository root";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), demo_scenario_yaml());
}

TEST(SimServices, PublishStatesLogsMetricsAndGroundTruthDeterministically) {
  fs::path dir = temp_dir("run");
  std::string scenario = write_scenario(dir, "faults:\n  - {type: cpu_spike, target: search, start: 20s, duration: 30s}\n");
  std::string streams[2];
  for (int r = 0; r < 2; ++r) {
    SimRun run({"cluster_sim.api_enabled=false", "cluster_sim.scenario=" + scenario,
             "cluster_sim.truth_out=" + (dir / "truth.jsonl").string()});
    EXPECT_EQ(run.sim->end_of_run(), kOrigin + 40 * 60 * 1000);
    run.executor->run_until(kOrigin + 90000);
    std::size_t n_states = 0, n_truth = 0, n_logs = 0, n_metrics = 0;
    streams[r] = SimRun::drain(*run.states, &n_states) + SimRun::drain(*run.truth, &n_truth) +
                 SimRun::drain(*run.raw_logs, &n_logs) + SimRun::drain(*run.raw_metrics, &n_metrics);
    EXPECT_EQ(n_states, 90u * 7);  // one state per service per tick
    EXPECT_EQ(n_truth, 2u);        // the fault's start and end
    EXPECT_GT(n_logs, 90u * 30);
    EXPECT_EQ(n_metrics, 9u * 15);  // one batch per pod every 10 s
  }
  EXPECT_EQ(streams[0], streams[1]);
  // The ground truth file has the same labels, one JSON line each.
  std::ifstream truth(dir / "truth.jsonl");
  std::string line;
  std::vector<FaultLabel> labels;
  while (std::getline(truth, line)) {
    auto d = decode_event(line);
    ASSERT_TRUE(d.ok) << d.error;
    labels.push_back(std::get<FaultLabel>(d.event));
  }
  ASSERT_EQ(labels.size(), 2u);
  EXPECT_EQ(labels[0].fault_type, "cpu_spike");
  EXPECT_EQ(labels[0].expected_incident_type, "cpu_saturation");
  EXPECT_EQ(labels[0].start, kOrigin + 20000);
  EXPECT_EQ(labels[1].end, kOrigin + 50000);
  fs::remove_all(dir);
}

TEST(SimServices, ChaosRequestsAreValidatedAndStartAFault) {
  fs::path dir = temp_dir("chaos");
  SimRun run({"cluster_sim.api_enabled=false", "cluster_sim.truth_out=" + (dir / "t.jsonl").string()});
  run.executor->run_until(kOrigin + 5000);
  auto [bad_status, bad] = run.sim->handle_chaos(R"({"type":"cpu_spike","service":"nope"})");
  EXPECT_EQ(bad_status, 422);
  EXPECT_NE(bad.find("no service named \\\"nope\\\""), std::string::npos) << bad;
  auto [bad2, body2] = run.sim->handle_chaos(R"({"type":"meltdown","service":"search"})");
  EXPECT_EQ(bad2, 422);
  EXPECT_NE(body2.find("type: unknown fault"), std::string::npos);
  auto [ok, body] = run.sim->handle_chaos(R"({"type":"error_burst","service":"payments","duration":"1m"})");
  ASSERT_EQ(ok, 201) << body;
  run.executor->run_until(kOrigin + 10000);
  std::string truth = SimRun::drain(*run.truth);
  EXPECT_NE(truth.find("\"fault_type\":\"error_burst\""), std::string::npos) << truth;
  fs::remove_all(dir);
}

TEST(SimServices, BadConfigurationIsRefusedNamingTheKey) {
  Config c(schema());
  c.set("cluster_sim.scenario", "/nonexistent/scenario.yaml", "test");
  try {
    ClusterSimService s(c);
    FAIL() << "accepted a missing scenario";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cluster_sim.scenario"), std::string::npos);
  }
  Config c2(schema());
  c2.set("log_generator.layouts", "orders=cobol", "test");
  try {
    LogGeneratorService s(c2);
    FAIL() << "accepted an unknown layout";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("log_generator.layouts"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("cobol"), std::string::npos);
  }
}

// Runs a shell command (bounded by `timeout`), returning its exit status and output.
int sh(const std::string& cmd, std::string& out) {
  out.clear();
  FILE* p = ::popen(("timeout 60 " + cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Polls `pred` until it holds or 30 s of wall time pass (the ticker thread moves simulated time).
bool eventually(const std::function<bool()>& pred) {
  return testing::eventually(pred, std::chrono::seconds(30), std::chrono::milliseconds(20));
}

TEST(SimServices, KubectlDrivesTheSimulatedClusterAndTheWorkloadReacts) {
  std::string out;
  if (sh("kubectl version --client", out) != 0) GTEST_SKIP() << "kubectl is not installed: " << out;
  fs::path dir = temp_dir("kubectl");
  const std::string kubeconfig = (dir / "kubeconfig").string();
  SimRun run({"cluster_sim.listen=127.0.0.1:0", "cluster_sim.kubeconfig_out=" + kubeconfig,
           "cluster_sim.cert_dir=" + (dir / "tls").string(), "cluster_sim.truth_out="});
  ASSERT_NE(run.sim->endpoint().find("https://127.0.0.1:"), std::string::npos) << run.sim->endpoint();
  SimulatedCluster& cluster = run.sim->cluster();
  std::mutex tick_mu;
  std::atomic<bool> stop{false};
  std::thread ticker([&] {
    while (!stop) {
      {
        std::lock_guard l(tick_mu);
        run.executor->step();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  struct Joiner {  // stops time even when an assertion returns early
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } joiner{stop, ticker};
  auto ready_pods = [&](const std::string& deployment, const std::string& exclude_hash = "") {
    int n = 0;
    for (const auto& p : cluster.pods("shop"))
      n += p.deployment == deployment && p.ready && !p.terminating &&
           (exclude_hash.empty() || p.name.find(exclude_hash) == std::string::npos);
    return n;
  };
  double rps = 0;  // per ready search pod, in the latest state seen
  auto rps_per_search_pod = [&] {
    std::lock_guard l(tick_mu);
    std::vector<Delivery> d;
    while (run.states->poll(d, 100000) > 0) {
      for (const auto& x : d)
        if (const auto* st = std::get_if<ServiceState>(&x.event); st && st->service == "search")
          for (const auto& p : st->pods)
            if (p.ready) rps = p.requests_per_s;
      d.clear();
      run.states->commit();
    }
    return rps;
  };
  // A private discovery cache: a stale one from another server on a reused port would mislead kubectl.
  const std::string k = "kubectl --kubeconfig " + kubeconfig + " --cache-dir " + (dir / "kube-cache").string() + " -n shop ";

  ASSERT_EQ(sh(k + "get pods", out), 0) << out;
  EXPECT_NE(out.find("search-"), std::string::npos) << out;
  EXPECT_NE(out.find("postgres-"), std::string::npos) << out;
  ASSERT_EQ(sh(k + "get deployments", out), 0) << out;
  EXPECT_NE(out.find("frontend"), std::string::npos) << out;

  // scale: a new replica count, then a lower load per pod once the new pods are ready.
  ASSERT_TRUE(eventually([&] { return rps_per_search_pod() > 0; }));
  const double before = rps_per_search_pod();
  ASSERT_EQ(sh(k + "scale deployment/search --replicas=6", out), 0) << out;
  EXPECT_EQ(cluster.deployments("shop")[3].replicas, 6);
  ASSERT_TRUE(eventually([&] { return ready_pods("search") == 6; }));
  ASSERT_TRUE(eventually([&] { double r = rps_per_search_pod(); return r > 0 && r < before * 0.7; }))
      << "before " << before << " after " << rps_per_search_pod();

  // delete pod: the pod goes away and a new one takes its place.
  std::string victim;
  for (const auto& p : cluster.pods("shop"))
    if (p.deployment == "inventory") victim = p.name;
  // --wait=false: the test itself waits (below) for the pod to go, with simulated time moving.
  ASSERT_EQ(sh(k + "delete pod " + victim + " --wait=false", out), 0) << out;
  ASSERT_TRUE(eventually([&] {
    for (const auto& p : cluster.pods("shop"))
      if (p.name == victim) return false;
    return ready_pods("inventory") == 2;
  }));

  // rollout restart: every orders pod is replaced by one of a new template.
  std::string old_hash = cluster.pods("shop")[3].name;
  for (const auto& p : cluster.pods("shop"))
    if (p.deployment == "orders") old_hash = p.name.substr(7, 10);
  ASSERT_EQ(sh(k + "rollout restart deployment/orders", out), 0) << out;
  ASSERT_TRUE(eventually([&] { return ready_pods("orders", old_hash) == 2 && ready_pods("orders") == 2; }));
  EXPECT_FALSE(cluster.deployments("shop")[1].restarted_at.empty());

  // chaos over HTTPS with the kubeconfig's token: refused without it, accepted with it.
  std::string token;
  {
    std::ifstream kc(kubeconfig);
    std::string line;
    while (std::getline(kc, line))
      if (auto pos = line.find("token:"); pos != std::string::npos) token = line.substr(pos + 6);
    token.erase(0, token.find_first_not_of(" \"'"));
    token.erase(token.find_last_not_of(" \"'") + 1);
  }
  ASSERT_FALSE(token.empty());
  std::string url = run.sim->endpoint().substr(0, run.sim->endpoint().find(' '));
  httplib::Client client(url);
  client.enable_server_certificate_verification(false);
  auto anonymous = client.Post("/chaos/faults", R"({"type":"traffic_surge","service":"cache"})", "application/json");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  httplib::Headers auth = {{"Authorization", "Bearer " + token}};
  auto bad = client.Post("/chaos/faults", auth, R"({"type":"traffic_surge","service":"nope"})", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 422);
  auto good = client.Post("/chaos/faults", auth, R"({"type":"traffic_surge","service":"cache","duration":"30s"})", "application/json");
  ASSERT_TRUE(good);
  EXPECT_EQ(good->status, 201) << good->body;
  // The CLI does the same from the kubeconfig, when the binary is built.
  const char* bin = std::getenv("SELFHEAL_BINARY");
  if (bin && fs::exists(bin)) {
    ASSERT_EQ(sh(std::string(bin) + " chaos inject cpu_spike --service search --duration 1m --kubeconfig " + kubeconfig, out), 0) << out;
    EXPECT_NE(out.find("\"id\""), std::string::npos) << out;
  }

  fs::remove_all(dir);
}

}  // namespace
}  // namespace selfheal::sim
