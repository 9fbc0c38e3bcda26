// What only PostgresStore does, against a real PostgreSQL the harness starts: surviving a server
// restart in the middle of a stream of writes (every write lands exactly once, in order), never
// blocking the writer's caller, refusing writes beyond the queue's capacity, dropping only a row the
// server refuses, Grafana-friendly column types, the factory and its config keys (including the
// environment), and error messages that never show the password.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <sstream>
#include <thread>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "store/store_factory.hpp"
#include "../support/eventually.hpp"
#include "store_test_support.hpp"

namespace selfheal {
namespace {

using namespace selfheal::testing;
using namespace std::chrono_literals;

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SELFHEAL_REQUIRE_POSTGRES(shared_postgres());
    backend_ = std::make_unique<PostgresBackend>();
    ASSERT_EQ(backend_->error(), "");
  }
  void TearDown() override {
    // A test that stopped the server must not leave it down for the next one in this process.
    if (backend_ && !backend_->server().running()) backend_->server().start();
  }
  PostgresBackend& db() { return *backend_; }
  std::unique_ptr<PostgresBackend> backend_;
};


std::string id_list(const std::string& prefix, int n) {
  std::set<std::string> ids;  // sorted as text, like ORDER BY id COLLATE "C"
  for (int k = 0; k < n; ++k) ids.insert(prefix + std::to_string(k));
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ",") + id;
  return out;
}

TEST_F(PostgresStoreTest, ServerRestartMidStreamLosesNoWriteAndDuplicatesNone) {
  MetricsRegistry metrics;
  PostgresStoreOptions options = db().options();
  options.metrics = &metrics;
  options.batch_size = 64;
  options.read_wait_ms = 300;  // the read made during the outage gives up on earlier writes quickly
  PostgresStore store(options);
  constexpr int kIncidents = 1500;

  // The stream: every incident twice (revision 1 then 2) and an anomaly whose second write raises
  // its score, so a lost, duplicated or reordered write shows in the final rows.
  std::atomic<int> produced{0};
  std::atomic<std::int64_t> slowest_put_ns{0};
  std::thread producer([&] {
    for (int k = 0; k < kIncidents; ++k) {
      const std::string n = std::to_string(k);
      const std::int64_t t0 = monotonic_ns();
      store.put_incident(make_incident("inc-" + n, 1, 1000 + k, "orders"));
      store.put_anomaly(make_anomaly("an-" + n, 1000 + k, "orders", 0.5));
      store.put_incident(make_incident("inc-" + n, 2, 1000 + k, "orders", IncidentType::MemoryLeak,
                                       IncidentStatus::Resolved));
      store.put_anomaly(make_anomaly("an-" + n, 1000 + k, "orders", 0.75));
      slowest_put_ns = std::max(slowest_put_ns.load(), monotonic_ns() - t0);
      produced = k + 1;
      std::this_thread::sleep_for(2ms);  // pacing: a stream spread over the outage, not a burst
    }
  });

  // Stop the server once part of the stream has landed, keep it down ~2 s, start it again.
  ASSERT_TRUE(eventually([&] { return store.stats().written >= 400; }, 20s)) << "nothing landed before the stop";
  ASSERT_TRUE(db().server().stop()) << db().server().error();
  const int produced_at_stop = produced.load();
  // A read while the server is away fails with a clear error, and does not crash or hang forever.
  try {
    store.count_incidents({});
    ADD_FAILURE() << "a read succeeded with the server stopped";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("postgres"), std::string::npos) << e.what();
  }
  std::this_thread::sleep_for(2s);  // the outage itself (part of the scenario, not a wait for a condition)
  EXPECT_GT(produced.load(), produced_at_stop) << "the producer kept going while the server was down";
  EXPECT_GT(store.pending_writes(), 0u) << "writes made during the outage wait in the queue";
  ASSERT_TRUE(db().server().start()) << db().server().error();

  producer.join();
  ASSERT_TRUE(store.flush(20000)) << store.pending_writes() << " writes still pending";
  EXPECT_LT(slowest_put_ns.load(), 1'000'000'000) << "a put waited for the server";

  // Exactly once, nothing lost: the ids, the counts and the final versions.
  EXPECT_EQ(db().query_value("SELECT COUNT(*) FROM incidents"), std::to_string(kIncidents));
  EXPECT_EQ(db().query_value("SELECT COUNT(*) FROM anomalies"), std::to_string(kIncidents));
  EXPECT_EQ(db().query_value("SELECT string_agg(id, ',' ORDER BY id COLLATE \"C\") FROM incidents"),
            id_list("inc-", kIncidents));
  EXPECT_EQ(db().query_value("SELECT string_agg(id, ',' ORDER BY id COLLATE \"C\") FROM anomalies"),
            id_list("an-", kIncidents));
  EXPECT_EQ(db().query_value("SELECT COUNT(*) FROM incidents WHERE revision = 2 AND status = 'resolved'"),
            std::to_string(kIncidents));
  EXPECT_EQ(db().query_value("SELECT COUNT(*) FROM anomalies WHERE score = 0.75"), std::to_string(kIncidents))
      << "the later write of each anomaly is the one kept: order survived the outage";

  const PostgresStore::Stats stats = store.stats();
  EXPECT_EQ(stats.written, 4u * kIncidents);
  EXPECT_GT(stats.retries, 0u);
  EXPECT_EQ(stats.refused, 0u);
  EXPECT_EQ(stats.rejected, 0u);
  const std::string exposition = metrics.render();
  EXPECT_NE(exposition.find("selfheal_store_writes_total " + std::to_string(4 * kIncidents)), std::string::npos)
      << exposition;
  EXPECT_NE(exposition.find("selfheal_store_pending_writes 0"), std::string::npos) << exposition;
  EXPECT_NE(exposition.find("selfheal_store_write_retries_total"), std::string::npos);
  EXPECT_NE(exposition.find("selfheal_store_errors_total{kind=\"connection\"}"), std::string::npos);
  // The store serves reads again on fresh pooled connections.
  EXPECT_EQ(store.count_incidents({}), static_cast<std::size_t>(kIncidents));
}

