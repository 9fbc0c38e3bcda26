// The Store contract, run against every backend (SQLite file, real PostgreSQL started by the test
// harness): round trips, upsert rules, filters and pagination, acknowledgements, reopening,
// migrations from schema version 1, a database newer than the build, and readers running while a
// writer writes.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store_test_support.hpp"

namespace selfheal {
namespace {

using namespace selfheal::testing;

class StoreBehaviour : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      backend_ = std::make_unique<SqliteBackend>();
    } else {
      SELFHEAL_REQUIRE_POSTGRES(shared_postgres());
      backend_ = std::make_unique<PostgresBackend>();
    }
    ASSERT_EQ(backend_->error(), "");
  }
  std::unique_ptr<Store> open(int target_version = -1) { return backend_->open(target_version); }
  std::unique_ptr<StoreBackend> backend_;
};

TEST_P(StoreBehaviour, IncidentRoundTripKeepsEveryField) {
  auto store = open();
  Incident in = make_incident("inc-1", 1, 1000, "orders");
  in.affected_services = {"orders", "frontend"};
  in.anomaly_ids = {"an-1", "an-2"};
  in.summary = "quotes \" backslash \\ tab \t unicode \u00e9 \u2603";
  store->put_incident(in);
  auto out = store->get_incident("inc-1");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->title, in.title);
  EXPECT_EQ(out->summary, in.summary);
  EXPECT_EQ(out->affected_services, in.affected_services);
  ASSERT_EQ(out->evidence.size(), 1u);
  EXPECT_EQ(out->evidence[0].text, "memory 91% of limit");
  EXPECT_DOUBLE_EQ(out->evidence[0].baseline, 0.42);
  EXPECT_EQ(out->anomaly_ids, in.anomaly_ids);
  EXPECT_FALSE(store->get_incident("missing").has_value());
}

TEST_P(StoreBehaviour, IncidentUpsertKeepsHighestRevision) {
  auto store = open();
  store->put_incident(make_incident("inc-1", 1, 1000, "orders"));
  store->put_incident(make_incident("inc-1", 3, 1000, "orders", IncidentType::MemoryLeak, IncidentStatus::Resolved));
  store->put_incident(make_incident("inc-1", 2, 1000, "orders", IncidentType::MemoryLeak, IncidentStatus::Mitigating));
  store->put_incident(make_incident("inc-1", 3, 1000, "orders"));  // duplicate revision: ignored
  auto out = store->get_incident("inc-1");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->revision, 3u);
  EXPECT_EQ(out->status, IncidentStatus::Resolved);
  IncidentQuery q;
  EXPECT_EQ(store->count_incidents(q), 1u);
  q.status = IncidentStatus::Resolved;
  EXPECT_EQ(store->count_incidents(q), 1u) << "the indexed status column follows the kept revision";
}

TEST_P(StoreBehaviour, IncidentFiltersAndPaginationNewestFirst) {
  auto store = open();
  for (int k = 0; k < 10; ++k) {
    store->put_incident(make_incident("inc-" + std::to_string(k), 1, 1000 * k, k % 2 ? "orders" : "payments",
                                      k < 5 ? IncidentType::MemoryLeak : IncidentType::CpuSaturation,
                                      k % 3 == 0 ? IncidentStatus::Resolved : IncidentStatus::Open));
  }
  IncidentQuery q;
  q.limit = 3;
  auto page = store->list_incidents(q);
  ASSERT_EQ(page.size(), 3u);
  EXPECT_EQ(page[0].id, "inc-9");
  EXPECT_EQ(page[2].id, "inc-7");
  q.offset = 9;
  page = store->list_incidents(q);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].id, "inc-0");
  EXPECT_EQ(store->count_incidents(q), 10u) << "the total ignores pagination";
  IncidentQuery unlimited;
  unlimited.limit = std::numeric_limits<std::size_t>::max();
  EXPECT_EQ(store->list_incidents(unlimited).size(), 10u);

  IncidentQuery f;
  f.service = "orders";
  f.type = IncidentType::CpuSaturation;
  auto got = store->list_incidents(f);
  ASSERT_EQ(got.size(), 3u);  // 5, 7, 9
  EXPECT_EQ(got[0].id, "inc-9");
  EXPECT_EQ(got[2].id, "inc-5");

  IncidentQuery t;
  t.opened.from = 2000;
  t.opened.to = 4000;
  t.status = IncidentStatus::Open;
  got = store->list_incidents(t);
  ASSERT_EQ(got.size(), 2u);  // 2 and 4 (3 is resolved)
  EXPECT_EQ(got[0].id, "inc-4");
  EXPECT_EQ(got[1].id, "inc-2");
  EXPECT_EQ(store->count_incidents(t), 2u);
}

