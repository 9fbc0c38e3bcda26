// The log and metrics generators: determinism, realism of the lines, counter semantics.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "contracts/events_json.hpp"
#include "contracts/metric_names.hpp"
#include "sim/log_renderer.hpp"
#include "sim/metrics_renderer.hpp"
#include "sim/simulated_cluster.hpp"

namespace selfheal::sim {
namespace {

constexpr TimeMs kOrigin = 1767571200000;  // 2026-01-05T00:00:00Z

LogRendererOptions demo_layouts() {
  LogRendererOptions o;
  EXPECT_EQ(o.set_styles({"frontend=nginx", "orders=java", "payments=json", "search=logfmt", "inventory=json",
                          "cache=logfmt", "postgres=postgres"}),
            "");
  return o;
}

// Runs the demo scenario for `seconds` and returns every generated event, encoded, in order.
std::string demo_stream(std::uint64_t seed, int seconds, std::size_t* lines = nullptr, std::size_t* batches = nullptr) {
  Scenario sc = demo_scenario();
  sc.seed = seed;
  SimulatedCluster cluster(sc, kOrigin);
  LogRenderer logs(demo_layouts());
  MetricsRenderer metrics(10000);
  SimulatedCluster::StepOutput out;
  std::vector<RawLog> l;
  std::vector<MetricBatch> m;
  std::string stream;
  for (int i = 1; i <= seconds; ++i) {
    cluster.step(kOrigin + i * 1000LL, out);
    for (const auto& lab : out.labels) stream += encode_event(lab) + "\n";
    for (const auto& st : out.states) {
      stream += encode_event(st) + "\n";
      l.clear();
      m.clear();
      logs.render(st, l);
      metrics.observe(st, m);
      for (auto& x : l) stream += x.pod + " " + std::to_string(x.ts) + " " + x.line + "\n";
      for (auto& b : m) stream += encode_event(b) + "\n";
      if (lines) *lines += l.size();
      if (batches) *batches += m.size();
    }
  }
  return stream;
}

TEST(Generators, SameScenarioAndSeedGiveByteIdenticalStreams) {
  std::size_t lines = 0, batches = 0;
  std::string a = demo_stream(42, 400, &lines, &batches);
  std::string b = demo_stream(42, 400);
  std::string c = demo_stream(43, 400);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // Volume is moderate: tens to a few hundred lines and ~1.5 batches (15 pods / 10 s) per second.
  EXPECT_GT(lines / 400.0, 30);
  EXPECT_LT(lines / 400.0, 400);
  EXPECT_NEAR(batches / 400.0, 1.5, 0.2);
}

TEST(Generators, LinesComeInTheLayoutsRealFleetsMix) {
  Scenario sc = demo_scenario();
  SimulatedCluster cluster(sc, kOrigin);
  LogRenderer logs(demo_layouts());
  SimulatedCluster::StepOutput out;
  std::vector<RawLog> all;
  for (int i = 1; i <= 300; ++i) {
    cluster.step(kOrigin + i * 1000LL, out);
    for (const auto& st : out.states) logs.render(st, all);
  }
  int nginx = 0, json = 0, logfmt = 0, java = 0, pg = 0, harmless_errors = 0, bad_json = 0;
  for (const auto& l : all) {
    ASSERT_FALSE(l.line.empty());
    ASSERT_GT(l.ts, kOrigin);
    EXPECT_EQ(l.pod.rfind(l.service + "-", 0), 0u);
    if (l.service == "frontend" && l.line.rfind("10.244.", 0) == 0 && l.line.find(" HTTP/1.1\" ") != std::string::npos) ++nginx;
    if (l.service == "payments") {
      auto j = nlohmann::json::parse(l.line, nullptr, false);
      if (j.is_discarded()) ++bad_json;
      else {
        ++json;
        EXPECT_TRUE(j.contains("ts") && j.contains("level") && j.contains("msg"));
        if (j["level"] == "error") ++harmless_errors;
      }
    }
    if (l.service == "search" && l.line.rfind("ts=", 0) == 0 && l.line.find(" level=") != std::string::npos) ++logfmt;
    if (l.service == "orders" && l.line.find(" --- [") != std::string::npos) ++java;
    if (l.service == "postgres" && l.line.find(" UTC [") != std::string::npos) ++pg;
  }
  EXPECT_GT(nginx, 100);
  EXPECT_GT(json, 50);
  EXPECT_EQ(bad_json, 0);
  EXPECT_GT(logfmt, 50);
  EXPECT_GT(java, 50);
  EXPECT_GT(pg, 20);
  // Healthy services also log ERROR lines that mean nothing: an ERROR is not a detector.
  EXPECT_GT(harmless_errors, 0);
}

TEST(Generators, FaultsProduceTheMessagesRealServicesPrint) {
  Scenario sc = demo_scenario();
  sc.faults = {{"memory_leak", "orders", 0, 0, 3.0, ""}, {"dependency_outage", "payments", 0, 0, 1.0, ""}};
  SimulatedCluster cluster(sc, kOrigin);
  LogRenderer logs(demo_layouts());
  SimulatedCluster::StepOutput out;
  std::vector<RawLog> all;
  for (int i = 1; i <= 600; ++i) {
    cluster.step(kOrigin + i * 1000LL, out);
    for (const auto& st : out.states) logs.render(st, all);
  }
  auto count = [&](const std::string& service, const std::string& needle) {
    int n = 0;
    for (const auto& l : all) n += l.service == service && l.line.find(needle) != std::string::npos;
    return n;
  };
  EXPECT_GT(count("orders", "GC overhead"), 0);
  EXPECT_GT(count("orders", "java.lang.OutOfMemoryError: Java heap space"), 0);
  EXPECT_GT(count("orders", "\tat com.shop.orders."), 0);  // stack trace continuation lines, one RawLog each
  EXPECT_GT(count("payments", "connection refused"), 10);
  EXPECT_EQ(count("search", "OutOfMemoryError"), 0);
}

TEST(Generators, CountersAreMonotonicAndResetWhenThePodRestarts) {
  Scenario sc = demo_scenario();
  sc.faults = {{"memory_leak", "orders", 0, 0, 4.0, ""}};
  SimulatedCluster cluster(sc, kOrigin);
  MetricsRenderer metrics(10000);
  SimulatedCluster::StepOutput out;
  std::map<std::string, std::pair<std::uint32_t, double>> last;  // pod -> (restarts, requests)
  int resets = 0, scrapes = 0;
  for (int i = 1; i <= 900; ++i) {
    cluster.step(kOrigin + i * 1000LL, out);
    std::vector<MetricBatch> batches;
    for (const auto& st : out.states) metrics.observe(st, batches);
    for (const auto& b : batches) {
      ++scrapes;
      EXPECT_EQ(b.ts % 10000, 0);
      double restarts = -1, requests = -1;
      for (const auto& s : b.samples) {
        if (s.name == metric_names::kRestarts) restarts = s.value;
        if (s.name == metric_names::kRequests) requests = s.value;
        if (s.kind == MetricKind::Histogram) {
          for (std::size_t k = 1; k < s.buckets.size(); ++k) ASSERT_LE(s.buckets[k - 1].cumulative_count, s.buckets[k].cumulative_count);
          EXPECT_EQ(s.value, s.buckets.back().cumulative_count);
        }
      }
      ASSERT_GE(restarts, 0);
      ASSERT_GE(requests, 0);
      auto it = last.find(b.pod);
      if (it != last.end()) {
        if (static_cast<std::uint32_t>(restarts) == it->second.first) {
          EXPECT_GE(requests, it->second.second) << b.pod;
        } else {
          ++resets;
          EXPECT_LT(requests, it->second.second) << "counter did not reset on restart of " << b.pod;
        }
      }
      last[b.pod] = {static_cast<std::uint32_t>(restarts), requests};
    }
  }
  EXPECT_GT(resets, 0);
  EXPECT_GT(scrapes, 1000);
}

TEST(Generators, PostgresScrapesCarryTheDatabaseSeries) {
  Scenario sc = demo_scenario();
  SimulatedCluster cluster(sc, kOrigin);
  MetricsRenderer metrics(10000);
  SimulatedCluster::StepOutput out;
  std::vector<MetricBatch> batches;
  for (int i = 1; i <= 10; ++i) {
    cluster.step(kOrigin + i * 1000LL, out);
    for (const auto& st : out.states) metrics.observe(st, batches);
  }
  ASSERT_EQ(batches.size(), 15u);
  for (const auto& b : batches) {
    bool has_db = false;
    for (const auto& s : b.samples) has_db = has_db || s.name == metric_names::kDbQueryDuration;
    EXPECT_EQ(has_db, b.service == "postgres") << b.service;
    EXPECT_EQ(b.samples.size(), b.service == "postgres" ? 12u : 9u);
  }
}

}  // namespace
}  // namespace selfheal::sim
