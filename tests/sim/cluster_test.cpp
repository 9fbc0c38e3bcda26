// The simulated cluster's physics: kubelet timing, fault effects, and what remediation changes.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "sim/simulated_cluster.hpp"

namespace selfheal::sim {
namespace {

constexpr TimeMs kOrigin = 1767571200000;  // 2026-01-05T00:00:00Z

std::string shop(const std::string& faults) {
  return R"(
name: test
namespace: shop
seed: 7
duration: 60m
load: {daily_amplitude: 0, noise: 0, bursts_per_hour: 0}
services:
  - name: web
    replicas: 3
    entry_rps: 90
    cpu: {request: 100m, limit: 500m}
    cpu_per_request: 4
    service_time: 5ms
    startup: 8s
    calls: [{service: api, per_request: 1}]
  - name: api
    replicas: 2
    cpu: {request: 100m, limit: 1000m}
    memory: {request: 256Mi, limit: 512Mi, base: 200Mi, per_rps: 0}
    cpu_per_request: 6
    service_time: 10ms
    startup: 10s
    calls: [{service: db, per_request: 2}]
    external: [payment-gateway]
  - name: db
    kind: database
    replicas: 1
    cpu: {request: 500m, limit: 2000m}
    memory: {request: 1Gi, limit: 2Gi, base: 600Mi}
    service_time: 4ms
    max_connections: 20
)" + faults;
}

struct Harness {
  explicit Harness(const std::string& faults = "") : cluster(parse_scenario(shop(faults), "test"), kOrigin) {}
  SimulatedCluster cluster;
  SimulatedCluster::StepOutput out;
  TimeMs now = kOrigin;
  std::vector<FaultLabel> labels;

