// Store throughput and read latency, SQLite file vs a real PostgreSQL (started here by the test
// harness, fsync off like the tests; production numbers with fsync on will be lower for writes).
//   Writes: N put_incident + put_anomaly, then wait until all are committed; items/s = rows/s.
//   Reads: list_incidents(limit 50) + count_incidents over 20,000 incidents, one pair per iteration
//   (Postgres: straight after the load, and after VACUUM ANALYZE as autovacuum would do).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>

#include "store/postgres_store.hpp"
#include "store/sqlite_store.hpp"
#include "support/postgres_server.hpp"

namespace selfheal {
namespace {

testing::PostgresServer& server() {
  static testing::PostgresServer pg;
  return pg;
}

Incident incident(int k) {
  Incident i;
  i.id = "inc-" + std::to_string(k);
  i.revision = 1;
  i.type = IncidentType::MemoryLeak;
  i.service = k % 2 ? "orders" : "payments";
  i.title = "memory leak in " + i.service;
  i.opened_at = 1'764'000'000'000 + k;
  i.updated_at = i.opened_at;
  i.evidence.push_back(Evidence{"metric", "memory_used_ratio", "memory 91% of limit", 0.91, 0.42, i.opened_at});
  i.timeline.push_back(TimelineEntry{i.opened_at, "opened"});
  i.anomaly_ids = {"an-" + std::to_string(k)};
  return i;
}

Anomaly anomaly(int k) {
  Anomaly a;
  a.id = "an-" + std::to_string(k);
  a.ts = 1'764'000'000'000 + k;
  a.service = k % 2 ? "orders" : "payments";
  a.signal = "memory_used_ratio";
  a.score = 0.93;
  return a;
}

std::unique_ptr<PostgresStore> open_postgres(const std::string& db) {
  if (!server().ok()) return nullptr;
  server().psql("DROP DATABASE IF EXISTS " + db);
  server().create_database(db);
  PostgresStoreOptions o;
  o.conninfo = server().conninfo(db);
  return std::make_unique<PostgresStore>(o);
}

void BM_PostgresWrites(benchmark::State& state) {
  auto store = open_postgres("bench_writes");
  if (!store) return state.SkipWithError(("no postgres: " + server().error()).c_str());
  int k = 0;
  for (auto _ : state) {
    for (int n = 0; n < 1000; ++n, ++k) {
      store->put_incident(incident(k));
      store->put_anomaly(anomaly(k));
    }
    if (!store->flush(60000)) state.SkipWithError("flush timed out");
  }
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_PostgresWrites)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

void BM_SqliteWrites(benchmark::State& state) {
  const std::string path = std::filesystem::temp_directory_path() / "selfheal-bench-store.db";
  std::filesystem::remove(path);
  SqliteStore store(path);
  int k = 0;
  for (auto _ : state) {
    for (int n = 0; n < 1000; ++n, ++k) {
      store.put_incident(incident(k));
      store.put_anomaly(anomaly(k));
    }
  }
  state.SetItemsProcessed(state.iterations() * 2000);
  std::filesystem::remove(path);
}
BENCHMARK(BM_SqliteWrites)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

void BM_PostgresListAndCount(benchmark::State& state) {
  auto store = open_postgres("bench_reads");
  if (!store) return state.SkipWithError(("no postgres: " + server().error()).c_str());
  for (int k = 0; k < 20000; ++k) store->put_incident(incident(k));
  store->flush(120000);
  // What autovacuum does soon after a bulk load in production: statistics and the visibility map
  // (without it COUNT(*) reads every heap page instead of the index only: ~20 ms instead of ~2 ms).
  if (state.range(0) == 1) server().psql("VACUUM ANALYZE incidents", "bench_reads");
  IncidentQuery q;
  q.service = "orders";
  q.limit = 50;
  for (auto _ : state) {
    auto page = store->list_incidents(q);
    benchmark::DoNotOptimize(page);
    benchmark::DoNotOptimize(store->count_incidents(q));
  }
}
BENCHMARK(BM_PostgresListAndCount)->Unit(benchmark::kMicrosecond)->UseRealTime()->ArgName("vacuumed")->Arg(0)->Arg(1);

void BM_SqliteListAndCount(benchmark::State& state) {
  const std::string path = std::filesystem::temp_directory_path() / "selfheal-bench-store-reads.db";
  std::filesystem::remove(path);
  {
    SqliteStore store(path);
    for (int k = 0; k < 20000; ++k) store.put_incident(incident(k));
    IncidentQuery q;
    q.service = "orders";
    q.limit = 50;
    for (auto _ : state) {
      auto page = store.list_incidents(q);
      benchmark::DoNotOptimize(page);
      benchmark::DoNotOptimize(store.count_incidents(q));
    }
  }
  std::filesystem::remove(path);
}
BENCHMARK(BM_SqliteListAndCount)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The put_*() call itself (what the executor thread pays): encoding and queueing only.
void BM_PostgresPutCallOnly(benchmark::State& state) {
  auto store = open_postgres("bench_put");
  if (!store) return state.SkipWithError(("no postgres: " + server().error()).c_str());
  int k = 0;
  for (auto _ : state) store->put_incident(incident(k++));
  store->flush(120000);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PostgresPutCallOnly)->Unit(benchmark::kMicrosecond)->Iterations(5000)->UseRealTime();

}  // namespace
}  // namespace selfheal

BENCHMARK_MAIN();
