// The evaluation's arithmetic on hand-made runs: matching, accuracy, MTTD, MTTR against learned
// bands, the baseline's for: 5m, false incidents and unnecessary actions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "eval/scoring.hpp"

namespace selfheal::eval {
namespace {

constexpr TimeMs kMin = 60'000;

FeatureWindow window(const std::string& service, TimeMs end, double latency, double errors, double mem) {
  FeatureWindow w;
  w.id = service + std::to_string(end);
  w.start = end - kMin;
  w.end = end;
  w.service = service;
  w.set("latency_p95_s", latency);
  w.set("error_ratio", errors);
  w.set("memory_utilization_max", mem);
  w.set("cpu_utilization_mean", 0.3);
  return w;
}

// 60 minutes of orders: healthy, a leak from minute 20 that pushes memory up until minute
// `recovered_at`, when memory drops back.
RunRecord leak_run(TimeMs recovered_at) {
  RunRecord r;
  r.start = 0;
  r.end = 60 * kMin;
  r.faults.push_back({"f1", 20 * kMin, "orders", "memory_leak", "memory_leak", 20 * kMin, 50 * kMin, 1.0});
  for (TimeMs t = kMin; t <= r.end; t += 10'000) {
    bool leaking = t >= 22 * kMin && t < recovered_at;
    double mem = leaking ? std::min(0.98, 0.4 + 0.07 * static_cast<double>(t - 22 * kMin) / kMin)
                         : 0.35 + 0.01 * static_cast<double>((t / 10'000) % 3);
    // GC pauses: latency leaves its band once the heap is nearly full, and stays out until the
    // leak is repaired (MTTR judges latency and errors, not memory).
    double latency = leaking && t >= 25 * kMin ? 0.6 : 0.08;
    r.service_windows.push_back(window("orders", t, latency, 0.002, mem));
  }
  return r;
}

Incident incident(const std::string& id, const std::string& service, IncidentType type, TimeMs opened) {
  Incident i;
  i.id = id;
  i.service = service;
  i.type = type;
  i.opened_at = opened;
  return i;
}

TEST(Scoring, DetectedTypedRootCausedWithMttdAndMttr) {
  RunRecord r = leak_run(30 * kMin);
  r.incidents.push_back(incident("i1", "orders", IncidentType::MemoryLeak, 25 * kMin));
  auto out = score_faults(r, nullptr);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].detected);
  EXPECT_TRUE(out[0].type_correct);
  EXPECT_TRUE(out[0].root_cause_correct);
  EXPECT_DOUBLE_EQ(out[0].mttd_s, 300);
  // Latency leaves its band at minute 25 and is back at minute 30: ten minutes after onset.
  EXPECT_NEAR(out[0].mttr_s, 600, 20);
}

TEST(Scoring, MttrJudgesLatencyAndErrorsNotTheFaultsOwnSignal) {
  // A leak caught and repaired before it hurt latency or errors: memory left its band, but
  // nothing a user sees did, so there is nothing to recover from (no MTTR).
  RunRecord quiet = leak_run(24 * kMin);
  EXPECT_TRUE(std::isnan(score_faults(quiet, nullptr)[0].mttr_s));
  // A CPU spike repaired by scaling: latency is back at minute 23 although CPU stays high.
  RunRecord r;
  r.start = 0;
  r.end = 60 * kMin;
  r.faults.push_back({"f1", 20 * kMin, "search", "cpu_spike", "cpu_saturation", 20 * kMin, 40 * kMin, 1.5});
  for (TimeMs t = kMin; t <= r.end; t += 10'000) {
    bool spiking = t >= 20 * kMin && t < 40 * kMin;
    FeatureWindow w = window("search", t, spiking && t < 23 * kMin ? 2.0 : 0.08, 0.002, 0.35);
    w.set("cpu_utilization_mean", spiking ? 0.6 : 0.3 + 0.01 * static_cast<double>((t / 10'000) % 3));
    r.service_windows.push_back(w);
  }
  EXPECT_NEAR(score_faults(r, nullptr)[0].mttr_s, 180, 10);
}

TEST(Scoring, ServiceWithNoReadyPodIsOutOfBand) {
  // A crash loop: no pod of inventory is ready from minute 20 to minute 23, so its windows carry
  // no latency or error ratio (nobody answered), yet every call to it fails. Recovered when a pod
  // serves again in band: three minutes after onset.
  RunRecord r;
  r.start = 0;
  r.end = 60 * kMin;
  r.faults.push_back({"f1", 20 * kMin, "inventory", "crash_loop", "crash_loop", 20 * kMin, 40 * kMin, 1});
  for (TimeMs t = kMin; t <= r.end; t += 10'000) {
    const bool down = t >= 20 * kMin && t < 23 * kMin;
    FeatureWindow w;
    w.id = "inv" + std::to_string(t);
    w.start = t - kMin;
    w.end = t;
    w.service = "inventory";
    w.set("pods", 2);
    w.set("pods_ready", down ? 0 : 2);
    if (!down) {
      w.set("latency_p95_s", 0.05 + 0.002 * static_cast<double>((t / 10'000) % 3));
      w.set("error_ratio", 0.001);
    }
    r.service_windows.push_back(w);
  }
  EXPECT_NEAR(score_faults(r, nullptr)[0].mttr_s, 180, 10);
}

TEST(Scoring, NeverRepairedCountsUntilTheFaultEnds) {
  RunRecord r = leak_run(55 * kMin);  // back only after the fault ended at minute 50
  auto out = score_faults(r, nullptr);
  EXPECT_FALSE(out[0].detected);
  EXPECT_DOUBLE_EQ(out[0].mttr_s, 30 * 60);
}

TEST(Scoring, VictimIsNotTheRootCauseAndDuplicatesAreCounted) {
  RunRecord r = leak_run(30 * kMin);
  Incident victim = incident("i1", "frontend", IncidentType::DbLatency, 24 * kMin);
  victim.affected_services = {"orders"};
  r.incidents.push_back(victim);
  r.incidents.push_back(incident("i2", "orders", IncidentType::MemoryLeak, 26 * kMin));
  auto out = score_faults(r, nullptr);
  EXPECT_TRUE(out[0].detected);
  EXPECT_FALSE(out[0].root_cause_correct);  // the first incident blamed the victim
  EXPECT_FALSE(out[0].type_correct);
  EXPECT_EQ(out[0].duplicate_incidents, 1);
}

TEST(Scoring, LeadTimeComesFromTheRunWithoutRemediation) {
  RunRecord r = leak_run(30 * kMin);
  r.incidents.push_back(incident("i1", "orders", IncidentType::MemoryLeak, 25 * kMin));
  RunRecord unrepaired = leak_run(55 * kMin);
  unrepaired.oom_kills["orders"] = {10 * kMin, 36 * kMin};  // the first is before the fault
  auto out = score_faults(r, &unrepaired);
  EXPECT_DOUBLE_EQ(out[0].leak_lead_time_s, 11 * 60);
}

TEST(Scoring, FalseIncidentsAndUnnecessaryActions) {
  RunRecord r = leak_run(30 * kMin);
  r.faults.push_back({"f2", 5 * kMin, "payments", "dependency_outage", "dependency_outage", 5 * kMin, 10 * kMin, 1});
  r.incidents.push_back(incident("i1", "orders", IncidentType::MemoryLeak, 25 * kMin));
  r.incidents.push_back(incident("noise", "search", IncidentType::CpuSaturation, 40 * kMin));
  r.incidents.push_back(incident("outage", "payments", IncidentType::DependencyOutage, 6 * kMin));
  auto action = [](const std::string& id, const std::string& inc, ActionKind k, ActionStatus s) {
    RemediationAction a;
    a.id = id;
    a.incident_id = inc;
    a.kind = k;
    a.status = s;
    return a;
  };
  r.actions = {action("a1", "i1", ActionKind::DeletePod, ActionStatus::Succeeded),
               action("a2", "noise", ActionKind::ScaleDeployment, ActionStatus::Succeeded),
               action("a3", "outage", ActionKind::RolloutRestart, ActionStatus::Failed),
               action("a4", "outage", ActionKind::NotifyOnly, ActionStatus::Succeeded),
               action("a5", "noise", ActionKind::DeletePod, ActionStatus::Skipped)};
  EXPECT_EQ(count_false_incidents(r), 1);
  EXPECT_EQ(count_unnecessary_actions(r), 2);  // a2 (false incident) and a3 (outage)
}

TEST(Scoring, BaselineFiresAfterFiveMinutesOfThreshold) {
  RunRecord r = leak_run(55 * kMin);
  int false_alerts = -1;
  auto out = score_baseline(r, &false_alerts);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].detected);
  EXPECT_TRUE(out[0].type_correct);
  // Memory passes 0.9 at about minute 29.2; the alert fires 5 minutes later.
  EXPECT_NEAR(out[0].mttd_s, (29.2 + 5 - 20) * 60, 20);
  EXPECT_EQ(false_alerts, 0);
}

TEST(Scoring, AggregateAndPercentiles) {
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4, 5}, 0.5), 3);
  EXPECT_DOUBLE_EQ(percentile({10, 20}, 0.9), 19);
  EXPECT_TRUE(std::isnan(percentile({}, 0.5)));
  FaultOutcome hit;
  hit.detected = hit.type_correct = hit.root_cause_correct = true;
  hit.mttd_s = 20;
  hit.mttr_s = 100;
  FaultOutcome miss;
  miss.mttr_s = 600;
  Figures f = aggregate({hit, hit, hit, miss}, 1, 0, 0.5);
  EXPECT_DOUBLE_EQ(f.recall, 0.75);
  EXPECT_DOUBLE_EQ(f.type_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(f.false_incidents_per_day, 2.0);
  EXPECT_DOUBLE_EQ(f.mttd_median_s, 20);
  EXPECT_DOUBLE_EQ(f.mttr_median_s, 100);
}

}  // namespace
}  // namespace selfheal::eval