TEST_F(PostgresStoreTest, AFullQueueRefusesNewWritesWithoutBlockingAndKeepsTheQueuedOnes) {
  MetricsRegistry metrics;
  PostgresStoreOptions options = db().options();
  options.metrics = &metrics;
  options.queue_capacity = 10;
  PostgresStore store(options);
  ASSERT_TRUE(db().server().stop());
  for (int k = 0; k < 25; ++k) store.put_anomaly(make_anomaly("an-" + std::to_string(k), k, "orders", 0.9));
  // The writer may have taken nothing off the queue: exactly the first 10 are held.
  EXPECT_EQ(store.pending_writes(), 10u);
  EXPECT_EQ(store.stats().refused, 15u);
  EXPECT_NE(metrics.render().find("selfheal_store_errors_total{kind=\"queue_full\"} 15"), std::string::npos);
  ASSERT_TRUE(db().server().start());
  ASSERT_TRUE(store.flush(20000));
  EXPECT_EQ(db().query_value("SELECT string_agg(id, ',' ORDER BY id COLLATE \"C\") FROM anomalies"),
            id_list("an-", 10));
}

TEST_F(PostgresStoreTest, ARowTheServerRefusesIsDroppedAloneAndOddTextIsKept) {
  PostgresStore store(db().options());
  store.put_incident(make_incident("inc-1", 1, 1000, "orders"));
  // Far beyond timestamptz's range: the server refuses this row.
  store.put_incident(make_incident("inc-bad", 1, std::int64_t{9'000'000'000'000'000'000}, "orders"));
  Incident odd = make_incident("inc-odd", 1, 3000, std::string("ord\xff" "ers\0x", 10));
  odd.summary = std::string("nul \0 inside", 12);
  store.put_incident(odd);
  store.put_incident(make_incident("inc-3", 1, 4000, "orders"));
  ASSERT_TRUE(store.flush(20000));
  EXPECT_EQ(store.stats().rejected, 1u);
  EXPECT_EQ(db().query_value("SELECT string_agg(id, ',' ORDER BY id COLLATE \"C\") FROM incidents"),
            "inc-1,inc-3,inc-odd");
  auto got = store.get_incident("inc-odd");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->summary.substr(0, 4), "nul ") << "NUL became U+FFFD, the rest of the text is kept";
  EXPECT_NE(got->summary.find("inside"), std::string::npos);
}

TEST_F(PostgresStoreTest, ColumnsAreGrafanaFriendly) {
  {
    PostgresStore store(db().options());
    Incident i = make_incident("inc-1", 1, 1'764'057'600'123, "orders");  // 2025-11-25T08:00:00.123Z
    i.resolved_at = i.opened_at + 60'000;
    store.put_incident(i);
    store.put_action(make_action("act-1", 1'764'057'600'500, "inc-1", "orders", ActionStatus::Pending));
    store.put_action(make_action("act-1", 1'764'057'660'000, "inc-1", "orders", ActionStatus::Succeeded));
    ASSERT_TRUE(store.flush(20000));
  }
  auto type_of = [&](const std::string& table, const std::string& column) {
    return db().query_value("SELECT data_type FROM information_schema.columns WHERE table_name = '" + table +
                            "' AND column_name = '" + column + "'");
  };
  for (auto [table, column] : std::vector<std::pair<std::string, std::string>>{
           {"incidents", "opened_at"}, {"incidents", "updated_at"}, {"incidents", "resolved_at"},
           {"actions", "created_at"}, {"actions", "updated_at"}, {"anomalies", "ts"}, {"action_results", "ts"},
           {"incident_acks", "ts"}})
    EXPECT_EQ(type_of(table, column), "timestamp with time zone") << table << "." << column;
  EXPECT_EQ(type_of("incidents", "json"), "jsonb");
  EXPECT_EQ(db().query_value("SELECT to_char(opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS') "
                             "FROM incidents"),
            "2025-11-25T08:00:00.123");
  EXPECT_EQ(db().query_value("SELECT EXTRACT(EPOCH FROM resolved_at - opened_at) FROM incidents"), "60.000000");
  EXPECT_EQ(db().query_value("SELECT type || '/' || service || '/' || status || '/' || severity FROM incidents"),
            "memory_leak/orders/open/warning");
  EXPECT_EQ(db().query_value("SELECT kind || '/' || status || '/' || "
                             "EXTRACT(EPOCH FROM updated_at - created_at)::int FROM actions"),
            "delete_pod/succeeded/60");
  EXPECT_EQ(db().query_value("SELECT json->'data'->>'title' FROM incidents"), "incident inc-1 rev 1");
}

