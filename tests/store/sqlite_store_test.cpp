// SqliteStore: round trips, upsert rules, filters and pagination, migrations from an old schema,
// and concurrent readers while a writer writes.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "core/config.hpp"
#include "store/sqlite_store.hpp"
#include "store/store_factory.hpp"

namespace selfheal {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test under the system temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("selfheal-store-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

Incident make_incident(const std::string& id, std::uint32_t revision, TimeMs opened, const std::string& service,
                       IncidentType type = IncidentType::MemoryLeak,
                       IncidentStatus status = IncidentStatus::Open) {
  Incident i;
  i.id = id;
  i.revision = revision;
  i.type = type;
  i.status = status;
  i.service = service;
  i.namespace_name = "shop";
  i.title = "incident " + id + " rev " + std::to_string(revision);
  i.opened_at = opened;
  i.updated_at = opened + revision;
  i.evidence.push_back(Evidence{"metric", "memory_used_ratio", "memory 91% of limit", 0.91, 0.42, opened});
  i.timeline.push_back(TimelineEntry{opened, "opened"});
  return i;
}

Anomaly make_anomaly(const std::string& id, TimeMs ts, const std::string& service, double score) {
  Anomaly a;
  a.id = id;
  a.ts = ts;
  a.service = service;
  a.series = service + ":memory_used_ratio";
  a.signal = "memory_used_ratio";
  a.score = score;
  a.value = 0.9;
  a.model = "robust_z";
  return a;
}

RemediationAction make_action(const std::string& id, TimeMs ts, const std::string& incident,
                              const std::string& service, ActionStatus status) {
  RemediationAction a;
  a.id = id;
  a.ts = ts;
  a.incident_id = incident;
  a.service = service;
  a.kind = ActionKind::DeletePod;
  a.namespace_name = "shop";
  a.target = service + "-abcdef0123-xyz12";
  a.status = status;
  a.reason = "memory leak";
  return a;
}

TEST(SqliteStore, IncidentRoundTripKeepsEveryField) {
  SqliteStore store(":memory:");
  Incident in = make_incident("inc-1", 1, 1000, "orders");
  in.affected_services = {"orders", "frontend"};
  in.anomaly_ids = {"an-1", "an-2"};
  store.put_incident(in);
  auto out = store.get_incident("inc-1");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->title, in.title);
  EXPECT_EQ(out->affected_services, in.affected_services);
  ASSERT_EQ(out->evidence.size(), 1u);
  EXPECT_EQ(out->evidence[0].text, "memory 91% of limit");
  EXPECT_DOUBLE_EQ(out->evidence[0].baseline, 0.42);
  EXPECT_EQ(out->anomaly_ids, in.anomaly_ids);
  EXPECT_FALSE(store.get_incident("missing").has_value());
}

TEST(SqliteStore, IncidentUpsertKeepsHighestRevision) {
  SqliteStore store(":memory:");
  store.put_incident(make_incident("inc-1", 1, 1000, "orders"));
  store.put_incident(make_incident("inc-1", 3, 1000, "orders", IncidentType::MemoryLeak, IncidentStatus::Resolved));
  store.put_incident(make_incident("inc-1", 2, 1000, "orders", IncidentType::MemoryLeak, IncidentStatus::Mitigating));
  store.put_incident(make_incident("inc-1", 3, 1000, "orders"));  // duplicate revision: ignored
  auto out = store.get_incident("inc-1");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->revision, 3u);
  EXPECT_EQ(out->status, IncidentStatus::Resolved);
  IncidentQuery q;
  EXPECT_EQ(store.count_incidents(q), 1u);
  q.status = IncidentStatus::Resolved;
  EXPECT_EQ(store.count_incidents(q), 1u) << "the indexed status column follows the kept revision";
}

