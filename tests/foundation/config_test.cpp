#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "core/clock.hpp"
#include "core/config.hpp"

namespace selfheal {
namespace {

ConfigSchema schema() {
  ConfigSchema s;
  s.add("api.listen", ConfigType::String, "127.0.0.1:8080", "API address");
  s.add("bus.partitions", ConfigType::Int, "4", "partitions");
  s.add("detector.threshold", ConfigType::Double, "0.5", "threshold");
  s.add("remediator.dry_run", ConfigType::Bool, "false", "dry run");
  s.add("remediator.cooldown", ConfigType::Duration, "5m", "cooldown");
  s.add("remediator.namespaces", ConfigType::StringList, "shop", "allowlist");
  return s;
}

std::string error_of(const std::string& yaml) {
  ConfigSchema s = schema();
  try {
    Config::from_yaml_text(s, yaml, "test.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, DefaultsAndTypedGetters) {
  ConfigSchema s = schema();
  Config c(s);
  EXPECT_EQ(c.str("api.listen"), "127.0.0.1:8080");
  EXPECT_EQ(c.integer("bus.partitions"), 4);
  EXPECT_DOUBLE_EQ(c.number("detector.threshold"), 0.5);
  EXPECT_FALSE(c.boolean("remediator.dry_run"));
  EXPECT_EQ(c.duration_ms("remediator.cooldown"), 300000);
  EXPECT_EQ(c.strings("remediator.namespaces"), std::vector<std::string>{"shop"});
}

TEST(Config, YamlValuesOverrideDefaults) {
  ConfigSchema s = schema();
  Config c = Config::from_yaml_text(s, "bus:\n  partitions: 8\nremediator:\n  dry_run: true\n"
                                       "  namespaces: [shop, payments]\n  cooldown: 90s\n", "test.yaml");
  EXPECT_EQ(c.integer("bus.partitions"), 8);
  EXPECT_TRUE(c.boolean("remediator.dry_run"));
  EXPECT_EQ(c.strings("remediator.namespaces"), (std::vector<std::string>{"shop", "payments"}));
  EXPECT_EQ(c.duration_ms("remediator.cooldown"), 90000);
  EXPECT_EQ(c.source_of("bus.partitions"), "test.yaml line 2");
}

TEST(Config, UnknownKeysAndWrongTypesAreRefusedWithThePath) {
  EXPECT_NE(error_of("bus:\n  partitons: 8\n").find("unknown key 'bus.partitons' (did you mean 'bus.partitions'?)"),
            std::string::npos);
  EXPECT_NE(error_of("bus:\n  partitions: many\n").find("key 'bus.partitions': expected an integer, got \"many\""),
            std::string::npos);
  EXPECT_NE(error_of("remediator:\n  cooldown: soon\n").find("key 'remediator.cooldown': expected a duration"),
            std::string::npos);
  EXPECT_NE(error_of("remediator:\n  dry_run: maybe\n").find("key 'remediator.dry_run'"), std::string::npos);
  EXPECT_NE(error_of("api:\n  listen: [a, b]\n").find("key 'api.listen': expected a string, got a list"),
            std::string::npos);
  EXPECT_NE(error_of("bus: [1\n").find("not valid YAML at line"), std::string::npos);
  EXPECT_NE(error_of("- just\n- a list\n").find("top level must be a mapping"), std::string::npos);
  EXPECT_EQ(error_of("bus:\n  partitions: 8\n"), "");
}

TEST(Config, EnvironmentAndSetOverrideTheFile) {
  ConfigSchema s = schema();
  std::string path = ::testing::TempDir() + "/selfheal_config_test.yaml";
  std::ofstream(path) << "bus:\n  partitions: 8\napi:\n  listen: 127.0.0.1:1\n";
  setenv("SELFHEAL_BUS_PARTITIONS", "16", 1);
  Config c = Config::load(s, path, {"api.listen=127.0.0.1:0"});
  unsetenv("SELFHEAL_BUS_PARTITIONS");
  EXPECT_EQ(c.integer("bus.partitions"), 16);
  EXPECT_EQ(c.source_of("bus.partitions"), "env SELFHEAL_BUS_PARTITIONS");
  EXPECT_EQ(c.str("api.listen"), "127.0.0.1:0");

  setenv("SELFHEAL_BUS_PARTITIONS", "lots", 1);
  EXPECT_THROW(Config::load(s, path), ConfigError);
  unsetenv("SELFHEAL_BUS_PARTITIONS");
  EXPECT_THROW(Config::load(s, "/nonexistent/selfheal.yaml"), ConfigError);
  EXPECT_THROW(Config::load(s, "", {"no-equals-sign"}), ConfigError);
}

TEST(Config, RenderedDefaultsLoadBackToTheSameValues) {
  ConfigSchema s = schema();
  Config c = Config::from_yaml_text(s, s.render_defaults_yaml());
  for (const auto& k : s.keys()) EXPECT_NE(c.source_of(k.path), "default") << k.path;
  EXPECT_EQ(c.strings("remediator.namespaces"), std::vector<std::string>{"shop"});
  EXPECT_EQ(ConfigSchema::env_name("cluster_sim.kubeconfig-out"), "SELFHEAL_CLUSTER_SIM_KUBECONFIG_OUT");
}

TEST(Clock, DurationsAndTimestamps) {
  std::int64_t ms = 0;
  EXPECT_TRUE(parse_duration_ms("250ms", ms));
  EXPECT_EQ(ms, 250);
  EXPECT_TRUE(parse_duration_ms("1.5s", ms));
  EXPECT_EQ(ms, 1500);
  EXPECT_TRUE(parse_duration_ms("2h", ms));
  EXPECT_EQ(ms, 7200000);
  EXPECT_FALSE(parse_duration_ms("10", ms));
  EXPECT_FALSE(parse_duration_ms("fast", ms));
  EXPECT_EQ(format_duration(300000), "5m");

  TimeMs t = 0;
  ASSERT_TRUE(parse_iso8601("2026-01-05T00:00:01.250Z", t));
  EXPECT_EQ(t, 1767571201250);
  EXPECT_EQ(format_iso8601(t), "2026-01-05T00:00:01.250Z");
  EXPECT_FALSE(parse_iso8601("yesterday", t));
  EXPECT_FALSE(parse_iso8601("2026-13-05T00:00:00Z", t));

  SimClock sim(1000);
  sim.advance(500);
  EXPECT_EQ(sim.now(), 1500);
}

}  // namespace
}  // namespace selfheal
