// The Grafana provisioning of deploy/grafana, tested without Grafana (which cannot run here):
// the dashboards are valid Grafana JSON whose panels point at the provisioned datasources, the
// dashboards the issue asks for are there, and every metric their PromQL (and the Prometheus
// rules of deploy/prometheus) names exists in a live /metrics scrape of `selfheal all` that ran
// the demo scenario. The SQL queries run against a real Postgres in dashboards_sql_test.cpp.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <regex>

#include "app/app.hpp"
#include "core/http_server.hpp"
#include "grafana_queries.hpp"
#include "observability_support.hpp"
#include "runtime/executor.hpp"

namespace selfheal {
namespace {

using namespace testing;

// ------------------------------------------------------------------- the helpers themselves

TEST(PromqlMetricNames, NamesMetricsNotLabelsFunctionsOrKeywords) {
  using S = std::set<std::string>;
  EXPECT_EQ(promql_metric_names("up"), S{"up"});
  EXPECT_EQ(promql_metric_names(R"q(sum by (service, le) (rate(selfheal_processing_seconds_bucket{service=~"a|b", le!="+Inf"}[5m])))q"),
            S{"selfheal_processing_seconds_bucket"});
  EXPECT_EQ(promql_metric_names("histogram_quantile(0.95, sum without (pod) (rate(x_bucket[1m:10s] offset 5m)))"), S{"x_bucket"});
  EXPECT_EQ(promql_metric_names("a / on (service) group_left (type, kind) b > bool 0.5 and c unless d or e"),
            (S{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(promql_metric_names(R"q(label_replace(m1, "dst", "$1", "src", "(.*)") + ignoring(x) m2 @ 1609746000)q"), (S{"m1", "m2"}));
  EXPECT_EQ(promql_metric_names(R"q(clamp_min(sum(rate(a_total[10m])), 1e-9) > Inf or nan)q"), S{"a_total"});
  EXPECT_EQ(promql_metric_names(R"q(count(selfheal_x{label="sum(y)"}) # a comment naming z)q"), S{"selfheal_x"});
  EXPECT_EQ(promql_metric_names("sum(job:requests:rate5m) by (job)"), S{"job:requests:rate5m"});
  EXPECT_THROW(promql_metric_names(R"q(x{a="b})q"), std::invalid_argument);
  EXPECT_THROW(promql_metric_names("rate(x[5m)"), std::invalid_argument);
}

TEST(GrafanaSubstitution, VariablesAreFormattedPerDatasourceAndUnknownOnesRefused) {
  const std::map<std::string, std::vector<std::string>> one = {{"service", {"orders"}}};
  const std::map<std::string, std::vector<std::string>> two = {{"service", {"orders", "o'k"}}};
  EXPECT_EQ(substitute_grafana_variables(R"q(x{service=~"$service"}[$__rate_interval])q", one, false), R"q(x{service=~"orders"}[1m])q");
  EXPECT_EQ(substitute_grafana_variables(R"q(x{service=~"${service}"})q", two, false), R"q(x{service=~"(orders|o'k)"})q");
  EXPECT_EQ(substitute_grafana_variables("service IN ($service)", two, true), "service IN ('orders','o''k')");
  EXPECT_EQ(substitute_grafana_variables("service ~ '^${service:regex}$'", two, true), "service ~ '^(orders|o'k)$'");
  EXPECT_EQ(substitute_grafana_variables("[[service]]", one, false), "orders");
  EXPECT_THROW(substitute_grafana_variables("x{pod=\"$pod\"}", one, false), std::invalid_argument);
}

TEST(GrafanaSubstitution, SqlMacrosExpandLikeGrafanas) {
  const GrafanaTimeRange range{"2026-01-05T00:00:00Z", "2026-01-05T02:00:00Z", 1767571200, 1767578400};
  EXPECT_EQ(expand_grafana_sql_macros("WHERE $__timeFilter(opened_at) AND x", range),
            "WHERE opened_at BETWEEN '2026-01-05T00:00:00Z' AND '2026-01-05T02:00:00Z' AND x");
  EXPECT_EQ(expand_grafana_sql_macros("SELECT $__timeGroupAlias(opened_at, '5m'), n", range),
            "SELECT floor(extract(epoch from opened_at)/300)*300 AS \"time\", n");
  EXPECT_EQ(expand_grafana_sql_macros("$__timeFrom() $__timeTo() $__unixEpochFilter(ts)", range),
            "'2026-01-05T00:00:00Z' '2026-01-05T02:00:00Z' ts >= 1767571200 AND ts <= 1767578400");
  EXPECT_EQ(expand_grafana_sql_macros("$__timeGroup(coalesce(a, b), 1h)", range), "floor(extract(epoch from coalesce(a, b))/3600)*3600");
  EXPECT_EQ(expand_grafana_sql_macros("LIMIT $__interval_ms", range), "LIMIT $__interval_ms");  // a variable, not a macro
  EXPECT_THROW(expand_grafana_sql_macros("$__nope(x)", range), std::invalid_argument);
  EXPECT_THROW(expand_grafana_sql_macros("$__timeFilter()", range), std::invalid_argument);
}

// ------------------------------------------------------------------------- the provisioning

struct ProvisionedDatasource {
  std::string type;
  std::string name;
};

std::map<std::string, ProvisionedDatasource> provisioned_datasources() {
  std::map<std::string, ProvisionedDatasource> out;
  const fs::path dir = kGrafanaDir / "provisioning" / "datasources";
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".yaml" && e.path().extension() != ".yml") continue;
    YAML::Node root = YAML::LoadFile(e.path().string());
    for (const auto& ds : root["datasources"])
      out[ds["uid"].as<std::string>()] = {ds["type"].as<std::string>(), ds["name"].as<std::string>()};
  }
  return out;
}

TEST(GrafanaProvisioning, DatasourcesTakeTheirAddressesAndSecretsFromTheEnvironment) {
  const auto sources = provisioned_datasources();
  ASSERT_EQ(sources.count("selfheal-prometheus"), 1u) << "no datasource with uid selfheal-prometheus";
  ASSERT_EQ(sources.count("selfheal-postgres"), 1u) << "no datasource with uid selfheal-postgres";
  EXPECT_EQ(sources.at("selfheal-prometheus").type, "prometheus");
  EXPECT_EQ(sources.at("selfheal-postgres").type, "grafana-postgresql-datasource");

  YAML::Node root = YAML::LoadFile((kGrafanaDir / "provisioning/datasources/selfheal.yaml").string());
  EXPECT_EQ(root["apiVersion"].as<int>(), 1);
  const std::regex env_only(R"(^\$\{[A-Z_][A-Z0-9_]*\}$)");
  for (const auto& ds : root["datasources"]) {
    const std::string uid = ds["uid"].as<std::string>();
    EXPECT_TRUE(std::regex_match(ds["url"].as<std::string>(), env_only)) << uid << ": url must come from the environment";
    if (uid == "selfheal-postgres") {
      EXPECT_TRUE(std::regex_match(ds["user"].as<std::string>(), env_only)) << "postgres user";
      EXPECT_TRUE(std::regex_match(ds["jsonData"]["database"].as<std::string>(), env_only)) << "postgres database";
      EXPECT_TRUE(std::regex_match(ds["secureJsonData"]["password"].as<std::string>(), env_only))
          << "the password must come from the environment, never from the file";
    }
  }

  YAML::Node providers = YAML::LoadFile((kGrafanaDir / "provisioning/dashboards/selfheal.yaml").string());
  ASSERT_TRUE(providers["providers"].IsSequence());
  ASSERT_GE(providers["providers"].size(), 1u);
  EXPECT_EQ(providers["providers"][0]["type"].as<std::string>(), "file");
  EXPECT_FALSE(providers["providers"][0]["options"]["path"].as<std::string>().empty());
}

// Every datasource reference anywhere in a dashboard (panels, targets, variables, annotations).
void collect_datasource_refs(const Json& j, const std::string& where, std::vector<std::pair<std::string, Json>>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "datasource" && it.value().is_object()) out.emplace_back(where, it.value());
      collect_datasource_refs(it.value(), where + "/" + it.key(), out);
    }
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) collect_datasource_refs(j[i], where + "/" + std::to_string(i), out);
  }
}

TEST(GrafanaDashboards, AreValidGrafanaJsonPointingAtTheProvisionedDatasources) {
  const auto sources = provisioned_datasources();
  const auto dashboards = load_dashboards();
  ASSERT_GE(dashboards.size(), 4u) << "expected the dashboards in " << (kGrafanaDir / "dashboards");
  std::set<std::string> uids;
  const std::regex uid_shape("^[a-zA-Z0-9_-]{1,40}$");
  for (const auto& d : dashboards) {
    SCOPED_TRACE(d.path.string());
    ASSERT_FALSE(d.json.is_discarded()) << "not JSON";
    ASSERT_TRUE(d.json.is_object());
    ASSERT_TRUE(d.json.contains("uid") && d.json["uid"].is_string());
    const std::string uid = d.json["uid"];
    EXPECT_TRUE(std::regex_match(uid, uid_shape)) << "Grafana uids are at most 40 of [a-zA-Z0-9_-]: " << uid;
    EXPECT_TRUE(uids.insert(uid).second) << "uid used twice: " << uid;
    EXPECT_TRUE(d.json.contains("title") && d.json["title"].is_string() && !d.json["title"].get<std::string>().empty());
    ASSERT_TRUE(d.json.contains("schemaVersion") && d.json["schemaVersion"].is_number_integer());
    EXPECT_GE(d.json["schemaVersion"].get<int>(), 36) << "datasource references by uid need schemaVersion 36+";
    EXPECT_FALSE(d.json.contains("id") && !d.json["id"].is_null()) << "a provisioned dashboard must not carry a database id";
    ASSERT_TRUE(d.json.contains("panels") && d.json["panels"].is_array() && !d.json["panels"].empty());

    std::set<int> panel_ids;
    for (const Json* p : all_panels(d.json)) {
      const std::string title = p->value("title", "?");
      ASSERT_TRUE(p->contains("id") && (*p)["id"].is_number_integer()) << title;
      EXPECT_TRUE(panel_ids.insert((*p)["id"].get<int>()).second) << "panel id used twice: " << title;
      ASSERT_TRUE(p->contains("type") && (*p)["type"].is_string()) << title;
      ASSERT_TRUE(p->contains("gridPos")) << title;
      const Json& g = (*p)["gridPos"];
      for (const char* k : {"h", "w", "x", "y"}) ASSERT_TRUE(g.contains(k) && g[k].is_number_integer()) << title << " gridPos." << k;
      EXPECT_GE(g["x"].get<int>(), 0);
      EXPECT_GT(g["w"].get<int>(), 0);
      EXPECT_LE(g["x"].get<int>() + g["w"].get<int>(), 24) << title << " is wider than the 24-column grid";
      if ((*p)["type"] == "row") continue;
      ASSERT_TRUE(p->contains("targets") && (*p)["targets"].is_array() && !(*p)["targets"].empty()) << title << " has no query";
      std::set<std::string> ref_ids;
      for (const auto& t : (*p)["targets"]) {
        ASSERT_TRUE(t.contains("refId")) << title;
        EXPECT_TRUE(ref_ids.insert(t["refId"].get<std::string>()).second) << title << ": refId used twice";
        EXPECT_TRUE(t.contains("expr") || t.contains("rawSql")) << title << ": a target with neither expr nor rawSql";
      }
    }

    std::vector<std::pair<std::string, Json>> refs;
    collect_datasource_refs(d.json, "", refs);
    EXPECT_FALSE(refs.empty());
    for (const auto& [where, ref] : refs) {
      const std::string ds_uid = datasource_uid(ref);
      const std::string type = ref.value("type", "");
      if (type == "grafana" || type == "dashboard") continue;  // Grafana's built-in annotation source
      ASSERT_EQ(sources.count(ds_uid), 1u) << where << ": datasource uid '" << ds_uid << "' is not provisioned";
      EXPECT_EQ(type, sources.at(ds_uid).type) << where << ": the reference's type differs from the datasource's";
    }

    // Every query's kind matches its datasource, and every variable it uses is defined here.
    std::map<std::string, std::vector<std::string>> defined;
    if (d.json.contains("templating"))
      for (const auto& v : d.json["templating"]["list"]) defined[v["name"].get<std::string>()] = {"sample"};
    for (const auto& q : dashboard_queries(d)) {
      EXPECT_EQ(q.sql, q.datasource_uid == "selfheal-postgres") << q.where << ": SQL must go to Postgres, PromQL to Prometheus";
      EXPECT_NO_THROW(substitute_grafana_variables(q.sql ? expand_grafana_sql_macros(q.text, {"a", "b", 0, 1}) : q.text, defined, q.sql))
          << q.where;
    }
  }
}

// What the issue asks the dashboards to show, each from the source it names.
TEST(GrafanaDashboards, TheRequiredDashboardsShowWhatTheIssueAsksFor) {
  std::map<std::string, Dashboard> by_uid;
  for (auto& d : load_dashboards())
    if (d.json.is_object() && d.json.contains("uid")) by_uid[d.json["uid"]] = d;
  auto queries = [&](const std::string& uid) {
    EXPECT_EQ(by_uid.count(uid), 1u) << "missing dashboard " << uid;
    return by_uid.count(uid) ? dashboard_queries(by_uid[uid]) : std::vector<DashboardQuery>{};
  };
  auto any = [](const std::vector<DashboardQuery>& qs, bool sql, const std::string& needle) {
    for (const auto& q : qs)
      if (q.sql == sql && q.text.find(needle) != std::string::npos) return true;
    return false;
  };
  auto panel_types = [&](const std::string& uid) {
    std::set<std::string> types;
    if (by_uid.count(uid))
      for (const Json* p : all_panels(by_uid[uid].json)) types.insert((*p)["type"].get<std::string>());
    return types;
  };

  const auto timeline = queries("selfheal-incidents");
  EXPECT_TRUE(any(timeline, true, "FROM incidents")) << "incident timeline: incidents over time from Postgres";
  EXPECT_TRUE(any(timeline, true, "type AS metric")) << "incident timeline: by type";
  EXPECT_TRUE(any(timeline, true, "service AS metric")) << "incident timeline: by service";
  EXPECT_TRUE(panel_types("selfheal-incidents").count("table")) << "incident timeline: a table of recent incidents";

  const auto anomalies = queries("selfheal-anomalies");
  EXPECT_TRUE(any(anomalies, false, "selfheal_anomaly_score")) << "anomaly scores from Prometheus";

  const auto resources = queries("selfheal-services");
  EXPECT_TRUE(any(resources, false, "selfheal_service_cpu_usage_cores{service=~\"$service\"}"));
  EXPECT_TRUE(any(resources, false, "selfheal_service_memory_working_set_bytes{service=~\"$service\"}"));
  bool has_service_variable = false;
  for (const auto& v : by_uid["selfheal-services"].json["templating"]["list"]) has_service_variable |= v["name"] == "service";
  EXPECT_TRUE(has_service_variable) << "CPU/memory per service needs a $service variable";

  const auto remediation = queries("selfheal-remediation");
  EXPECT_TRUE(any(remediation, true, "FROM actions")) << "remediation history from Postgres";
  for (const char* column : {"status", "kind", "target", "reason"})
    EXPECT_TRUE(any(remediation, true, column)) << "remediation history shows " << column;
  EXPECT_TRUE(any(remediation, false, "selfheal_remediation_actions_total")) << "remediation counters from Prometheus";
}

// --------------------------------------------------------------------- names in a live scrape

// PromQL of the dashboards (variables substituted) and of the Prometheus rules, with where it is.
std::vector<std::pair<std::string, std::string>> all_promql() {
  std::vector<std::pair<std::string, std::string>> out;
  const std::map<std::string, std::vector<std::string>> sample = {{"service", {"orders"}}};
  for (const auto& d : load_dashboards())
    for (const auto& q : dashboard_queries(d))
      if (!q.sql) out.emplace_back(q.where, substitute_grafana_variables(promql_of_variable_query(q.text), sample, false));
  YAML::Node rules = YAML::LoadFile("deploy/prometheus/selfheal-rules.yml");
  for (const auto& group : rules["groups"])
    for (const auto& rule : group["rules"])
      out.emplace_back("selfheal-rules.yml: " + rule[rule["alert"] ? "alert" : "record"].as<std::string>(),
                       rule["expr"].as<std::string>());
  return out;
}

// Series Prometheus makes itself for every target; they are in no exposition.
const std::set<std::string> kPrometheusMadeSeries = {"up", "scrape_duration_seconds", "scrape_samples_scraped"};

TEST(GrafanaDashboards, EveryMetricTheirPromqlNamesExistsInALiveScrapeOfSelfhealAll) {
  TempDir dir("obs-scrape");
  std::vector<std::string> overrides = isolated_selfheal_overrides(dir);
  overrides.push_back("store.backend=none");
  App app(Config::load(config_schema(), "", overrides, /*use_environment=*/false), {});
  app.start();
  const TimeMs end = app.end_of_run();
  ASSERT_NE(end, Service::kNoEnd) << "the demo scenario must end";
  app.executor().run_until(end);  // the whole demo: incidents opened and resolved, actions taken
  app.executor().drain();
  const HttpReply scrape = http_get(app.admin()->url(), "/metrics");
  app.stop();
  ASSERT_EQ(scrape.status, 200);
  const std::set<std::string> live = exposition_metric_names(scrape.body);

  const auto expressions = all_promql();
  ASSERT_GT(expressions.size(), 20u);
  std::size_t names_checked = 0;
  for (const auto& [where, expr] : expressions) {
    std::set<std::string> names;
    ASSERT_NO_THROW(names = promql_metric_names(expr)) << where << ": " << expr;
    EXPECT_FALSE(names.empty()) << where << " names no metric: " << expr;
    for (const auto& name : names) {
      ++names_checked;
      if (kPrometheusMadeSeries.count(name)) continue;
      EXPECT_TRUE(live.count(name)) << where << " uses " << name << ", which a live scrape of selfheal all does not have";
    }
  }
  EXPECT_GT(names_checked, 20u);

  // docs/metrics.md describes every metric the scrape has.
  const std::string docs = read_file("docs/metrics.md");
  ASSERT_FALSE(docs.empty()) << "docs/metrics.md is missing";
  std::istringstream in(scrape.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    const std::string family = line.substr(7, line.find(' ', 7) - 7);
    EXPECT_NE(docs.find("`" + family + "`"), std::string::npos) << family << " is not described in docs/metrics.md";
  }
}

}  // namespace
}  // namespace selfheal