TEST(SqliteStore, IncidentFiltersAndPaginationNewestFirst) {
  SqliteStore store(":memory:");
  for (int k = 0; k < 10; ++k) {
    store.put_incident(make_incident("inc-" + std::to_string(k), 1, 1000 * k, k % 2 ? "orders" : "payments",
                                     k < 5 ? IncidentType::MemoryLeak : IncidentType::CpuSaturation,
                                     k % 3 == 0 ? IncidentStatus::Resolved : IncidentStatus::Open));
  }
  IncidentQuery q;
  q.limit = 3;
  auto page = store.list_incidents(q);
  ASSERT_EQ(page.size(), 3u);
  EXPECT_EQ(page[0].id, "inc-9");
  EXPECT_EQ(page[2].id, "inc-7");
  q.offset = 9;
  page = store.list_incidents(q);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].id, "inc-0");
  EXPECT_EQ(store.count_incidents(q), 10u) << "the total ignores pagination";

  IncidentQuery f;
  f.service = "orders";
  f.type = IncidentType::CpuSaturation;
  auto got = store.list_incidents(f);
  ASSERT_EQ(got.size(), 3u);  // 5, 7, 9
  EXPECT_EQ(got[0].id, "inc-9");
  EXPECT_EQ(got[2].id, "inc-5");

  IncidentQuery t;
  t.opened.from = 2000;
  t.opened.to = 4000;
  t.status = IncidentStatus::Open;
  got = store.list_incidents(t);
  ASSERT_EQ(got.size(), 2u);  // 2 and 4 (3 is resolved)
  EXPECT_EQ(got[0].id, "inc-4");
  EXPECT_EQ(got[1].id, "inc-2");
  EXPECT_EQ(store.count_incidents(t), 2u);
}

TEST(SqliteStore, AnomalyFiltersAndIncidentLinks) {
  SqliteStore store(":memory:");
  store.put_anomaly(make_anomaly("an-1", 100, "orders", 0.5));
  store.put_anomaly(make_anomaly("an-2", 200, "orders", 0.95));
  store.put_anomaly(make_anomaly("an-3", 300, "payments", 0.99));
  store.put_anomaly(make_anomaly("an-3", 300, "payments", 0.99));  // duplicate: harmless
  Incident i = make_incident("inc-1", 1, 150, "orders");
  i.anomaly_ids = {"an-1", "an-3"};
  store.put_incident(i);

  AnomalyQuery all;
  EXPECT_EQ(store.count_anomalies(all), 3u);
  EXPECT_EQ(store.list_anomalies(all).front().id, "an-3");
  AnomalyQuery q;
  q.service = "orders";
  q.min_score = 0.9;
  auto got = store.list_anomalies(q);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, "an-2");
  AnomalyQuery t;
  t.time.from = 150;
  t.time.to = 250;
  EXPECT_EQ(store.count_anomalies(t), 1u);
  AnomalyQuery linked;
  linked.incident_id = "inc-1";
  got = store.list_anomalies(linked);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, "an-3");
  EXPECT_EQ(got[1].id, "an-1");
  EXPECT_EQ(store.list_services(), (std::vector<std::string>{"orders", "payments"}));
}

TEST(SqliteStore, ActionsUpsertByIdAndResults) {
  SqliteStore store(":memory:");
  store.put_action(make_action("act-1", 100, "inc-1", "orders", ActionStatus::Pending));
  store.put_action(make_action("act-1", 200, "inc-1", "orders", ActionStatus::Approved));
  store.put_action(make_action("act-1", 150, "inc-1", "orders", ActionStatus::Pending));  // late, older
  store.put_action(make_action("act-2", 120, "inc-2", "payments", ActionStatus::Skipped));
  auto a = store.get_action("act-1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, ActionStatus::Approved);
  EXPECT_EQ(a->target, "orders-abcdef0123-xyz12");

  ActionQuery q;
  EXPECT_EQ(store.count_actions(q), 2u);
  q.status = ActionStatus::Approved;
  auto got = store.list_actions(q);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, "act-1");
  ActionQuery by_incident;
  by_incident.incident_id = "inc-2";
  got = store.list_actions(by_incident);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].service, "payments");

  ActionResult r;
  r.id = "res-1";
  r.ts = 300;
  r.action_id = "act-1";
  r.incident_id = "inc-1";
  r.service = "orders";
  r.status = ActionStatus::Verified;
  r.detail = "memory back to 40%";
  store.put_action_result(r);
  store.put_action_result(r);
  auto results = store.list_action_results("act-1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].detail, "memory back to 40%");
  EXPECT_TRUE(store.list_action_results("act-2").empty());
}

TEST(SqliteStore, AcknowledgementUpsert) {
  SqliteStore store(":memory:");
  EXPECT_FALSE(store.get_acknowledgement("inc-1"));
  store.put_acknowledgement({"inc-1", 10, "alice", "looking"});
  store.put_acknowledgement({"inc-1", 20, "bob", "mine now"});
  auto ack = store.get_acknowledgement("inc-1");
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->by, "bob");
  EXPECT_EQ(ack->ts, 20);
}