TEST_F(PostgresStoreTest, SeveralProcessesMayOpenAndMigrateTheSameDatabaseAtOnce) {
  std::vector<std::thread> openers;
  std::atomic<int> failures{0};
  for (int k = 0; k < 4; ++k)
    openers.emplace_back([&] {
      try {
        PostgresStore store(db().options());
        if (store.schema_version() != 2) failures++;
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        failures++;
      }
    });
  for (auto& t : openers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(db().query_value("SELECT COUNT(*) FROM schema_migrations"), "2");
}

TEST_F(PostgresStoreTest, ReadsRunSideBySideOnPooledConnectionsBoundedByThePoolSize) {
  PostgresStoreOptions options = db().options();
  options.pool_size = 3;
  PostgresStore store(options);
  // Another session holds the incidents table locked for a while: every read blocks in the server
  // holding its pooled connection, so what is open shows whether reads ran side by side.
  std::thread locker([&] {
    db().exec("BEGIN; LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(2); COMMIT;");
  });
  ASSERT_TRUE(eventually([&] {
    return db().query_value("SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                            "WHERE c.relname = 'incidents' AND l.mode = 'AccessExclusiveLock' AND l.granted") == "1";
  }, 10s));
  std::atomic<int> wrong{0};
  std::vector<std::thread> readers;
  for (int k = 0; k < 4; ++k)
    readers.emplace_back([&] {
      IncidentQuery q;
      q.service = "x' OR 'a'='a";  // filters are parameters, never SQL text
      if (store.count_incidents(q) != 0) wrong++;
    });
  const std::string blocked_reads =
      "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'selfheal' AND datname = '" + db().dbname() +
      "' AND wait_event_type = 'Lock'";
  EXPECT_TRUE(eventually([&] { return db().query_value(blocked_reads) == "3"; }, 10s))
      << "three reads should wait in the server at once, one per pooled connection";
  EXPECT_EQ(db().query_value("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'selfheal' AND "
                             "datname = '" + db().dbname() + "'"),
            "3")
      << "the fourth read waits for a pooled connection instead of opening one";
  locker.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(PostgresStoreTest, FactoryReadsTheUrlFromConfigOrEnvironment) {
  ConfigSchema schema;
  declare_store_config(schema);
  ::setenv("SELFHEAL_STORE_POSTGRES_URL", db().server().url(db().dbname()).c_str(), 1);
  Config config = Config::load(schema, "", {"store.backend=postgres"});
  ::unsetenv("SELFHEAL_STORE_POSTGRES_URL");
  EXPECT_EQ(config.source_of("store.postgres_url"), "env SELFHEAL_STORE_POSTGRES_URL");
  MetricsRegistry metrics;
  auto store = open_store(config, &metrics);
  ASSERT_NE(store, nullptr);
  EXPECT_NE(dynamic_cast<PostgresStore*>(store.get()), nullptr);
  EXPECT_EQ(store->schema_version(), 2);
  store->put_incident(make_incident("inc-1", 1, 1000, "orders"));
  EXPECT_EQ(store->count_incidents({}), 1u);
  EXPECT_NE(metrics.render().find("selfheal_store_writes_total 1"), std::string::npos) << metrics.render();

  config.set("store.postgres_pool_size", "0", "test");
  try {
    open_store(config);
    FAIL() << "accepted a pool of 0";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("store.postgres_pool_size"), std::string::npos) << e.what();
  }
}

TEST_F(PostgresStoreTest, ErrorsNameTheProblemAndNeverThePassword) {
  auto open_error = [](const std::string& url) -> std::string {
    PostgresStoreOptions o;
    o.conninfo = url;
    try {
      PostgresStore s(o);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  };
  std::string e = open_error("");
  EXPECT_NE(e.find("store.postgres_url"), std::string::npos) << e;
  e = open_error("postgresql://selfheal:hunter2@127.0.0.1:5432/db?sslmode=nonsense_value");
  EXPECT_NE(e.find("store.postgres_url"), std::string::npos) << e;
  EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
  e = open_error("host=127.0.0.1 port=1 user=selfheal password=hunter2 dbname=x connect_timeout=2");
  EXPECT_NE(e.find("cannot connect"), std::string::npos) << e;
  EXPECT_NE(e.find("selfheal@127.0.0.1:1/x"), std::string::npos) << e;
  EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
  // A live server, a wrong password (trust auth ignores it) and a missing database.
  e = open_error("postgresql://postgres:hunter2@127.0.0.1:" + std::to_string(db().server().port()) + "/no_such_db");
  EXPECT_NE(e.find("no_such_db"), std::string::npos) << e;
  EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
}

}  // namespace
}  // namespace selfheal