TEST_P(StoreBehaviour, AnomalyFiltersAndIncidentLinks) {
  auto store = open();
  store->put_anomaly(make_anomaly("an-1", 100, "orders", 0.5));
  store->put_anomaly(make_anomaly("an-2", 200, "orders", 0.95));
  store->put_anomaly(make_anomaly("an-3", 300, "payments", 0.99));
  store->put_anomaly(make_anomaly("an-3", 300, "payments", 0.99));  // duplicate: harmless
  Incident i = make_incident("inc-1", 1, 150, "orders");
  i.anomaly_ids = {"an-1", "an-3"};
  store->put_incident(i);

  AnomalyQuery all;
  EXPECT_EQ(store->count_anomalies(all), 3u);
  EXPECT_EQ(store->list_anomalies(all).front().id, "an-3");
  AnomalyQuery q;
  q.service = "orders";
  q.min_score = 0.9;
  auto got = store->list_anomalies(q);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, "an-2");
  AnomalyQuery t;
  t.time.from = 150;
  t.time.to = 250;
  EXPECT_EQ(store->count_anomalies(t), 1u);
  AnomalyQuery linked;
  linked.incident_id = "inc-1";
  got = store->list_anomalies(linked);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, "an-3");
  EXPECT_EQ(got[1].id, "an-1");
  EXPECT_EQ(store->list_services(), (std::vector<std::string>{"orders", "payments"}));
}

TEST_P(StoreBehaviour, ActionsUpsertByIdAndResults) {
  auto store = open();
  store->put_action(make_action("act-1", 100, "inc-1", "orders", ActionStatus::Pending));
  store->put_action(make_action("act-1", 200, "inc-1", "orders", ActionStatus::Approved));
  store->put_action(make_action("act-1", 150, "inc-1", "orders", ActionStatus::Pending));  // late, older
  store->put_action(make_action("act-2", 120, "inc-2", "payments", ActionStatus::Skipped));
  auto a = store->get_action("act-1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, ActionStatus::Approved);
  EXPECT_EQ(a->target, "orders-abcdef0123-xyz12");

  ActionQuery q;
  EXPECT_EQ(store->count_actions(q), 2u);
  q.status = ActionStatus::Approved;
  auto got = store->list_actions(q);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, "act-1");
  ActionQuery by_incident;
  by_incident.incident_id = "inc-2";
  got = store->list_actions(by_incident);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].service, "payments");
  ActionQuery by_time;
  by_time.time.from = 190;
  got = store->list_actions(by_time);
  ASSERT_EQ(got.size(), 1u) << "the time filter uses the latest decision's time";
  EXPECT_EQ(got[0].id, "act-1");

  ActionResult r;
  r.id = "res-1";
  r.ts = 300;
  r.action_id = "act-1";
  r.incident_id = "inc-1";
  r.service = "orders";
  r.status = ActionStatus::Verified;
  r.detail = "memory back to 40%";
  store->put_action_result(r);
  store->put_action_result(r);
  auto results = store->list_action_results("act-1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].detail, "memory back to 40%");
  EXPECT_TRUE(store->list_action_results("act-2").empty());
}

TEST_P(StoreBehaviour, AcknowledgementUpsert) {
  auto store = open();
  EXPECT_FALSE(store->get_acknowledgement("inc-1"));
  store->put_acknowledgement({"inc-1", 10, "alice", "looking"});
  store->put_acknowledgement({"inc-1", 20, "bob", "mine now"});
  auto ack = store->get_acknowledgement("inc-1");
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->by, "bob");
  EXPECT_EQ(ack->note, "mine now");
  EXPECT_EQ(ack->ts, 20);
}

TEST_P(StoreBehaviour, DataSurvivesReopen) {
  {
    auto store = open();
    store->put_incident(make_incident("inc-1", 2, 1000, "orders"));
    store->put_action(make_action("act-1", 100, "inc-1", "orders", ActionStatus::Pending));
    EXPECT_EQ(store->schema_version(), 2);
  }
  auto again = open();
  auto i = again->get_incident("inc-1");
  ASSERT_TRUE(i);
  EXPECT_EQ(i->revision, 2u);
  EXPECT_TRUE(again->get_action("act-1"));
}