TEST(SqliteStore, FileSurvivesReopenInWalModeAndCreatesParentDirectory) {
  TempDir dir;
  const std::string path = dir.file("nested/deeper/selfheal.db");
  {
    SqliteStore store(path);
    store.put_incident(make_incident("inc-1", 2, 1000, "orders"));
    EXPECT_EQ(store.schema_version(), sqlite_migrations().back().version);
  }
  SqliteStore again(path);
  auto i = again.get_incident("inc-1");
  ASSERT_TRUE(i);
  EXPECT_EQ(i->revision, 2u);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST(SqliteStore, OpeningAVersion1DatabaseMigratesAndBackfillsLinks) {
  TempDir dir;
  const std::string path = dir.file("old.db");
  {
    SqliteStore old(path, 1);
    EXPECT_EQ(old.schema_version(), 1);
    Incident i = make_incident("inc-1", 1, 1000, "orders");
    i.anomaly_ids = {"an-1"};
    old.put_incident(i);
    old.put_anomaly(make_anomaly("an-1", 900, "orders", 0.9));
    old.put_anomaly(make_anomaly("an-2", 950, "orders", 0.9));
  }
  SqliteStore upgraded(path);
  EXPECT_EQ(upgraded.schema_version(), 2);
  AnomalyQuery linked;
  linked.incident_id = "inc-1";
  auto got = upgraded.list_anomalies(linked);
  ASSERT_EQ(got.size(), 1u) << "migration 2 backfills incident_anomalies from the stored JSON";
  EXPECT_EQ(got[0].id, "an-1");
  upgraded.put_acknowledgement({"inc-1", 5, "alice", ""});
  EXPECT_TRUE(upgraded.get_acknowledgement("inc-1"));

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT group_concat(version) FROM schema_migrations", -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "1,2");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST(SqliteStore, RefusesADatabaseNewerThanTheBuild) {
  TempDir dir;
  const std::string path = dir.file("future.db");
  { SqliteStore s(path); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO schema_migrations (version, description) VALUES (99, 'future')",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  try {
    SqliteStore s(path);
    FAIL() << "opened a database from the future";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
  }
}

TEST(SqliteStore, ClearErrorWhenTheFileCannotBeOpened) {
  TempDir dir;
  const std::string not_a_db = dir.file("garbage.db");
  { std::FILE* f = std::fopen(not_a_db.c_str(), "w"); std::fputs("this is not sqlite, just text that is long enough to be a header..........................................", f); std::fclose(f); }
  try {
    SqliteStore s(not_a_db);
    FAIL() << "opened garbage";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("store.sqlite_path"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(not_a_db), std::string::npos) << e.what();
  }
  // A path below a regular file cannot have its directory created.
  try {
    SqliteStore s(not_a_db + "/sub/x.db");
    FAIL() << "created a directory below a file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("store.sqlite_path"), std::string::npos) << e.what();
  }
}

TEST(SqliteStore, FactoryOpensSqliteByDefaultAndRefusesUnknownBackends) {
  ConfigSchema schema;
  declare_store_config(schema);
  Config config(schema);
  EXPECT_EQ(config.str("store.backend"), "sqlite");
  config.set("store.sqlite_path", ":memory:", "test");
  auto store = open_store(config);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->schema_version(), sqlite_migrations().back().version);
  config.set("store.backend", "none", "test");
  EXPECT_EQ(open_store(config), nullptr);
  config.set("store.backend", "mongodb", "test");
  try {
    open_store(config);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("store.backend"), std::string::npos);
  }
}

TEST(SqliteStore, ConcurrentReadersWhileTheWriterWrites) {
  TempDir dir;
  SqliteStore store(dir.file("concurrent.db"));
  constexpr int kWrites = 400;
  std::atomic<bool> done{false};
  std::atomic<int> reader_failures{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      std::size_t last = 0;
      while (!done.load()) {
        IncidentQuery q;
        q.limit = 20;
        std::size_t n = store.count_incidents(q);
        auto page = store.list_incidents(q);
        // Counts only grow, and a page never holds a half-written incident.
        if (n < last || page.size() > 20) reader_failures++;
        for (const auto& i : page)
          if (i.evidence.size() != 1) reader_failures++;
        last = n;
      }
    });
  }
  for (int k = 0; k < kWrites; ++k) {
    store.put_incident(make_incident("inc-" + std::to_string(k), 1, k, "orders"));
    store.put_anomaly(make_anomaly("an-" + std::to_string(k), k, "orders", 0.9));
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(reader_failures.load(), 0);
  EXPECT_EQ(store.count_incidents({}), static_cast<std::size_t>(kWrites));
  EXPECT_EQ(store.count_anomalies({}), static_cast<std::size_t>(kWrites));
}

}  // namespace
}  // namespace selfheal
