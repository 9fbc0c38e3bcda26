// Generator throughput in simulated time on one core: the demo shop's states are precomputed, then
// rendered over and over (the simulation itself is not part of the figure).
#include <benchmark/benchmark.h>

#include "sim/log_renderer.hpp"
#include "sim/metrics_renderer.hpp"
#include "sim/simulated_cluster.hpp"

namespace {

using namespace selfheal;
using namespace selfheal::sim;

constexpr TimeMs kOrigin = 1767571200000;

// 10 simulated minutes of the demo shop, with its memory leak running (so fault lines appear too).
const std::vector<ServiceState>& states() {
  static const std::vector<ServiceState> kStates = [] {
    Scenario sc = demo_scenario();
    sc.faults = {{"memory_leak", "orders", 0, 0, 1.5, ""}, {"cpu_spike", "search", 300000, 0, 1.0, ""}};
    SimulatedCluster cluster(sc, kOrigin);
    SimulatedCluster::StepOutput out;
    std::vector<ServiceState> all;
    for (int i = 1; i <= 600; ++i) {
      cluster.step(kOrigin + i * 1000LL, out);
      all.insert(all.end(), out.states.begin(), out.states.end());
    }
    return all;
  }();
  return kStates;
}

void BM_LogGenerator(benchmark::State& state) {
  LogRendererOptions o;
  o.set_styles({"frontend=nginx", "orders=java", "payments=json", "search=logfmt", "inventory=json",
                "cache=logfmt", "postgres=postgres"});
  o.request_sample = 1.0;  // every request leaves a line: stresses the renderer, not the sampler
  LogRenderer renderer(o);
  const auto& all = states();
  std::vector<RawLog> out;
  std::size_t lines = 0, i = 0;
  for (auto _ : state) {
    out.clear();
    renderer.render(all[i], out);
    lines += out.size();
    i = (i + 1) % all.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(lines));
  state.counters["lines"] = static_cast<double>(lines);
}
BENCHMARK(BM_LogGenerator);

void BM_MetricsGenerator(benchmark::State& state) {
  std::vector<ServiceState> all = states();
  // Scrape every tick so each state gives batches; count samples.
  MetricsRenderer renderer(1000);
  std::vector<MetricBatch> out;
  std::size_t samples = 0, i = 0;
  for (auto _ : state) {
    out.clear();
    samples += renderer.observe(all[i], out);
    benchmark::DoNotOptimize(out.data());
    if (++i == all.size()) {
      i = 0;
      for (auto& s : all) s.ts += 600000;  // time moves on, so counters keep accumulating
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(samples));
}
BENCHMARK(BM_MetricsGenerator);

void BM_ClusterStep(benchmark::State& state) {
  SimulatedCluster cluster(demo_scenario(), kOrigin);
  SimulatedCluster::StepOutput out;
  TimeMs now = kOrigin;
  for (auto _ : state) {
    now += 1000;
    cluster.step(now, out);
    benchmark::DoNotOptimize(out.states.data());
  }
  state.SetItemsProcessed(state.iterations());  // simulated seconds
}
BENCHMARK(BM_ClusterStep);

}  // namespace

BENCHMARK_MAIN();
