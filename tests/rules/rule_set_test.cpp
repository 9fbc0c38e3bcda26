#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "rules/rule_set.hpp"

namespace selfheal::rules {
namespace {

std::string error_of(const std::string& yaml) {
  try {
    parse_rule_set(yaml, "test.yaml");
  } catch (const RuleFileError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(RuleSet, ParsesAFullRule) {
  auto set = parse_rule_set(R"(version: v7
rules:
  - name: HighCpu
    source: metrics
    scope: pod
    expr: cpu_utilization_mean > 85%
    for: 2m
    severity: critical
    labels: {incident_type: cpu_saturation, team: shop}
    annotations:
      summary: "{{service}} cpu {{value}}"
)", "test.yaml");
  EXPECT_EQ(set.version, "v7");
  ASSERT_EQ(set.rules.size(), 1u);
  const Rule& r = set.rules[0];
  EXPECT_EQ(r.name, "HighCpu");
  EXPECT_EQ(r.scope, RuleScope::Pod);
  EXPECT_EQ(r.for_ms, 120000);
  EXPECT_EQ(r.severity, Severity::Critical);
  EXPECT_EQ(r.label("incident_type"), "cpu_saturation");
  EXPECT_EQ(r.label("severity"), "critical");
  EXPECT_EQ(r.line, 3);
}

TEST(RuleSet, VersionDefaultsToAHashOfTheText) {
  auto a = parse_rule_set("rules:\n  - name: A\n    expr: restarts > 0\n", "a");
  auto b = parse_rule_set("rules:\n  - name: A\n    expr: restarts > 1\n", "b");
  EXPECT_FALSE(a.version.empty());
  EXPECT_NE(a.version, b.version);
}

TEST(RuleSet, ErrorsNameRuleFieldAndLine) {
  EXPECT_EQ(error_of("rules:\n  - name: A\n    expr: restarts > 0\n    for: 2 minutes\n"),
            "test.yaml:4: rule 'A': field 'for': malformed duration '2 minutes' (e.g. 30s, 2m)");
  EXPECT_EQ(error_of("rules:\n  - name: B\n    expr: memory_util > 1\n"),
            "test.yaml:3: rule 'B': field 'expr': unknown feature 'memory_util' at column 1 (see "
            "contracts/feature_names.hpp)");
  EXPECT_EQ(error_of("rules:\n  - name: C\n    expr: restarts > 0\n    severity: loud\n"),
            "test.yaml:4: rule 'C': field 'severity': 'loud' is not one of info, warning, critical");
  EXPECT_EQ(error_of("rules:\n  - expr: restarts > 0\n"), "test.yaml:2: rule '#0': field 'name': missing");
  EXPECT_EQ(error_of("rules:\n  - name: D\n"), "test.yaml:2: rule 'D': field 'expr': missing");
  EXPECT_EQ(error_of("rules:\n  - name: E\n    expr: restarts > 0\n    treshold: 3\n"),
            "test.yaml:4: rule 'E': field 'treshold': unknown field (expected name, source, scope, expr, for, "
            "severity, labels, annotations)");
  EXPECT_NE(error_of("rules:\n  - name: F\n    expr: restarts > 0\n    labels: {incident_type: oom}\n")
                .find("rule 'F': field 'labels.incident_type': 'oom' is not an incident type"),
            std::string::npos);
  EXPECT_EQ(error_of("rules:\n  - name: G\n    expr: restarts > 0\n  - name: G\n    expr: restarts > 1\n"),
            "test.yaml:4: rule 'G': field 'name': duplicate rule name");
  EXPECT_EQ(error_of("rules:\n  - name: H\n    source: logs\n    scope: pod\n    expr: log_error > 1\n"),
            "test.yaml:2: rule 'H': field 'scope': logs windows are per service; use scope: service");
  EXPECT_NE(error_of("rules: [unclosed\n").find("test.yaml:"), std::string::npos);
  EXPECT_NE(error_of("rules: [unclosed\n").find("not valid YAML"), std::string::npos);
  EXPECT_EQ(error_of("rulez: []\n"),
            "test.yaml:1: field 'rulez': unknown top-level field (expected 'version' or 'rules')");
}

TEST(RuleSet, EmbeddedDefaultsMatchTheFileAndParse) {
  std::ifstream in("config/rules/default.yaml");
  ASSERT_TRUE(in) << "run from the repo root";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), embedded_default_rules_yaml());
  auto set = default_rule_set();
  EXPECT_GE(set.rules.size(), 8u);
  bool memory = false, cpu = false;
  for (const auto& r : set.rules) {
    if (r.label("incident_type") == "memory_leak") memory = true;
    if (r.label("incident_type") == "cpu_saturation" && r.for_ms == 120000) cpu = true;
  }
  EXPECT_TRUE(memory);
  EXPECT_TRUE(cpu);
}

TEST(RuleSet, RendersTemplates) {
  EXPECT_EQ(render_template("{{service}}/{{ pod }} at {{value}} by {{rule}} {{other}}", "orders", "orders-1", 0.912345, "R"),
            "orders/orders-1 at 0.9123 by R {{other}}");
  EXPECT_EQ(render_template("{{value}} {{", "s", "", kAbsent, "R"), "n/a {{");
}

}  // namespace
}  // namespace selfheal::rules
