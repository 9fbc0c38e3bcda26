#include <gtest/gtest.h>

#include "sim/chaos.hpp"
#include "sim/scenario.hpp"

namespace selfheal::sim {
namespace {

std::string error_of(const std::string& yaml) {
  try {
    parse_scenario(yaml, "t.yaml");
  } catch (const ScenarioError& e) {
    return e.what();
  }
  return "";
}

const char* kTwoServices = R"(
name: t
duration: 5m
services:
  - {name: web, entry_rps: 10, calls: [api]}
  - {name: api}
)";

TEST(Scenario, DemoHasTheSevenServicesAndTwoFaults) {
  Scenario s = demo_scenario();
  EXPECT_EQ(s.namespace_name, "shop");
  ASSERT_EQ(s.services.size(), 7u);
  for (const char* n : {"frontend", "orders", "payments", "search", "inventory", "cache", "postgres"})
    EXPECT_NE(s.service(n), nullptr) << n;
  ASSERT_GE(s.faults.size(), 2u);
  EXPECT_EQ(s.faults[0].type, "memory_leak");
  EXPECT_EQ(s.faults[1].type, "cpu_spike");
  EXPECT_EQ(s.duration_ms, 40 * 60 * 1000);
}

TEST(Scenario, ParsesUnitsAndDefaults) {
  Scenario s = parse_scenario(kTwoServices, "t.yaml");
  EXPECT_EQ(s.services[0].calls.at(0).service, "api");
  EXPECT_DOUBLE_EQ(s.services[0].calls.at(0).calls_per_request, 1.0);
  double v = 0;
  ASSERT_TRUE(parse_cpu_millicores("250m", v));
  EXPECT_DOUBLE_EQ(v, 250);
  ASSERT_TRUE(parse_cpu_millicores("1.5", v));
  EXPECT_DOUBLE_EQ(v, 1500);
  ASSERT_TRUE(parse_memory_bytes("256Mi", v));
  EXPECT_DOUBLE_EQ(v, 256.0 * 1024 * 1024);
  EXPECT_FALSE(parse_memory_bytes("lots", v));
}

TEST(Scenario, ErrorsNameTheFieldAndTheProblem) {
  auto with = [](const std::string& extra) { return std::string(kTwoServices) + extra; };
  EXPECT_NE(error_of("services: [{name: a, replicas: -1}]").find("services[0].replicas: must be between"), std::string::npos)
      << error_of("services: [{name: a, replicas: -1}]");
  EXPECT_NE(error_of("services: [{name: a, memory: {limit: lots}}]").find("services[0].memory.limit: expected memory"), std::string::npos);
  EXPECT_NE(error_of("services: [{name: a, colour: red}]").find("services[0].colour: unknown key"), std::string::npos);
  EXPECT_NE(error_of("services: [{name: a, calls: [b]}]").find("services[0].calls[0]: no service named \"b\""), std::string::npos);
  EXPECT_NE(error_of("services: [{name: a, calls: [b]}, {name: b, calls: [a]}]").find("cycle"), std::string::npos);
  EXPECT_NE(error_of(with("faults: [{type: memory_leak, target: nope, start: 1m}]")).find("faults[0].target: no service named \"nope\""),
            std::string::npos);
  EXPECT_NE(error_of(with("faults: [{type: meltdown, target: api, start: 1m}]")).find("faults[0].type: unknown fault \"meltdown\""),
            std::string::npos);
  EXPECT_NE(error_of(with("faults: [{type: cpu_spike, target: api, start: soon}]")).find("faults[0].start: expected a duration"),
            std::string::npos);
  EXPECT_NE(error_of(with("faults: [{type: db_latency, target: api, start: 1m}]")).find("needs a service of kind database"),
            std::string::npos);
  EXPECT_NE(error_of(with("faults: [{type: dependency_outage, target: api, start: 1m}]")).find("no external dependency"),
            std::string::npos);
  EXPECT_NE(error_of("services: [").find("t.yaml: not valid YAML"), std::string::npos);
  EXPECT_NE(error_of("name: x").find("services: required"), std::string::npos);
}

TEST(Chaos, RequestParsingNamesTheField) {
  FaultSpec f;
  EXPECT_EQ(parse_chaos_request(R"({"type":"cpu_spike","service":"search","duration":"90s","strength":2})", f), "");
  EXPECT_EQ(f.type, "cpu_spike");
  EXPECT_EQ(f.target, "search");
  EXPECT_EQ(f.duration_ms, 90000);
  EXPECT_DOUBLE_EQ(f.strength, 2);
  EXPECT_EQ(f.start_ms, -1);
  EXPECT_EQ(parse_chaos_request(R"({"type":"cpu_spike","service":"search","duration":30})", f), "");
  EXPECT_EQ(f.duration_ms, 30000);
  EXPECT_EQ(parse_chaos_request("{", f), "body: not valid JSON");
  EXPECT_EQ(parse_chaos_request(R"({"service":"x"})", f).rfind("type: required", 0), 0u);
  EXPECT_EQ(parse_chaos_request(R"({"type":"boom","service":"x"})", f).rfind("type: unknown fault", 0), 0u);
  EXPECT_EQ(parse_chaos_request(R"({"type":"cpu_spike"})", f).rfind("service: required", 0), 0u);
  EXPECT_EQ(parse_chaos_request(R"({"type":"cpu_spike","service":"x","duration":"later"})", f).rfind("duration:", 0), 0u);
  EXPECT_EQ(parse_chaos_request(R"({"type":"cpu_spike","service":"x","strength":0})", f).rfind("strength:", 0), 0u);
  EXPECT_EQ(parse_chaos_request(R"({"type":"cpu_spike","service":"x","when":1})", f).rfind("when: unknown field", 0), 0u);
  // The CLI's body round-trips through the parser.
  FaultSpec g;
  g.type = "traffic_surge";
  g.target = "frontend";
  g.duration_ms = 120000;
  g.strength = 1.5;
  ASSERT_EQ(parse_chaos_request(chaos_request_json(g), f), "");
  EXPECT_EQ(f.type, g.type);
  EXPECT_EQ(f.duration_ms, g.duration_ms);
  EXPECT_DOUBLE_EQ(f.strength, g.strength);
}

}  // namespace
}  // namespace selfheal::sim
