// A real Prometheus (the Debian package) scrapes a paced `selfheal all` running the demo scenario:
// its HTTP API returns the per-service CPU, memory, p95 latency and error ratio, the anomaly scores
// and the incident and action counters with the simulated services as labels; `promtool check
// metrics` finds nothing wrong in a live /metrics; the alerting rules of deploy/prometheus load and
// evaluate; and every PromQL expression of the Grafana dashboards runs and returns data.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cmath>

#include "grafana_queries.hpp"
#include "observability_support.hpp"

namespace selfheal {
namespace {

using namespace testing;

// The demo scenario's services (scenarios/demo.yaml, embedded defaults).
const std::set<std::string> kSimServices = {"frontend", "orders", "payments", "search", "inventory", "cache", "postgres"};

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += (out.empty() ? "" : ", ") + x;
  return out;
}

// A series requirement: the query must return series whose `label` values include all of `must`
// (with `must` empty: at least one value).
struct Expectation {
  Expectation(std::string q, std::string l, std::set<std::string> m) : promql(std::move(q)), label(std::move(l)), must(std::move(m)) {}
  std::string promql;
  std::string label;
  std::set<std::string> must;
  std::string last_seen;  // label values of the latest answer, for the failure message
  bool met = false;
};

std::size_t finite_values(const Json& result) {
  std::size_t n = 0;
  for (const auto& s : result) {
    const std::string v = s["value"][1].get<std::string>();
    if (v != "NaN" && v != "+Inf" && v != "-Inf") ++n;
  }
  return n;
}

TEST(Prometheus, ScrapesEveryAgreedSeriesOfALiveSelfhealAllAndPromtoolFindsNoProblem) {
  TempDir dir("obs-prometheus");
  // 60 simulated seconds per second: the memory leak is detected, repaired and resolved ~11 s in.
  SelfhealProcess selfheal(dir, {"--speed", "60"}, {"store.backend=none"});
  ASSERT_TRUE(selfheal.error().empty()) << selfheal.error();
  const std::string admin = selfheal.wait_for_admin_url(std::chrono::seconds(30));
  ASSERT_FALSE(admin.empty()) << selfheal.error();

  PrometheusServer prometheus(dir, {host_port(admin)}, {"deploy/prometheus/selfheal-rules.yml"});
  ASSERT_TRUE(prometheus.error().empty()) << prometheus.error();

  std::vector<Expectation> expectations = {
      {"selfheal_service_cpu_usage_cores", "service", kSimServices},
      {"selfheal_service_memory_working_set_bytes", "service", kSimServices},
      {"selfheal_service_request_duration_p95_seconds", "service", kSimServices},
      {"selfheal_service_error_ratio", "service", kSimServices},
      {"selfheal_service_requests_per_second", "service", kSimServices},
      {"selfheal_anomaly_score", "service", {"orders", "search", "frontend"}},
      {"selfheal_anomaly_score", "signal", {}},
      {"selfheal_detector_anomalies_total", "__name__", {"selfheal_detector_anomalies_total"}},
      // Which incidents and actions a paced run produces can vary with the machine's load (the
      // clock is real time): the demo's faults are on orders and search, whatever their type.
      {"selfheal_incidents_opened_total{service=~\"orders|search\"}", "type", {}},
      {"selfheal_incidents_resolved_total", "type", {}},
      {"selfheal_incidents_active", "__name__", {"selfheal_incidents_active"}},
      {"selfheal_remediation_actions_total", "kind", {}},
      {"selfheal_remediation_actions_total", "outcome", {}},
  };
  const bool all_met = poll_until(std::chrono::seconds(50), [&] {
    bool all = true;
    for (auto& e : expectations) {
      if (e.met) continue;
      const Json result = prometheus.query(e.promql);
      const std::set<std::string> seen = label_values(result, e.label);
      e.last_seen = join(seen);
      e.met = !result.empty() && std::includes(seen.begin(), seen.end(), e.must.begin(), e.must.end()) &&
              (!e.must.empty() || !seen.empty());
      all = all && e.met;
    }
    return all || !selfheal.running();
  });
  for (const auto& e : expectations)
    EXPECT_TRUE(e.met) << e.promql << ": Prometheus returned " << e.label << " = {" << e.last_seen << "}, expected {"
                       << join(e.must) << "}";
  ASSERT_TRUE(all_met) << "selfheal " << (selfheal.running() ? "is running" : "exited") << "; its output:\n"
                       << selfheal.output().substr(0, 4000);

  // The values are computed, not placeholders: CPU and memory of every service are positive, and
  // most services have a latency (those that serve requests).
  const Json cpu = prometheus.query("selfheal_service_cpu_usage_cores > 0");
  EXPECT_EQ(label_values(cpu, "service"), kSimServices) << cpu.dump();
  const Json memory = prometheus.query("selfheal_service_memory_working_set_bytes > 1e6");
  EXPECT_EQ(label_values(memory, "service"), kSimServices) << memory.dump();
  EXPECT_GE(finite_values(prometheus.query("selfheal_service_request_duration_p95_seconds")), 4u);
  for (const char* promql : {"selfheal_incidents_opened_total", "selfheal_anomaly_score"})
    for (const auto& service : label_values(prometheus.query(promql), "service"))
      EXPECT_TRUE(kSimServices.count(service)) << promql << " has a service that is not simulated: " << service;
  const Json scores = prometheus.query("selfheal_anomaly_score");
  for (const auto& s : scores) {
    const double v = std::stod(s["value"][1].get<std::string>());
    EXPECT_TRUE(v >= 0 && v <= 1) << "anomaly score outside 0..1: " << s.dump();
    EXPECT_TRUE(kSimServices.count(s["metric"].value("service", ""))) << "an anomaly score of no simulated service: " << s.dump();
  }

  // promtool on a live scrape: rc 0 and nothing printed (rc 3 would be lint problems, rc 1 a parse error).
  const HttpReply scrape = http_get(admin, "/metrics");
  ASSERT_EQ(scrape.status, 200);
  std::ofstream(dir.str("scrape.txt")) << scrape.body;
  const CommandResult lint = run_command("promtool check metrics", dir.str("scrape.txt"));
  EXPECT_EQ(lint.status, 0) << lint.output;
  EXPECT_EQ(lint.output, "") << "promtool check metrics found problems in the live /metrics";

  // The alerting rules of deploy/prometheus are loaded and evaluate without error.
  std::string rules_state;
  const bool rules_ok = poll_until(std::chrono::seconds(10), [&] {
    const Json reply = prometheus.api("rules");
    rules_state = reply.dump();
    if (reply.is_null() || reply.value("status", "") != "success") return false;
    std::size_t ok = 0, total = 0;
    for (const auto& g : reply["data"]["groups"])
      for (const auto& r : g["rules"]) {
        ++total;
        ok += r.value("health", "") == "ok";
      }
    return total > 0 && ok == total;
  });
  EXPECT_TRUE(rules_ok) << "rules not all healthy: " << rules_state.substr(0, 3000);

  // Every dashboard expression is valid PromQL for this Prometheus and finds data. A counter born a
  // moment ago has one sample, so rate()/increase() over it need another scrape: poll a little.
  struct Panel {
    std::string where, promql, error;
    bool has_data = false;
  };
  std::vector<Panel> panels;
  const std::map<std::string, std::vector<std::string>> sample = {{"service", {"orders"}}};
  for (const auto& d : load_dashboards())
    for (const auto& q : dashboard_queries(d))
      if (!q.sql) panels.push_back({q.where, substitute_grafana_variables(promql_of_variable_query(q.text), sample, false), "", false});
  EXPECT_GE(panels.size(), 20u);
  poll_until(std::chrono::seconds(15), [&] {
    bool all = true;
    for (auto& p : panels) {
      if (p.has_data) continue;
      p.has_data = !prometheus.query(p.promql, &p.error).empty();
      all = all && p.has_data;
    }
    return all;
  });
  for (const auto& p : panels) {
    EXPECT_TRUE(p.error.empty()) << p.where << ": " << p.promql << "\n" << p.error;
    EXPECT_TRUE(p.has_data) << p.where << " found no data: " << p.promql;
  }

  EXPECT_EQ(selfheal.stop(), 0) << "selfheal all did not stop cleanly on SIGTERM:\n" << selfheal.output().substr(0, 4000);
}

// The files of deploy/prometheus are what promtool accepts (rules and the sample configuration).
TEST(Prometheus, TheShippedConfigurationAndRulesPassPromtool) {
  ASSERT_TRUE(fs::exists("/usr/bin/promtool")) << "promtool is missing: run scripts/bootstrap.sh (Debian package prometheus)";
  const CommandResult rules = run_command("promtool check rules deploy/prometheus/selfheal-rules.yml");
  EXPECT_EQ(rules.status, 0) << rules.output;
  const CommandResult config = run_command("promtool check config deploy/prometheus/prometheus.yml");
  EXPECT_EQ(config.status, 0) << config.output;
  // Every alert says what it means.
  YAML::Node file = YAML::LoadFile("deploy/prometheus/selfheal-rules.yml");
  for (const auto& group : file["groups"])
    for (const auto& rule : group["rules"]) {
      if (!rule["alert"]) continue;
      EXPECT_TRUE(rule["annotations"]["summary"] && rule["annotations"]["description"]) << rule["alert"].as<std::string>();
      EXPECT_TRUE(rule["labels"]["severity"]) << rule["alert"].as<std::string>();
    }
}

}  // namespace
}  // namespace selfheal