TEST_P(StoreBehaviour, OpeningAVersion1DatabaseMigratesAndBackfillsLinks) {
  {
    auto old = open(1);
    EXPECT_EQ(old->schema_version(), 1);
    Incident i = make_incident("inc-1", 1, 1000, "orders");
    i.anomaly_ids = {"an-1"};
    old->put_incident(i);
    old->put_anomaly(make_anomaly("an-1", 900, "orders", 0.9));
    old->put_anomaly(make_anomaly("an-2", 950, "orders", 0.9));
    EXPECT_FALSE(old->get_acknowledgement("inc-1")) << "version 1 has no acknowledgements";
  }
  EXPECT_EQ(backend_->query_value("SELECT COUNT(*) FROM schema_migrations"), "1");
  auto upgraded = open();
  EXPECT_EQ(upgraded->schema_version(), 2);
  AnomalyQuery linked;
  linked.incident_id = "inc-1";
  auto got = upgraded->list_anomalies(linked);
  ASSERT_EQ(got.size(), 1u) << "migration 2 backfills incident_anomalies from the stored JSON";
  EXPECT_EQ(got[0].id, "an-1");
  upgraded->put_acknowledgement({"inc-1", 5, "alice", ""});
  EXPECT_TRUE(upgraded->get_acknowledgement("inc-1"));
  EXPECT_EQ(backend_->query_value("SELECT COUNT(*) FROM schema_migrations"), "2");
  EXPECT_EQ(backend_->query_value("SELECT MIN(version) FROM schema_migrations"), "1");
  EXPECT_EQ(backend_->query_value("SELECT MAX(version) FROM schema_migrations"), "2");
}

TEST_P(StoreBehaviour, RefusesADatabaseNewerThanTheBuild) {
  { auto s = open(); }
  ASSERT_TRUE(backend_->exec("INSERT INTO schema_migrations (version, description) VALUES (99, 'future')"));
  try {
    auto s = open();
    FAIL() << "opened a database from the future";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
  }
}

TEST_P(StoreBehaviour, AnUnreadableRowIsSkippedAndTheOthersStillAnswer) {
  auto store = open();
  store->put_incident(make_incident("inc-1", 1, 1000, "orders"));
  store->put_incident(make_incident("inc-2", 1, 2000, "orders"));
  ASSERT_EQ(store->count_incidents({}), 2u);  // both landed before the raw edit below
  // Valid JSON for both backends, but not an incident envelope.
  ASSERT_TRUE(backend_->exec("UPDATE incidents SET json = '{\"type\":\"incident\",\"v\":1,\"data\":{\"id\":7}}' "
                             "WHERE id = 'inc-1'"));
  auto page = store->list_incidents({});
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].id, "inc-2");
  EXPECT_FALSE(store->get_incident("inc-1"));
}

TEST_P(StoreBehaviour, ConcurrentReadersWhileTheWriterWrites) {
  auto store = open();
  constexpr int kWrites = 400;
  std::atomic<bool> done{false};
  std::atomic<int> reader_failures{0};
  std::atomic<int> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      std::size_t last = 0;
      while (!done.load()) {
        IncidentQuery q;
        q.limit = 20;
        std::size_t n = store->count_incidents(q);
        auto page = store->list_incidents(q);
        // Counts only grow, and a page never holds a half-written incident.
        if (n < last || page.size() > 20) reader_failures++;
        for (const auto& i : page)
          if (i.evidence.size() != 1) reader_failures++;
        last = n;
        reads++;
      }
    });
  }
  for (int k = 0; k < kWrites; ++k) {
    store->put_incident(make_incident("inc-" + std::to_string(k), 1, k, "orders"));
    store->put_anomaly(make_anomaly("an-" + std::to_string(k), k, "orders", 0.9));
  }
  // Let the readers overlap the last writes landing, then stop them.
  EXPECT_EQ(store->count_incidents({}), static_cast<std::size_t>(kWrites));
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(reader_failures.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(store->count_incidents({}), static_cast<std::size_t>(kWrites));
  EXPECT_EQ(store->count_anomalies({}), static_cast<std::size_t>(kWrites));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreBehaviour, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace selfheal
