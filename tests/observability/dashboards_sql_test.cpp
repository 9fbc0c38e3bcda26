// Every SQL query of the Grafana dashboards (panels, variables, annotations) runs against the real
// Postgres schema, with Grafana's macros and variables substituted: a throwaway PostgreSQL 15
// (tests/support/postgres_server.hpp) receives the demo scenario from `selfheal all --once` with
// store.backend=postgres, so the schema is the one the store's migrations make and the data is
// real; the incident timeline and remediation history queries must return rows.
#include <gtest/gtest.h>

#include "../support/postgres_server.hpp"
#include "grafana_queries.hpp"
#include "observability_support.hpp"

namespace selfheal {
namespace {

using namespace testing;

// The demo starts at clock.start (default 2026-01-05T00:00:00Z) and lasts 40 simulated minutes;
// the dashboards would be looked at over this range.
const GrafanaTimeRange kDemoRange{"2026-01-04T23:00:00Z", "2026-01-05T02:00:00Z", 1767567600, 1767578400};

TEST(GrafanaDashboardsSql, EveryQueryRunsOnTheRealSchemaAndTheHistoryQueriesFindTheDemo) {
  PostgresServer pg;
  SELFHEAL_REQUIRE_POSTGRES(pg);
  ASSERT_TRUE(pg.create_database("selfheal"));

  TempDir dir("obs-sql");
  SelfhealProcess selfheal(dir, {"--once"}, {"store.backend=postgres", "store.postgres_url=" + pg.url("selfheal")});
  ASSERT_TRUE(selfheal.error().empty()) << selfheal.error();
  ASSERT_TRUE(poll_until(std::chrono::seconds(50), [&] { return !selfheal.running(); }))
      << "selfheal all --once did not finish in 50 s:\n" << selfheal.output().substr(0, 4000);
  ASSERT_EQ(selfheal.stop(), 0) << "selfheal all --once failed:\n" << selfheal.output().substr(0, 4000);
  ASSERT_EQ(pg.query_value("SELECT count(*) > 0 FROM incidents", "selfheal"), "t") << "the demo left no incident in Postgres";

  // A variable's sample values: what a user picks, one value and several.
  const std::map<std::string, std::vector<std::string>> one_service = {{"service", {"orders"}}};
  const std::map<std::string, std::vector<std::string>> services = {{"service", {"orders", "search", "payments"}}};

  std::size_t ran = 0;
  for (const auto& d : load_dashboards()) {
    const std::string uid = d.json.value("uid", "");
    for (const auto& q : dashboard_queries(d)) {
      if (!q.sql) continue;
      for (const auto* values : {&one_service, &services}) {
        std::string sql;
        ASSERT_NO_THROW(sql = substitute_grafana_variables(expand_grafana_sql_macros(q.text, kDemoRange), *values, true)) << q.where;
        const auto [rc, out] = pg.psql(sql, "selfheal");
        EXPECT_EQ(rc, 0) << q.where << " failed on the real schema:\n" << sql << "\n" << out;
        ++ran;
        // The timeline and history must show the demo's incidents and actions: the memory leak on
        // orders and the CPU saturation on search were both opened and acted on.
        const bool must_have_rows = (uid == "selfheal-incidents" || uid == "selfheal-remediation") && values == &services;
        if (rc == 0 && must_have_rows) {
          const std::string rows = pg.query_value("SELECT count(*) FROM (" + sql + ") AS q", "selfheal");
          EXPECT_NE(rows, "0") << q.where << " returned no row on the demo data:\n" << sql;
          EXPECT_EQ(rows.find("ERROR"), std::string::npos) << rows;
        }
      }
    }
  }
  EXPECT_GE(ran, 2u * 8);
}

}  // namespace
}  // namespace selfheal
