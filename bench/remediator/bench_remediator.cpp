// How fast the remediator decides: incidents through playbook, guardrails, a (fake, in-memory)
// Kubernetes call and the audit trail; and metrics windows through the recovery check.
#include <benchmark/benchmark.h>

#include "bus/in_process_bus.hpp"
#include "contracts/feature_names.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "fake_kubernetes.hpp"
#include "remediator/playbook.hpp"
#include "remediator/recovery_check.hpp"
#include "remediator/remediator.hpp"

namespace selfheal::remediation {
namespace {

void BM_IncidentToAction(benchmark::State& state) {
  log::set_level(log::Level::Off);
  MetricsRegistry metrics;
  InProcessBus bus({4, 1 << 20}, &metrics);
  SimClock clock(1'800'000'000'000);
  ConfigSchema schema;
  Config config(schema);
  ServiceContext ctx{bus, clock, config, metrics, nullptr, nullptr, "b"};
  auto fake = std::make_unique<testing::FakeKubernetes>();
  for (int i = 0; i < 50; ++i) fake->add_deployment("shop", "svc" + std::to_string(i), 3);
  RemediatorOptions o;
  o.kill_switch_file = "";
  o.cooldown_ms = 0;
  o.max_actions_per_hour = o.max_actions_per_hour_per_service = 1 << 30;
  auto* kube = fake.get();
  Remediator r(o, PlaybookSet::defaults(), std::move(fake));
  r.start(ctx);
  auto drain = bus.subscribe(topics::kActions, "bench");
  std::vector<Delivery> sink;
  std::int64_t n = 0;
  for (auto _ : state) {
    Incident inc;
    inc.id = "inc-" + std::to_string(n);
    inc.revision = 1;
    inc.type = IncidentType::ErrorBurst;  // a rollout restart: reads the deployment and pods, then patches
    inc.service = "svc" + std::to_string(n % 50);
    inc.namespace_name = "shop";
    bus.publish(topics::kIncidents, inc);
    while (r.poll() > 0) {
    }
    sink.clear();
    drain->poll(sink, 1000);
    kube->calls.clear();
    ++n;
  }
  state.SetItemsProcessed(n);
}
BENCHMARK(BM_IncidentToAction);

void BM_RecoveryCheckWindow(benchmark::State& state) {
  RecoveryCheck check;
  FeatureWindow w;
  w.service = "orders";
  w.set(std::string(feature_names::kErrorRatio), 0.01);
  w.set(std::string(feature_names::kLatencyP95), 0.1);
  w.set(std::string(feature_names::kCpuUtilMean), 0.3);
  w.set(std::string(feature_names::kMemoryUtilMax), 0.4);
  w.set(std::string(feature_names::kPods), 3);
  w.set(std::string(feature_names::kPodsReady), 3);
  for (int i = 0; i < 30; ++i) check.observe(w, true);
  std::int64_t n = 0;
  for (auto _ : state) {
    check.observe(w, true);
    benchmark::DoNotOptimize(check.problems(w, IncidentType::MemoryLeak));
    ++n;
  }
  state.SetItemsProcessed(n);
}
BENCHMARK(BM_RecoveryCheckWindow);

void BM_ParseDefaultPlaybooks(benchmark::State& state) {
  std::int64_t n = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(PlaybookSet::defaults());
    ++n;
  }
  state.SetItemsProcessed(n);
}
BENCHMARK(BM_ParseDefaultPlaybooks);

}  // namespace
}  // namespace selfheal::remediation

BENCHMARK_MAIN();
