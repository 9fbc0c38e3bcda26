// Speed of the detector models. Run from the repo root (reads ../shared/data/nab).
//  * BM_NabCorpus: the whole NAB corpus (365,558 points) through the NAB detector, one core.
//    Target: under 2 s per iteration. Also reports the per-series state size (target < 4 KB).
//  * BM_FeatureBaseline: robust-baseline updates of feature values (the service's inner loop).
#include <benchmark/benchmark.h>

#include <random>

#include "detector/feature_model.hpp"
#include "detector/nab.hpp"
#include "detector/nab_cli.hpp"
#include "detector/nab_detector.hpp"

using namespace selfheal::detector;

static void BM_NabCorpus(benchmark::State& state) {
  static const auto corpus = nab::read_corpus("../shared/data/nab/data");
  NabParams params;
  std::size_t points = 0;
  for (const auto& s : corpus) points += s.values.size();
  for (auto _ : state) {
    auto scored = score_series(corpus, params);
    benchmark::DoNotOptimize(scored.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * points));
  state.counters["points"] = static_cast<double>(points);
  state.counters["state_bytes_per_series"] = static_cast<double>(sizeof(NabDetector));
}
BENCHMARK(BM_NabCorpus)->Unit(benchmark::kMillisecond);

static void BM_FeatureBaseline(benchmark::State& state) {
  auto params = BaselineParams::builtin();
  const FeatureRule& rule = *params.rule("latency_p95_s");
  std::vector<BaselineState> series(1000);
  std::mt19937_64 rng(1);
  std::normal_distribution<double> noise(0.2, 0.01);
  std::vector<double> values(4096);
  for (auto& v : values) v = noise(rng);
  std::size_t i = 0;
  for (auto _ : state) {
    auto s = score_and_update(params, rule, series[i % series.size()], values[i % values.size()], 0.9);
    benchmark::DoNotOptimize(s);
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["state_bytes_per_series"] = static_cast<double>(sizeof(BaselineState));
}
BENCHMARK(BM_FeatureBaseline);

BENCHMARK_MAIN();
