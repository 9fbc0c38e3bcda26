#include <gtest/gtest.h>

#include "rules/rule_engine.hpp"

namespace selfheal::rules {
namespace {

RuleSet rules_for(const std::string& body) {
  return parse_rule_set("version: t1\nrules:\n" + body, "test.yaml");
}

FeatureWindow cpu_window(TimeMs end, double util, std::string pod = "") {
  FeatureWindow w;
  w.id = "w" + std::to_string(end);
  w.service = "search";
  w.pod = std::move(pod);
  w.start = end - 10000;
  w.end = end;
  w.features = {{"cpu_utilization_mean", util}};
  return w;
}

TEST(RuleEngine, ForDurationHoldsInEventTime) {
  RuleEngine e(rules_for("  - name: Cpu\n    expr: cpu_utilization_mean > 0.85\n    for: 30s\n"
                         "    labels: {incident_type: cpu_saturation}\n"
                         "    annotations: {summary: '{{service}} at {{value}}'}\n"));
  EXPECT_TRUE(e.evaluate(cpu_window(100000, 0.9)).empty());  // pending since 100 s
  EXPECT_TRUE(e.evaluate(cpu_window(110000, 0.9)).empty());
  EXPECT_TRUE(e.evaluate(cpu_window(120000, 0.9)).empty());
  auto hits = e.evaluate(cpu_window(130000, 0.95));          // held 30 s
  ASSERT_EQ(hits.size(), 1u);
  const Anomaly& a = hits[0];
  EXPECT_EQ(a.source, AnomalySource::Rule);
  EXPECT_EQ(a.model, "Cpu");
  EXPECT_EQ(a.model_version, "t1");
  EXPECT_EQ(a.service, "search");
  EXPECT_EQ(a.ts, 130000);
  EXPECT_DOUBLE_EQ(a.value, 0.95);
  EXPECT_DOUBLE_EQ(a.score, 1.0);
  EXPECT_EQ(a.signal, "cpu_utilization_mean");
  bool type = false, sev = false, summary = false;
  for (const auto& [k, v] : a.labels) {
    if (k == "incident_type" && v == "cpu_saturation") type = true;
    if (k == "severity" && v == "warning") sev = true;
    if (k == "summary" && v == "search at 0.95") summary = true;
  }
  EXPECT_TRUE(type && sev && summary);
  EXPECT_EQ(e.evaluate(cpu_window(140000, 0.95)).size(), 1u);  // keeps firing while it holds
  // One window below the threshold resets the clock.
  EXPECT_TRUE(e.evaluate(cpu_window(150000, 0.5)).empty());
  EXPECT_TRUE(e.evaluate(cpu_window(160000, 0.95)).empty());
  EXPECT_TRUE(e.evaluate(cpu_window(180000, 0.95)).empty());
  EXPECT_EQ(e.evaluate(cpu_window(190000, 0.95)).size(), 1u);
}

TEST(RuleEngine, ForZeroFiresOnFirstWindowAndSeriesAreIndependent) {
  RuleEngine e(rules_for("  - name: Mem\n    scope: pod\n    expr: cpu_utilization_mean > 0.85\n"));
  EXPECT_TRUE(e.evaluate(cpu_window(100000, 0.99)).empty());  // service window: the rule is per pod
  EXPECT_EQ(e.evaluate(cpu_window(100000, 0.99, "search-a")).size(), 1u);
  EXPECT_TRUE(e.evaluate(cpu_window(100000, 0.10, "search-b")).empty());
  EXPECT_EQ(e.tracked_series(), 2u);
  e.expire(100001);
  EXPECT_EQ(e.tracked_series(), 0u);
}

TEST(RuleEngine, ReloadKeepsPendingStateOfUnchangedRulesOnly) {
  const std::string a = "  - name: A\n    expr: cpu_utilization_mean > 0.85\n    for: 20s\n";
  RuleEngine e(rules_for(a + "  - name: B\n    expr: cpu_utilization_mean > 0.80\n    for: 20s\n"));
  e.evaluate(cpu_window(100000, 0.9));
  e.replace(rules_for(a + "  - name: B\n    expr: cpu_utilization_mean > 0.70\n    for: 20s\n"));
  auto hits = e.evaluate(cpu_window(120000, 0.9));
  ASSERT_EQ(hits.size(), 1u);  // A kept its clock; B's expression changed so it starts over
  EXPECT_EQ(hits[0].model, "A");
}

TEST(RuleEngine, SourceSelectsWindows) {
  RuleEngine e(rules_for("  - name: Logs\n    source: logs\n    expr: log_error_ratio > 0.1\n"));
  FeatureWindow w;
  w.id = "l1";
  w.service = "payments";
  w.start = 0;
  w.end = 10000;
  w.features = {{"log_error_ratio", 0.5}};
  EXPECT_TRUE(e.evaluate(w).empty());  // a metrics window
  w.source = FeatureSource::Logs;
  EXPECT_EQ(e.evaluate(w).size(), 1u);
}

}  // namespace
}  // namespace selfheal::rules
