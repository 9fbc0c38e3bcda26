// The product against a real PostgreSQL (started by tests/support/postgres_server.hpp):
//  * `selfheal all --once` (the demo) with store.backend=postgres leaves in Postgres exactly the
//    incidents, actions and results the same run leaves in SQLite, and an incident of the expected
//    type for every injected fault;
//  * the demo pipeline in-process (App, deterministic executor) keeps running while Postgres is
//    stopped in the middle of the run and started again ~2 s later, and every incident and action it
//    published lands in Postgres exactly once, at its latest revision.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "app/app.hpp"
#include "bus/bus.hpp"
#include "contracts/events_json.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "runtime/executor.hpp"
#include "store/postgres_store.hpp"
#include "store_test_support.hpp"
#include "support/child_process.hpp"

namespace selfheal {
namespace {

using namespace selfheal::testing;
using namespace std::chrono_literals;

std::vector<std::string> isolated_overrides(const std::string& dir) {
  return {"admin.listen=127.0.0.1:0",
          "api.listen=127.0.0.1:0",
          "cluster_sim.listen=127.0.0.1:0",
          "cluster_sim.kubeconfig_out=" + dir + "/kubeconfig",
          "cluster_sim.cert_dir=" + dir + "/tls",
          "cluster_sim.truth_out=" + dir + "/ground-truth.jsonl",
          "remediator.kubeconfig=" + dir + "/kubeconfig",
          "ui.story=false"};
}

// Runs `selfheal all --once` with the overrides; returns its exit status (-100: did not finish).
int run_selfheal_once(const std::string& dir, const std::vector<std::string>& store_overrides, std::string& output) {
  const char* bin = std::getenv("SELFHEAL_BINARY");
  if (bin == nullptr || !std::filesystem::exists(bin)) {
    output = "SELFHEAL_BINARY is not set or missing (run the tests through ctest)";
    return -101;
  }
  std::vector<std::string> argv = {bin, "all", "--once"};
  for (const auto& o : isolated_overrides(dir)) argv.insert(argv.end(), {"--set", o});
  for (const auto& o : store_overrides) argv.insert(argv.end(), {"--set", o});
  ChildProcess child(argv, dir + "/selfheal.log");
  const auto deadline = std::chrono::steady_clock::now() + 50s;
  while (child.running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);  // polling the child's exit
  const bool finished = !child.running();
  const int status = child.stop(SIGKILL, 1s);
  output = child.output();
  return finished ? status : -100;
}

// The same listing from either database: one line per row, ordered by id.
const char* kIncidentRows = "SELECT id || '|' || type || '|' || service || '|' || status || '|' || revision AS r FROM incidents";
const char* kActionRows = "SELECT id || '|' || kind || '|' || service || '|' || status AS r FROM actions";
const char* kResultRows = "SELECT id || '|' || action_id || '|' || status AS r FROM action_results";

std::string postgres_rows(PostgresServer& pg, const std::string& db, const char* select) {
  return pg.query_value(std::string("SELECT string_agg(r, E'\\n' ORDER BY r COLLATE \"C\") FROM (") + select + ") q", db);
}
std::string sqlite_rows(const std::string& path, const char* select) {
  sqlite3* handle = nullptr;
  std::string out = "ERROR";
  sqlite3_stmt* st = nullptr;
  const std::string sql = std::string("SELECT group_concat(r, char(10)) FROM (") + select + " ORDER BY r)";
  if (sqlite3_open_v2(path.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK &&
      sqlite3_prepare_v2(handle, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(st, 0);
    out = t ? reinterpret_cast<const char*>(t) : "";
  }
  sqlite3_finalize(st);
  sqlite3_close(handle);
  return out;
}

TEST(PostgresDemo, SelfhealAllOnceLeavesTheSameIncidentsAndActionsInPostgresAsInSqlite) {
  PostgresServer pg;
  SELFHEAL_REQUIRE_POSTGRES(pg);
  ASSERT_TRUE(pg.create_database("selfheal"));
  TempDir pg_dir, sqlite_dir;

  std::string output;
  // A password in the URL (trust authentication ignores it) must never reach the output.
  const std::string url = "postgresql://postgres:s3cret-pw@127.0.0.1:" + std::to_string(pg.port()) + "/selfheal";
  int status = run_selfheal_once(pg_dir.file(""), {"store.backend=postgres", "store.postgres_url=" + url,
                                                   "log.level=debug"}, output);
  ASSERT_EQ(status, 0) << "selfheal all --once with postgres:\n" << output.substr(0, 6000);
  EXPECT_EQ(output.find("s3cret-pw"), std::string::npos) << "the password was printed";
  EXPECT_NE(output.find("postgres store at postgres postgres@127.0.0.1:"), std::string::npos) << output.substr(0, 3000);
  status = run_selfheal_once(sqlite_dir.file(""), {"store.backend=sqlite", "store.sqlite_path=" + sqlite_dir.file("s.db")}, output);
  ASSERT_EQ(status, 0) << "selfheal all --once with sqlite:\n" << output.substr(0, 6000);

  const std::string incidents = postgres_rows(pg, "selfheal", kIncidentRows);
  EXPECT_FALSE(incidents.empty());
  EXPECT_EQ(incidents, sqlite_rows(sqlite_dir.file("s.db"), kIncidentRows));
  const std::string actions = postgres_rows(pg, "selfheal", kActionRows);
  EXPECT_FALSE(actions.empty());
  EXPECT_EQ(actions, sqlite_rows(sqlite_dir.file("s.db"), kActionRows));
  EXPECT_EQ(postgres_rows(pg, "selfheal", kResultRows), sqlite_rows(sqlite_dir.file("s.db"), kResultRows));
  EXPECT_EQ(pg.query_value("SELECT COUNT(*) FROM anomalies", "selfheal"),
            sqlite_rows(sqlite_dir.file("s.db"), "SELECT COUNT(*) AS r FROM anomalies"));

  // Every injected fault has an incident of the type an ideal classifier reports, on its service.
  std::ifstream truth(pg_dir.file("ground-truth.jsonl"));
  std::string line;
  int faults = 0;
  while (std::getline(truth, line)) {
    DecodeResult r = decode_event(line);
    ASSERT_TRUE(r.ok) << r.error << ": " << line;
    const auto* fault = std::get_if<FaultLabel>(&r.event);
    if (fault == nullptr || fault->expected_incident_type.empty() || fault->end != 0) continue;
    ++faults;
    EXPECT_EQ(pg.query_value("SELECT COUNT(*) FROM incidents WHERE service = '" + fault->service + "' AND type = '" +
                                 fault->expected_incident_type + "'", "selfheal"),
              "1")
        << fault->fault_type << " on " << fault->service;
  }
  EXPECT_GT(faults, 0) << "the ground truth named no fault";
}

TEST(PostgresDemo, ThePipelineKeepsRunningThroughAPostgresRestartAndEveryEventLandsOnce) {
  PostgresServer pg;
  SELFHEAL_REQUIRE_POSTGRES(pg);
  ASSERT_TRUE(pg.create_database("selfheal"));
  TempDir dir;
  auto overrides = isolated_overrides(dir.file(""));
  overrides.insert(overrides.end(), {"store.backend=postgres", "store.postgres_url=" + pg.url("selfheal"),
                                     "store.postgres_retry_max=250ms"});
  App app(Config::load(config_schema(), "", overrides, /*use_environment=*/false), {});
  app.start();
  ASSERT_TRUE(app.deterministic());
  auto* store = dynamic_cast<PostgresStore*>(app.store());
  ASSERT_NE(store, nullptr);
  auto incidents_sub = app.bus().subscribe(topics::kIncidents, "test");
  auto actions_sub = app.bus().subscribe(topics::kActions, "test");
  std::map<std::string, std::uint32_t> incidents;  // latest revision published
  std::map<std::string, std::string> actions;      // latest status published (by ts order)
  std::map<std::string, TimeMs> action_ts;
  std::vector<Delivery> batch;
  auto collect = [&](TimeMs) {
    for (auto* sub : {incidents_sub.get(), actions_sub.get()}) {
      batch.clear();
      while (sub->poll(batch, 4096) > 0) {
      }
      for (auto& d : batch) {
        if (auto* i = std::get_if<Incident>(&d.event)) incidents[i->id] = std::max(incidents[i->id], i->revision);
        if (auto* a = std::get_if<RemediationAction>(&d.event))
          if (!action_ts.count(a->id) || a->ts >= action_ts[a->id]) {
            action_ts[a->id] = a->ts;
            actions[a->id] = std::string(to_string(a->status));
          }
      }
    }
  };
  const TimeMs end = app.end_of_run();
  ASSERT_NE(end, Service::kNoEnd);
  const TimeMs start = app.clock().now();
  // First half with the server up, then stop it: the second half runs while it is down and while
  // it comes back (started from another thread ~2 s later, as an operator would).
  app.executor().run_until(start + (end - start) / 2, nullptr, collect);
  ASSERT_GT(store->stats().written, 0u) << "nothing reached Postgres before the stop";
  ASSERT_TRUE(pg.stop()) << pg.error();
  std::thread restarter([&] {
    std::this_thread::sleep_for(2s);  // the outage itself
    pg.start();
  });
  app.executor().run_until(end, nullptr, collect);
  app.executor().drain();
  collect(end);
  const std::uint64_t pending_after_run = store->pending_writes();
  restarter.join();
  ASSERT_TRUE(pg.running()) << pg.error();
  ASSERT_TRUE(store->flush(20000)) << store->pending_writes() << " writes still pending";
  const auto stats = store->stats();
  EXPECT_GT(stats.retries, 0u) << "the outage was not noticed: stop Postgres earlier in the run";
  EXPECT_EQ(stats.refused, 0u);
  EXPECT_EQ(stats.rejected, 0u);
  (void)pending_after_run;

  ASSERT_FALSE(incidents.empty());
  std::string expected_incidents, expected_actions;
  for (const auto& [id, rev] : incidents) expected_incidents += (expected_incidents.empty() ? "" : "\n") + id + "|" + std::to_string(rev);
  for (const auto& [id, status] : actions) expected_actions += (expected_actions.empty() ? "" : "\n") + id + "|" + status;
  EXPECT_EQ(postgres_rows(pg, "selfheal", "SELECT id || '|' || revision AS r FROM incidents"), expected_incidents);
  EXPECT_EQ(postgres_rows(pg, "selfheal", "SELECT id || '|' || status AS r FROM actions"), expected_actions);
  app.stop();
}

}  // namespace
}  // namespace selfheal