  // One-second ticks until `pred` holds (checked after each tick) or `limit_s` simulated seconds.
  bool run_until(int limit_s, const std::function<bool()>& pred = [] { return false; }) {
    for (int i = 0; i < limit_s; ++i) {
      now += 1000;
      cluster.step(now, out);
      labels.insert(labels.end(), out.labels.begin(), out.labels.end());
      if (pred()) return true;
    }
    return false;
  }
  const ServiceState& state(const std::string& service) const {
    for (const auto& s : out.states)
      if (s.service == service) return s;
    throw std::runtime_error("no state for " + service);
  }
  bool has_event(const std::string& service, const std::string& ev) const {
    for (const auto& p : state(service).pods)
      if (std::find(p.events.begin(), p.events.end(), ev) != p.events.end()) return true;
    return false;
  }
  double rps_per_ready_pod(const std::string& service) const {
    for (const auto& p : state(service).pods)
      if (p.ready) return p.requests_per_s;
    return 0;
  }
  double error_fraction(const std::string& service) const {
    double r = 0, e = 0;
    for (const auto& p : state(service).pods) r += p.requests_per_s, e += p.errors_per_s;
    return r > 0 ? e / r : 0;
  }
  int ready(const std::string& service) const {
    int n = 0;
    for (const auto& p : state(service).pods) n += p.ready;
    return n;
  }
};

TEST(SimulatedCluster, HealthyShopIsStableAndTrafficFlowsThroughTheCallGraph) {
  Harness h;
  ASSERT_FALSE(h.run_until(120));
  EXPECT_EQ(h.ready("web"), 3);
  EXPECT_EQ(h.ready("api"), 2);
  EXPECT_NEAR(h.rps_per_ready_pod("web"), 30, 1);
  EXPECT_NEAR(h.rps_per_ready_pod("api"), 45, 1);   // 90 rps, one call per request, 2 pods
  EXPECT_NEAR(h.rps_per_ready_pod("db"), 180, 2);   // two queries per api request
  EXPECT_LT(h.error_fraction("web"), 0.01);
  // web's latency includes its callees' (queueing model, not a constant).
  double web = h.state("web").pods[0].latency_median_s, api = h.state("api").pods[0].latency_median_s;
  EXPECT_GT(web, api);
  EXPECT_FALSE(is_absent(h.state("db").pods[0].db_query_median_s));
  EXPECT_EQ(h.cluster.pods("shop").size(), 6u);
  EXPECT_TRUE(h.cluster.pods("other").empty());
  EXPECT_TRUE(h.labels.empty());
}

TEST(SimulatedCluster, PodNamesFollowKubernetesConventions) {
  Harness h;
  for (const auto& p : h.cluster.pods("shop")) {
    ASSERT_EQ(p.name.rfind(p.deployment + "-", 0), 0u);
    std::string rest = p.name.substr(p.deployment.size() + 1);
    ASSERT_EQ(rest.size(), 16u) << p.name;
    EXPECT_EQ(rest[10], '-');
    for (int i = 0; i < 10; ++i) EXPECT_TRUE(std::isxdigit(static_cast<unsigned char>(rest[i]))) << p.name;
  }
}

TEST(SimulatedCluster, MemoryLeakIsOomKilledThenRestartsAfterBackOffAndLeaksAgain) {
  // Strength 2: base -> limit in ~450 s.
  Harness h("faults: [{type: memory_leak, target: api, start: 60s, duration: 30m, strength: 2}]\n");
  ASSERT_TRUE(h.run_until(2000, [&] { return h.has_event("api", "oom_killed"); }));
  const double since_start_s = static_cast<double>(h.now - kOrigin) / 1000.0 - 60;
  EXPECT_GT(since_start_s, 380);
  EXPECT_LT(since_start_s, 470);
  TimeMs killed_at = h.now;
  std::string victim;
  for (const auto& p : h.state("api").pods)
    if (std::find(p.events.begin(), p.events.end(), "oom_killed") != p.events.end()) {
      victim = p.pod;
      EXPECT_EQ(p.restarts, 1u);
      EXPECT_EQ(p.phase, "CrashLoopBackOff");
      EXPECT_FALSE(p.ready);
    }
  ASSERT_FALSE(victim.empty());
  for (const auto& v : h.cluster.pods("shop"))
    if (v.name == victim) { EXPECT_EQ(v.last_termination_reason, "OOMKilled"); }
  // Kubernetes' first back-off is 10 s: the same pod's container starts again, with fresh memory.
  ASSERT_TRUE(h.run_until(30, [&] {
    for (const auto& p : h.state("api").pods)
      if (p.pod == victim && std::find(p.events.begin(), p.events.end(), "started") != p.events.end()) return true;
    return false;
  }));
  EXPECT_EQ(h.now - killed_at, 10000);
  h.run_until(20);
  for (const auto& p : h.state("api").pods)
    if (p.pod == victim) { EXPECT_LT(p.memory_bytes, 300.0 * 1024 * 1024); }
  // ... and it leaks again.
  h.run_until(200);
  for (const auto& p : h.state("api").pods)
    if (p.pod == victim) { EXPECT_GT(p.memory_bytes, 300.0 * 1024 * 1024); }
  ASSERT_EQ(h.labels.size(), 1u);
  EXPECT_EQ(h.labels[0].fault_type, "memory_leak");
  EXPECT_EQ(h.labels[0].expected_incident_type, "memory_leak");
  EXPECT_EQ(h.labels[0].start, kOrigin + 60000);
  EXPECT_EQ(h.labels[0].end, 0);
}

TEST(SimulatedCluster, CrashLoopBacksOffExponentiallyUpToFiveMinutes) {
  Harness h("faults: [{type: crash_loop, target: api, start: 10s, duration: 50m}]\n");
  std::string pod = h.cluster.pods("shop")[3].name;  // an api pod
  ASSERT_EQ(pod.rfind("api-", 0), 0u);
  std::vector<TimeMs> crashes, starts;
  h.run_until(1800, [&] {
    for (const auto& p : h.state("api").pods) {
      if (p.pod != pod) continue;
      for (const auto& e : p.events) {
        if (e == "crashed") crashes.push_back(h.now);
        if (e == "started") starts.push_back(h.now);
      }
    }
    return false;
  });
  ASSERT_GE(crashes.size(), 6u);
  std::vector<std::int64_t> waits;
  for (std::size_t i = 0; i < starts.size() && i < crashes.size(); ++i) waits.push_back((starts[i] - crashes[i]) / 1000);
  ASSERT_GE(waits.size(), 6u);
  EXPECT_EQ(waits[0], 10);
  EXPECT_EQ(waits[1], 20);
  EXPECT_EQ(waits[2], 40);
  EXPECT_EQ(waits[3], 80);
  EXPECT_EQ(waits[4], 160);
  EXPECT_EQ(waits[5], 300);  // capped at 5 minutes
  bool crash_loop_backoff_seen = false;
  for (const auto& v : h.cluster.pods("shop"))
    crash_loop_backoff_seen = crash_loop_backoff_seen || v.waiting_reason == "CrashLoopBackOff" || v.last_termination_reason == "Error";
  EXPECT_TRUE(crash_loop_backoff_seen);
}

TEST(SimulatedCluster, DeletingAPodReplacesItWithAFreshOneThatWarmsUp) {
  Harness h("faults: [{type: memory_leak, target: api, start: 0s, duration: 30m, strength: 1}]\n");
  h.run_until(300);
  std::string victim;
  double leaked = 0;
  for (const auto& p : h.state("api").pods) victim = p.pod, leaked = p.memory_bytes;
  EXPECT_GT(leaked, 250.0 * 1024 * 1024);
  auto before = h.cluster.resource_version();
  ASSERT_TRUE(h.cluster.delete_pod("shop", victim).ok());
  EXPECT_GT(h.cluster.resource_version(), before);
  EXPECT_EQ(h.cluster.delete_pod("shop", "api-nope").error, ControlError::NotFound);
  EXPECT_EQ(h.cluster.delete_pod("default", victim).error, ControlError::NotFound);
  // The ReplicaSet creates the replacement at once; the old pod terminates.
  std::string fresh;
  for (const auto& v : h.cluster.pods("shop")) {
    if (v.name == victim) { EXPECT_TRUE(v.terminating); }
    if (v.deployment == "api" && v.name != victim && v.phase == "Pending") fresh = v.name;
  }
  ASSERT_FALSE(fresh.empty());
  h.run_until(1);
  EXPECT_EQ(h.ready("api"), 1);  // one serving pod carries the load while the new one starts
  ASSERT_TRUE(h.run_until(30, [&] {
    for (const auto& p : h.state("api").pods)
      if (p.pod == fresh && p.ready) return true;
    return false;
  }));
  // Creation (2 s) + warm-up (10 s).
  for (const auto& p : h.state("api").pods) {
    EXPECT_NE(p.pod, victim);  // terminated and gone
    if (p.pod == fresh) { EXPECT_LT(p.memory_bytes, 220.0 * 1024 * 1024); }  // the leak starts again from zero
  }
  EXPECT_EQ(h.state("api").pods.size(), 2u);
}

TEST(SimulatedCluster, ScalingSpreadsLoadOnceNewPodsAreReady) {
  Harness h;
  h.run_until(30);
  EXPECT_NEAR(h.rps_per_ready_pod("web"), 30, 1);
  DeploymentPatch p;
  p.replicas = 6;
  ASSERT_TRUE(h.cluster.patch_deployment("shop", "web", p).ok());
  h.run_until(2);
  EXPECT_NEAR(h.rps_per_ready_pod("web"), 30, 1);  // new pods are not ready yet
  h.run_until(15);
  EXPECT_EQ(h.ready("web"), 6);
  EXPECT_NEAR(h.rps_per_ready_pod("web"), 15, 1);
  auto deps = h.cluster.deployments("shop");
  EXPECT_EQ(deps[0].replicas, 6);
  EXPECT_EQ(deps[0].ready_replicas, 6);
  EXPECT_EQ(deps[0].generation, 2);
  p.replicas = 2;
  ASSERT_TRUE(h.cluster.patch_deployment("shop", "web", p).ok());
  h.run_until(5);
  EXPECT_EQ(h.state("web").pods.size(), 2u);
  EXPECT_NEAR(h.rps_per_ready_pod("web"), 45, 1);
  p.replicas = -1;
  EXPECT_EQ(h.cluster.patch_deployment("shop", "web", p).error, ControlError::Invalid);
  EXPECT_EQ(h.cluster.patch_deployment("shop", "nope", p).error, ControlError::NotFound);
  DeploymentPatch stale;
  stale.replicas = 3;
  stale.expected_resource_version = 1;
  EXPECT_EQ(h.cluster.patch_deployment("shop", "web", stale).error, ControlError::Conflict);
}

TEST(SimulatedCluster, RolloutRestartReplacesPodsOneByOneWithoutLosingCapacity) {
  Harness h;
  h.run_until(10);
  std::vector<std::string> old;
  for (const auto& v : h.cluster.pods("shop"))
    if (v.deployment == "web") old.push_back(v.name);
  DeploymentPatch p;
  p.restarted_at = "2026-01-05T00:00:10Z";
  ASSERT_TRUE(h.cluster.patch_deployment("shop", "web", p).ok());
  int max_live = 0;
  ASSERT_TRUE(h.run_until(300, [&] {
    int live = 0;
    for (const auto& s : h.state("web").pods) live += s.phase != "Terminating";
    max_live = std::max(max_live, live);
    EXPECT_GE(h.ready("web"), 3) << "capacity dropped at " << h.now;
    for (const auto& s : h.state("web").pods)
      for (const auto& o : old)
        if (s.pod == o) return false;
    return true;
  }));
  EXPECT_EQ(max_live, 4);  // maxSurge 1
  EXPECT_EQ(h.state("web").pods.size(), 3u);
  EXPECT_EQ(h.cluster.deployments("shop")[0].restarted_at, "2026-01-05T00:00:10Z");
  EXPECT_EQ(h.cluster.deployments("shop")[0].updated_replicas, 3);
}

TEST(SimulatedCluster, StuckStateIsFixedByClearStateOnly) {
  Harness h("faults: [{type: stuck_state, target: api, start: 10s, strength: 1}]\n");
  h.run_until(60);
  EXPECT_GT(h.error_fraction("api"), 0.3);
  DeploymentPatch p;
  p.replicas = 4;
  h.cluster.patch_deployment("shop", "api", p);
  h.run_until(30);
  EXPECT_GT(h.error_fraction("api"), 0.15);  // new pods are fine, the old ones stay stuck
  ASSERT_TRUE(h.cluster.clear_state("shop", "api").ok());
  EXPECT_EQ(h.cluster.clear_state("shop", "nope").error, ControlError::NotFound);
  h.run_until(2);
  EXPECT_LT(h.error_fraction("api"), 0.02);
  ASSERT_EQ(h.labels.size(), 2u);
  EXPECT_EQ(h.labels[1].expected_incident_type, "bad_state");
  EXPECT_GT(h.labels[1].end, h.labels[1].start);
}

TEST(SimulatedCluster, CpuSpikeSaturatesPodsAndMoreReplicasRelieveIt) {
  Harness h("faults: [{type: cpu_spike, target: web, start: 10s, duration: 30m, strength: 1}]\n");
  h.run_until(5);
  const double healthy = h.state("web").pods[0].latency_median_s;
  h.run_until(55);
  const auto& pod = h.state("web").pods[0];
  EXPECT_GT(pod.cpu_millicores / pod.cpu_limit_millicores, 0.95);
  EXPECT_GT(pod.latency_median_s, healthy * 1.3);
  DeploymentPatch p;
  p.replicas = 8;
  h.cluster.patch_deployment("shop", "web", p);
  h.run_until(40);
  const auto& after = h.state("web").pods[0];
  EXPECT_LT(after.cpu_millicores / after.cpu_limit_millicores, 0.85);
  EXPECT_LT(after.latency_median_s, healthy * 1.1);
}

TEST(SimulatedCluster, DbLatencySlowsCallersAndExhaustsConnections) {
  Harness h("faults: [{type: db_latency, target: db, start: 10s, duration: 30m, strength: 1}]\n");
  h.run_until(5);
  double before = h.state("api").pods[0].latency_median_s;
  h.run_until(30);
  const auto& db = h.state("db").pods[0];
  EXPECT_GT(db.db_query_median_s, 0.1);
  EXPECT_GT(db.db_pool_waits_per_s, 0);
  EXPECT_GT(h.state("api").pods[0].latency_median_s, 5 * before);
  const auto& c = h.state("api").pods[0].conditions;
  EXPECT_NE(std::find(c.begin(), c.end(), "pool_exhausted"), c.end());
}

TEST(SimulatedCluster, DependencyOutageCausesErrorsNoRemediationFixes) {
  Harness h("faults: [{type: dependency_outage, target: api, start: 10s, duration: 20m, strength: 0.8}]\n");
  h.run_until(30);
  double err = h.error_fraction("api");
  EXPECT_GT(err, 0.7);
  EXPECT_GT(h.error_fraction("web"), 0.7);  // errors propagate to callers
  DeploymentPatch p;
  p.restarted_at = "now";
  p.replicas = 4;
  h.cluster.patch_deployment("shop", "api", p);
  h.run_until(120);
  EXPECT_GT(h.error_fraction("api"), 0.7);
}

TEST(SimulatedCluster, ErrorBurstEndsWhenARolloutReplacesTheBadRelease) {
  Harness h("faults: [{type: error_burst, target: api, start: 10s, duration: 30m, strength: 1}]\n");
  h.run_until(30);
  EXPECT_GT(h.error_fraction("api"), 0.2);
  DeploymentPatch p;
  p.restarted_at = "rollback";
  h.cluster.patch_deployment("shop", "api", p);
  ASSERT_TRUE(h.run_until(200, [&] { return h.labels.size() == 2; }));
  h.run_until(2);
  EXPECT_LT(h.error_fraction("api"), 0.02);
}

TEST(SimulatedCluster, TrafficSurgeRaisesLoadAndRuntimeFaultsAreValidated) {
  Harness h;
  h.run_until(10);
  double base = h.rps_per_ready_pod("web");
  FaultSpec f;
  f.type = "traffic_surge";
  f.target = "web";
  f.start_ms = -1;
  f.duration_ms = 60000;
  std::string id;
  ASSERT_EQ(h.cluster.inject_fault(f, &id), "");
  EXPECT_EQ(id, "fault-1");
  h.run_until(5);
  EXPECT_NEAR(h.rps_per_ready_pod("web"), 3 * base, base * 0.1);
  ASSERT_EQ(h.labels.size(), 1u);
  EXPECT_EQ(h.labels[0].start, kOrigin + 11000);
  h.run_until(70);
  ASSERT_EQ(h.labels.size(), 2u);
  EXPECT_NEAR(h.rps_per_ready_pod("web"), base, base * 0.1);
  f.target = "nope";
  EXPECT_NE(h.cluster.inject_fault(f).find("no service named"), std::string::npos);
}

}  // namespace
}  // namespace selfheal::sim
