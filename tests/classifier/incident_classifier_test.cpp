// The classifier on hand-made streams of anomalies, windows and remediation events.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "classifier/incident_classifier.hpp"

namespace selfheal::classifier {
namespace {

constexpr TimeMs T0 = 1'700'000'000'000;
constexpr TimeMs S = 1000;

class ClassifierTest : public ::testing::Test {
 protected:
  ClassifierTest() : c_(options()) {}

  static ClassifierOptions options() {
    ClassifierOptions o;
    o.decide_delay_ms = 5 * S;
    o.resolve_hold_ms = 60 * S;
    o.reopen_window_ms = 600 * S;
    o.catch_up_max_ms = 0;  // these streams send no windows for most services; CatchUp tests turn it on
    return o;
  }

  void take(std::vector<Incident> snaps) {
    for (auto& i : snaps) {
      auto& last = latest_[i.id];
      EXPECT_GT(i.revision, last.revision) << "revisions must increase";
      last = i;
      all_.push_back(std::move(i));
    }
  }

  void anomaly(const std::string& id, TimeMs ts, const std::string& service, const std::string& signal, double value,
               double expected, double score = 0.95, const std::string& pod = "", double tte_s = kAbsent) {
    Anomaly a;
    a.id = id;
    a.ts = ts;
    a.service = service;
    a.pod = pod;
    a.signal = signal;
    a.series = service + ":" + signal;
    a.value = value;
    a.expected = expected;
    a.score = score;
    a.model = "robust-baseline";
    a.model_version = "v1";
    a.time_to_exhaustion_s = tte_s;
    take(c_.on_anomaly(a));
  }

  void rule(const std::string& id, TimeMs ts, const std::string& service, const std::string& name,
            const std::string& signal, double value, const std::string& type, const std::string& severity = "warning",
            const std::string& pod = "") {
    Anomaly a;
    a.id = id;
    a.ts = ts;
    a.service = service;
    a.pod = pod;
    a.signal = signal;
    a.value = value;
    a.score = 1.0;
    a.source = AnomalySource::Rule;
    a.model = name;
    a.model_version = "defaults-1";
    if (!type.empty()) a.labels.emplace_back("incident_type", type);
    a.labels.emplace_back("severity", severity);
    a.labels.emplace_back("summary", service + " " + signal + " high");
    take(c_.on_anomaly(a));
  }

  void window(TimeMs end, const std::string& service, std::vector<std::pair<std::string, double>> features,
              const std::string& pod = "") {
    FeatureWindow w;
    w.id = "w" + std::to_string(++windows_);
    w.start = end - 10 * S;
    w.end = end;
    w.service = service;
    w.pod = pod;
    w.features = std::move(features);
    take(c_.on_features(w));
  }

  void logs(TimeMs end, const std::string& service, std::vector<TemplateCount> templates) {
    FeatureWindow w;
    w.id = "l" + std::to_string(++windows_);
    w.start = end - 10 * S;
    w.end = end;
    w.service = service;
    w.source = FeatureSource::Logs;
    w.features = {{"log_lines", 100}};
    w.top_templates = std::move(templates);
    take(c_.on_features(w));
  }

  void tick(TimeMs now) { take(c_.on_tick(now)); }

  // Calm windows so the classifier has baselines.
  void warm_up(const std::vector<std::string>& services, TimeMs until) {
    for (TimeMs t = until - 60 * S; t <= until; t += 10 * S)
      for (const auto& s : services)
        window(t, s, {{"latency_p95_s", 0.1}, {"error_ratio", 0.01}, {"requests_per_s", 100}, {"cpu_utilization_mean", 0.3},
                      {"memory_utilization_max", 0.4}, {"restarts", 0}, {"db_query_p95_s", 0.01}});
  }

  // Calm frontend, orders and search; then search's window shows `search_now` and, before any
  // anomaly of search, frontend's latency alert arrives (callee windows are waited for).
  void frontend_slow_while_search_window_shows(std::vector<std::pair<std::string, double>> search_now) {
    ClassifierOptions o = options();
    o.catch_up_max_ms = 30 * S;
    c_ = IncidentClassifier(o);
    for (TimeMs t = T0 - 60 * S; t <= T0; t += 10 * S)
      for (const char* svc : {"frontend", "orders", "search"})
        window(t, svc, {{"latency_p95_s", 0.05}, {"error_ratio", 0.0}, {"requests_per_s", 50},
                        {"cpu_utilization_mean", 0.3}, {"cpu_utilization_max", 0.35}});
    window(T0 + 10 * S, "orders", {{"latency_p95_s", 0.05}, {"cpu_utilization_max", 0.35}});
    window(T0 + 10 * S, "search", std::move(search_now));
    anomaly("a1", T0 + 10 * S, "frontend", "latency_p95_s", 0.24, 0.1, 0.95);
  }

  const Incident& only_incident() {
    EXPECT_EQ(latest_.size(), 1u) << "expected exactly one incident";
    return latest_.begin()->second;
  }

  IncidentClassifier c_;
  std::map<std::string, Incident> latest_;
  std::vector<Incident> all_;
  int windows_ = 0;
};

TEST_F(ClassifierTest, OneIncidentPerFaultAcrossManyAlerts) {
  warm_up({"payments", "orders", "frontend"}, T0);
  const std::string pod_a = "payments-0123456789-aaaaa", pod_b = "payments-0123456789-bbbbb";
  TimeMs t = T0 + 10 * S;
  window(t, "payments", {{"memory_utilization_max", 0.93}, {"memory_slope_bytes_per_s", 3e5}}, pod_a);
  window(t, "payments", {{"memory_utilization_max", 0.45}, {"memory_slope_bytes_per_s", 1e3}}, pod_b);
  anomaly("m1", t, "payments", "memory_slope_bytes_per_s", 3e5, 1e3, 0.97, pod_a, 400);
  rule("r1", t, "payments", "PodMemoryNearLimit", "memory_utilization_max", 0.93, "memory_leak", "critical", pod_a);
  for (int i = 0; i < 10; ++i) {
    TimeMs ti = t + (i + 1) * 10 * S;
    anomaly("m-mem-" + std::to_string(i), ti, "payments", "memory_utilization_max", 0.95, 0.4, 0.99, pod_a);
    anomaly("m-lat-" + std::to_string(i), ti, "orders", "latency_p95_s", 0.9, 0.1, 0.9);
    anomaly("m-err-" + std::to_string(i), ti, "frontend", "error_ratio", 0.08, 0.01, 0.8);
    rule("r-lat-" + std::to_string(i), ti, "orders", "LatencyP95High", "latency_p95_s", 1.2, "");
    tick(ti);
  }
  const Incident& inc = only_incident();
  EXPECT_EQ(inc.type, IncidentType::MemoryLeak);
  EXPECT_EQ(inc.service, "payments");
  EXPECT_EQ(inc.target_pod, pod_a);
  EXPECT_EQ(inc.namespace_name, "shop");
  EXPECT_EQ(inc.severity, Severity::Critical);
  EXPECT_EQ(inc.status, IncidentStatus::Open);
  EXPECT_EQ(inc.affected_services.front(), "payments");
  EXPECT_EQ(inc.affected_services.size(), 3u);
  EXPECT_EQ(inc.anomaly_ids.size(), 42u);
  EXPECT_NE(inc.title.find("Memory leak on payments"), std::string::npos) << inc.title;
  EXPECT_NE(inc.summary.find("memory_utilization_max on payments/" + pod_a + ": 0.95 (baseline 0.4, +13"), std::string::npos)
      << inc.summary;
  EXPECT_NE(inc.summary.find("rule PodMemoryNearLimit"), std::string::npos) << inc.summary;
  EXPECT_NE(inc.summary.find("model robust-baseline@v1"), std::string::npos) << inc.summary;
  bool rule_evidence = false;
  for (const auto& e : inc.evidence) rule_evidence = rule_evidence || (e.kind == "rule" && e.signal == "PodMemoryNearLimit");
  EXPECT_TRUE(rule_evidence);
  // Published once the decision delay passed, then only on visible changes, not on every alert.
  EXPECT_EQ(all_.front().opened_at, t + 10 * S);
  EXPECT_LT(all_.size(), 6u);
}

TEST_F(ClassifierTest, DecisionWaitsForTheDelayThenPublishes) {
  rule("r1", T0, "search", "CpuSaturated", "cpu_utilization_mean", 0.95, "cpu_saturation");
  tick(T0 + 4 * S);
  EXPECT_TRUE(all_.empty());
  tick(T0 + 5 * S);
  ASSERT_EQ(all_.size(), 1u);
  EXPECT_EQ(all_[0].revision, 1u);
  EXPECT_EQ(all_[0].opened_at, T0 + 5 * S);
  EXPECT_EQ(all_[0].type, IncidentType::CpuSaturation);
}

TEST_F(ClassifierTest, CallersOfASlowDatabaseAreVictims) {
  warm_up({"orders", "frontend", "postgres", "payments"}, T0);
  // The callers' latency moves first; the database's own signal arrives a window later.
  anomaly("a1", T0 + 10 * S, "orders", "latency_p95_s", 1.5, 0.1, 0.95);
  anomaly("a2", T0 + 10 * S, "frontend", "latency_p95_s", 1.8, 0.1, 0.95);
  anomaly("a3", T0 + 12 * S, "payments", "latency_p95_s", 1.1, 0.1, 0.92);
  anomaly("a4", T0 + 14 * S, "postgres", "db_query_p95_s", 0.8, 0.01, 0.99);
  tick(T0 + 20 * S);
  const Incident& inc = only_incident();
  EXPECT_EQ(inc.service, "postgres");
  EXPECT_EQ(inc.type, IncidentType::DbLatency);
  EXPECT_EQ(inc.affected_services.front(), "postgres");
  EXPECT_NE(inc.summary.find("victims"), std::string::npos);
}

// With catch-up on, the first decision waits for the database's metrics window that covers the
// moment the callers moved (a scrape later than their logs), and the culprit is found in that
// window before the database's own alert arrives: the caller is never blamed, not even briefly.
TEST_F(ClassifierTest, FirstDecisionWaitsForTheCalleesWindowsAndDescendsToTheDegradedDatabase) {
  ClassifierOptions o = options();
  o.catch_up_max_ms = 30 * S;
  c_ = IncidentClassifier(o);
  warm_up({"orders", "frontend", "postgres", "payments", "inventory"}, T0);
  for (const char* svc : {"frontend", "payments", "inventory"}) window(T0 + 10 * S, svc, {{"latency_p95_s", 0.1}});
  window(T0 + 10 * S, "postgres", {{"latency_p95_s", 0.1}, {"db_query_p95_s", 0.01}});  // covers before the change
  anomaly("a1", T0 + 10 * S, "orders", "latency_p95_s", 1.5, 0.1, 0.95);
  tick(T0 + 20 * S);
  EXPECT_TRUE(latest_.empty()) << "decided before the database's window covering the change arrived";
  for (const char* svc : {"frontend", "payments", "inventory"}) window(T0 + 20 * S, svc, {{"latency_p95_s", 0.1}});
  window(T0 + 20 * S, "postgres", {{"latency_p95_s", 0.9}, {"db_query_p95_s", 0.8}});
  tick(T0 + 21 * S);
  const Incident& inc = only_incident();
  EXPECT_EQ(inc.service, "postgres");
  EXPECT_EQ(inc.type, IncidentType::DbLatency);
  EXPECT_NE(inc.summary.find("orders waits on postgres"), std::string::npos) << inc.summary;
}

// Over Kafka the caller's latency alert can be handled before any anomaly of the callee whose CPU
// is saturated (seen in the microservice loop: a CPU spike on search blamed on frontend as a bad
// state, and the remediator cleared frontend's state). The callee's window already shows the CPU
// at its limit while its latency is not yet three times its baseline: the root goes down to it.
TEST_F(ClassifierTest, CallerLatencyWithACalleeAtItsCpuLimitIsTheCalleesCpuSaturation) {
  frontend_slow_while_search_window_shows(
      {{"latency_p95_s", 0.12}, {"cpu_utilization_max", 1.02}, {"cpu_utilization_mean", 0.9}});
  tick(T0 + 16 * S);
  const Incident& inc = only_incident();
  EXPECT_EQ(inc.service, "search") << inc.summary;
  EXPECT_EQ(inc.type, IncidentType::CpuSaturation) << inc.summary;
  EXPECT_NE(inc.summary.find("frontend waits on search"), std::string::npos) << inc.summary;
}

// ... and a callee busy but below its limit is no culprit: the caller's own latency stays its own.
TEST_F(ClassifierTest, CalleeBusyBelowItsCpuLimitDoesNotTakeTheBlame) {
  frontend_slow_while_search_window_shows({{"latency_p95_s", 0.06}, {"cpu_utilization_max", 0.8}});
  tick(T0 + 50 * S);  // past the hold for log lines a bad state waits for
  EXPECT_EQ(only_incident().service, "frontend") << only_incident().summary;
}

// A new hottest pod changes the incident's target pod, and the timeline says so; it does not read
// "reclassified: cpu_saturation on search -> cpu_saturation on search" (seen in the Kafka loop).
TEST_F(ClassifierTest, TimelineSaysWhatChangedWhenOnlyTheMostAffectedPodMoves) {
  warm_up({"search"}, T0);
  window(T0 + 10 * S, "search", {{"cpu_utilization_max", 0.95}}, "search-a");
  window(T0 + 10 * S, "search", {{"cpu_utilization_max", 0.50}}, "search-b");
  anomaly("a1", T0 + 10 * S, "search", "cpu_utilization_mean", 0.95, 0.3, 0.95, "search-a");
  tick(T0 + 16 * S);
  ASSERT_EQ(only_incident().target_pod, "search-a");
  window(T0 + 20 * S, "search", {{"cpu_utilization_max", 0.60}}, "search-a");
  window(T0 + 20 * S, "search", {{"cpu_utilization_max", 0.99}}, "search-b");
  anomaly("a2", T0 + 20 * S, "search", "cpu_utilization_max", 0.99, 0.35, 0.95, "search-b");
  const Incident& inc = only_incident();
  EXPECT_EQ(inc.type, IncidentType::CpuSaturation);
  EXPECT_EQ(inc.target_pod, "search-b");
  bool said = false;
  for (const auto& e : inc.timeline) {
    EXPECT_EQ(e.text.find("cpu_saturation on search -> cpu_saturation on search"), std::string::npos) << e.text;
    said = said || e.text == "most affected pod search-a -> search-b";
  }
  EXPECT_TRUE(said) << "no timeline entry names the pod change";
}

// Errors on payments and no log line yet: an error burst of payments' own and an outage of what it
// calls look the same until the failing requests' log lines arrive. The first decision (which the
// remediator acts on) waits for them, and the connection-refused line makes it an outage.
TEST_F(ClassifierTest, ErrorsWithoutLogLinesAreHeldUntilTheLogsSayWhatFails) {
  ClassifierOptions o = options();
  o.catch_up_max_ms = 30 * S;
  c_ = IncidentClassifier(o);
  warm_up({"frontend", "orders", "payments", "postgres"}, T0);
  for (const char* svc : {"frontend", "orders", "payments", "postgres"}) window(T0 + 20 * S, svc, {{"latency_p95_s", 0.1}});
  anomaly("a1", T0 + 10 * S, "payments", "error_ratio", 0.9, 0.01);
  anomaly("a2", T0 + 10 * S, "payments", "log_error_ratio", 0.9, 0.05);
  tick(T0 + 20 * S);
  EXPECT_TRUE(latest_.empty()) << "decided an error type before any log line of the errors";
  logs(T0 + 25 * S, "payments",
       {{21, "dial tcp payment-gateway:<*>: connect: connection refused (retrying in <*>, attempt <*>)", 300,
         "dial tcp payment-gateway:443: connect: connection refused (retrying in 500ms, attempt 2/5)", true}});
  tick(T0 + 26 * S);
  const Incident& inc = only_incident();
  EXPECT_EQ(inc.type, IncidentType::DependencyOutage) << inc.summary;
  EXPECT_EQ(inc.service, "payments");
  EXPECT_EQ(inc.opened_at, T0 + 26 * S);
}

TEST_F(ClassifierTest, HoldForLogLinesIsBounded) {
  ClassifierOptions o = options();
  o.catch_up_max_ms = 30 * S;
  c_ = IncidentClassifier(o);
  warm_up({"frontend", "orders", "payments", "postgres"}, T0);
  for (const char* svc : {"frontend", "orders", "payments", "postgres"}) window(T0 + 20 * S, svc, {{"latency_p95_s", 0.1}});
  anomaly("a1", T0 + 10 * S, "payments", "error_ratio", 0.9, 0.01);
  tick(T0 + 44 * S);
  EXPECT_TRUE(latest_.empty());
  tick(T0 + 45 * S);  // decide_delay 5 s + at most 30 s more: decided on what is there
  ASSERT_EQ(latest_.size(), 1u);
  EXPECT_EQ(only_incident().opened_at, T0 + 45 * S);
  EXPECT_EQ(only_incident().service, "payments");
}

// orders' failing requests name the callee they fail on, before payments' own windows or alerts
// show anything: payments is the culprit, judged on its own latest log lines (an outage of the
// payment gateway it calls), and orders is its victim.
TEST_F(ClassifierTest, LogLinesNamingAFailingCalleeMoveTheRootDown) {
  warm_up({"frontend", "orders", "payments", "postgres"}, T0);
  logs(T0 + 8 * S, "payments",
       {{31, "request failed: call to payment-gateway failed: dial tcp payment-gateway:<*>: connect: connection refused", 80,
         "request failed: call to payment-gateway failed: dial tcp payment-gateway:443: connect: connection refused", true}});
  anomaly("a1", T0 + 10 * S, "orders", "error_ratio", 0.5, 0.01);
  anomaly("a2", T0 + 10 * S, "orders", "log:new_template", 3, 0);
  logs(T0 + 10 * S, "orders",
       {{32, "request failed: upstream payments answered <*> Service Unavailable", 120,
         "request failed: upstream payments answered 503 Service Unavailable", true}});
  tick(T0 + 20 * S);
  const Incident& inc = only_incident();
  EXPECT_EQ(inc.service, "payments") << inc.summary;
  EXPECT_EQ(inc.type, IncidentType::DependencyOutage) << inc.summary;
  EXPECT_NE(inc.summary.find("orders logs failing calls to payments"), std::string::npos) << inc.summary;
}

TEST_F(ClassifierTest, CatchUpWaitIsBounded) {
  ClassifierOptions o = options();
  o.catch_up_max_ms = 30 * S;
  c_ = IncidentClassifier(o);
  warm_up({"orders", "frontend", "postgres", "payments", "inventory"}, T0);
  anomaly("a1", T0 + 10 * S, "orders", "latency_p95_s", 1.5, 0.1, 0.95);
  tick(T0 + 40 * S);
  EXPECT_TRUE(latest_.empty());
  tick(T0 + 45 * S);  // decide_delay 5 s + catch-up 30 s: decided on what is there
  EXPECT_EQ(latest_.size(), 1u);
}

TEST_F(ClassifierTest, DeepestServiceWithSymptomsIsTheCulprit) {
  warm_up({"frontend", "orders", "payments"}, T0);
  anomaly("a1", T0 + 10 * S, "frontend", "error_ratio", 0.2, 0.01);
  anomaly("a2", T0 + 11 * S, "orders", "error_ratio", 0.3, 0.01);
  anomaly("a3", T0 + 12 * S, "payments", "error_ratio", 0.6, 0.01);
  tick(T0 + 30 * S);
  EXPECT_EQ(only_incident().service, "payments");
}

TEST_F(ClassifierTest, UnrelatedServicesGiveSeparateIncidents) {
  anomaly("a1", T0, "payments", "cpu_utilization_mean", 0.97, 0.3);
  anomaly("a2", T0, "search", "error_ratio", 0.3, 0.01);
  tick(T0 + 10 * S);
  ASSERT_EQ(latest_.size(), 2u);
  std::set<std::string> roots;
  for (const auto& [id, i] : latest_) roots.insert(i.service);
  EXPECT_EQ(roots, (std::set<std::string>{"payments", "search"}));
}

TEST_F(ClassifierTest, NoiseDoesNotOpenIncidents) {
  anomaly("n1", T0, "orders", "latency_p95_s", 0.3, 0.1, 0.6);            // weak, alone
  anomaly("n2", T0 + 120 * S, "orders", "latency_p95_s", 0.3, 0.1, 0.6);  // weak again, long after
  anomaly("n3", T0 + 130 * S, "orders", "latency_p95_s", 0.3, 0.1, 0.3);  // below min_score
  tick(T0 + 300 * S);
  EXPECT_TRUE(all_.empty());
  anomaly("n4", T0 + 310 * S, "orders", "latency_p95_s", 0.3, 0.1, 0.6);
  anomaly("n5", T0 + 320 * S, "orders", "error_ratio", 0.05, 0.01, 0.6);  // confirmed by a second anomaly
  tick(T0 + 330 * S);
  EXPECT_EQ(latest_.size(), 1u);
}

TEST_F(ClassifierTest, DuplicateAnomaliesAreIgnored) {
  anomaly("dup", T0, "search", "cpu_utilization_mean", 0.97, 0.3);
  tick(T0 + 10 * S);
  anomaly("dup", T0, "search", "cpu_utilization_mean", 0.97, 0.3);
  anomaly("dup", T0 + 11 * S, "search", "latency_p95_s", 2, 0.1);  // same id: a redelivery
  tick(T0 + 20 * S);
  EXPECT_EQ(c_.duplicates_ignored(), 2u);
  const Incident& inc = only_incident();
  EXPECT_EQ(inc.anomaly_ids, std::vector<std::string>{"dup"});
  EXPECT_EQ(inc.revision, 1u);
}

struct TypeCase {
  const char* name;
  IncidentType expected;
  std::string root;
};

class TypeTest : public ClassifierTest, public ::testing::WithParamInterface<TypeCase> {};

TEST_P(TypeTest, ClassifiesFromWhichSignalsMoved) {
  const TypeCase& tc = GetParam();
  warm_up({"frontend", "orders", "search", "payments", "inventory", "cache", "postgres"}, T0);
  const TimeMs t = T0 + 10 * S;
  const std::string name = tc.name;
  if (name == "cpu") {
    anomaly("a", t, "search", "cpu_utilization_mean", 0.97, 0.3);
    anomaly("b", t, "search", "latency_p95_s", 0.5, 0.1);
    anomaly("c", t + 10 * S, "frontend", "latency_p95_s", 0.6, 0.1);
  } else if (name == "surge") {
    // A surge is judged on the whole-service window of the entry service (nobody calls frontend),
    // not on per-pod anomalies alone.
    window(t, "frontend", {{"requests_per_s", 400}, {"cpu_utilization_mean", 0.9}, {"latency_p95_s", 0.3}});
    anomaly("a", t, "frontend", "requests_per_s", 400, 100);
    anomaly("b", t, "frontend", "cpu_utilization_mean", 0.9, 0.3);
    anomaly("c", t, "orders", "requests_per_s", 350, 100);
    anomaly("d", t, "orders", "cpu_utilization_mean", 0.9, 0.3);
    anomaly("e", t, "orders", "latency_p95_s", 0.9, 0.1);
  } else if (name == "crash") {
    rule("a", t, "inventory", "RestartsIncreasing", "restarts", 3, "crash_loop");
    rule("b", t, "inventory", "PodsNotReady", "pods_ready", 1, "crash_loop", "critical");
    logs(t, "inventory", {{7, "Back-off restarting failed container <*>", 4, "Back-off restarting failed container inventory", false}});
  } else if (name == "leak") {
    anomaly("a", t, "orders", "memory_utilization_max", 0.85, 0.4, 0.97, "orders-0123456789-abcde", 900);
    rule("b", t + 60 * S, "orders", "RestartsIncreasing", "restarts", 1, "crash_loop");
  } else if (name == "error_burst") {
    anomaly("a", t, "payments", "error_ratio", 0.3, 0.01);
    anomaly("b", t, "payments", "log:new_template", 3, 0);
    logs(t, "payments", {{11, "NullPointerException in <*> after deploy of version <*>", 40,
                          "NullPointerException in ChargeHandler after deploy of version 2.4.1", true}});
  } else if (name == "bad_state") {
    anomaly("a", t, "cache", "error_ratio", 0.2, 0.01);
    anomaly("b", t, "cache", "latency_p95_s", 0.9, 0.1);
    logs(t, "cache", {{12, "entry <*> is stale, serving inconsistent state", 30, "entry user:42 is stale, serving inconsistent state", false}});
  } else if (name == "dependency") {
    anomaly("a", t, "payments", "error_ratio", 0.4, 0.01);
    anomaly("b", t, "orders", "error_ratio", 0.2, 0.01);
    logs(t, "payments", {{13, "POST <*> failed: connection refused", 50, "POST https://api.acquirer.example/charge failed: connection refused", false}});
  } else if (name == "db") {
    anomaly("a", t, "orders", "latency_p95_s", 1.4, 0.1);
    anomaly("b", t, "inventory", "latency_p95_s", 1.2, 0.1);
    rule("c", t + 10 * S, "postgres", "DbQueryP95High", "db_query_p95_s", 0.6, "db_latency");
  } else if (name == "unknown") {
    anomaly("a", t, "search", "log_unparsed", 50, 1, 0.99);
  }
  tick(t + 30 * S);
  const Incident& inc = only_incident();
  EXPECT_EQ(inc.type, tc.expected) << to_string(inc.type) << ": " << inc.summary;
  EXPECT_EQ(inc.service, tc.root) << inc.summary;
}

INSTANTIATE_TEST_SUITE_P(
    EachType, TypeTest,
    ::testing::Values(TypeCase{"cpu", IncidentType::CpuSaturation, "search"},
                      TypeCase{"surge", IncidentType::TrafficSurge, "frontend"},
                      TypeCase{"crash", IncidentType::CrashLoop, "inventory"},
                      TypeCase{"leak", IncidentType::MemoryLeak, "orders"},
                      TypeCase{"error_burst", IncidentType::ErrorBurst, "payments"},
                      TypeCase{"bad_state", IncidentType::BadState, "cache"},
                      TypeCase{"dependency", IncidentType::DependencyOutage, "payments"},
                      TypeCase{"db", IncidentType::DbLatency, "postgres"},
                      TypeCase{"unknown", IncidentType::Unknown, "search"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(ClassifierTest, LifecycleMitigateResolveAfterHoldAndReopenOnRelapse) {
  warm_up({"search"}, T0);
  anomaly("a1", T0 + 10 * S, "search", "cpu_utilization_mean", 0.97, 0.3);
  window(T0 + 10 * S, "search", {{"cpu_utilization_mean", 0.97}});
  tick(T0 + 20 * S);
  std::string id = only_incident().id;
  EXPECT_EQ(latest_[id].status, IncidentStatus::Open);

  RemediationAction act;
  act.id = "act-1";
  act.ts = T0 + 25 * S;
  act.incident_id = id;
  act.service = "search";
  act.kind = ActionKind::ScaleDeployment;
  act.target = "search";
  act.replicas = 4;
  act.status = ActionStatus::Succeeded;
  act.reason = "playbook cpu_saturation step 0";
  take(c_.on_action(act));
  EXPECT_EQ(latest_[id].status, IncidentStatus::Mitigating);
  take(c_.on_action(act));  // redelivered: no new snapshot
  EXPECT_EQ(c_.duplicates_ignored(), 1u);

  // Still hot: no resolution however long it stays quiet.
  anomaly("a2", T0 + 30 * S, "search", "cpu_utilization_mean", 0.96, 0.3);
  window(T0 + 30 * S, "search", {{"cpu_utilization_mean", 0.96}});
  tick(T0 + 100 * S);
  EXPECT_EQ(latest_[id].status, IncidentStatus::Mitigating);
  // Back near baseline, and quiet for longer than the hold time.
  window(T0 + 110 * S, "search", {{"cpu_utilization_mean", 0.31}});
  tick(T0 + 111 * S);
  EXPECT_EQ(latest_[id].status, IncidentStatus::Resolved);  // 81 s quiet > 60 s hold
  EXPECT_EQ(latest_[id].resolved_at, T0 + 111 * S);

  // Relapse within the reopen window: the same incident reopens.
  anomaly("a3", T0 + 200 * S, "search", "cpu_utilization_mean", 0.98, 0.3);
  tick(T0 + 201 * S);
  ASSERT_EQ(latest_.size(), 1u);
  EXPECT_EQ(latest_[id].status, IncidentStatus::Open);
  EXPECT_EQ(latest_[id].resolved_at, 0);
  EXPECT_NE(latest_[id].timeline.back().text.find("reopened"), std::string::npos);

  ActionResult res;
  res.id = "res-1";
  res.ts = T0 + 210 * S;
  res.action_id = "act-2";
  res.incident_id = id;
  res.service = "search";
  res.status = ActionStatus::NotRecovered;
  res.detail = "cpu still at 97% after 120 s";
  take(c_.on_result(res));
  EXPECT_EQ(latest_[id].status, IncidentStatus::Escalated);
}

TEST_F(ClassifierTest, SignalBelowItsBaselineAfterMoreReplicasIsBack) {
  // CPU per pod went up to 97%; after scaling out it sits at 10%, below the 30% it had before the
  // fault: the excursion is over (judged in the direction it went), so the incident resolves.
  warm_up({"search"}, T0);
  anomaly("a1", T0 + 10 * S, "search", "cpu_utilization_mean", 0.97, 0.3);
  tick(T0 + 20 * S);
  const std::string id = only_incident().id;
  window(T0 + 100 * S, "search", {{"cpu_utilization_mean", 0.10}});
  tick(T0 + 101 * S);
  EXPECT_EQ(latest_[id].status, IncidentStatus::Resolved);
  // The other way round a value still far above is not back.
  anomaly("b1", T0 + 900 * S, "search", "cpu_utilization_mean", 0.97, 0.3);
  tick(T0 + 910 * S);
  ASSERT_EQ(latest_.size(), 2u);
  window(T0 + 990 * S, "search", {{"cpu_utilization_mean", 0.80}});
  tick(T0 + 991 * S);
  for (const auto& [iid, inc] : latest_) {
    if (iid != id) {
      EXPECT_NE(inc.status, IncidentStatus::Resolved);
    }
  }
}

TEST_F(ClassifierTest, DiagnosisStaysWhatTheRemediatorActedOn) {
  warm_up({"search"}, T0);
  anomaly("a1", T0 + 10 * S, "search", "cpu_utilization_mean", 0.97, 0.3);
  tick(T0 + 20 * S);
  const std::string id = only_incident().id;
  RemediationAction act;
  act.id = "act-1";
  act.ts = T0 + 21 * S;
  act.incident_id = id;
  act.service = "search";
  act.kind = ActionKind::RolloutRestart;
  act.target = "search";
  act.status = ActionStatus::Succeeded;
  take(c_.on_action(act));
  // The restart's new pods move memory and restarts: evidence grows, the diagnosis does not change.
  anomaly("a2", T0 + 30 * S, "search", "memory_utilization_max", 0.9, 0.4, 0.99, "search-0123456789-zzzzz", 300);
  rule("a3", T0 + 30 * S, "search", "RestartsIncreasing", "restarts", 2, "crash_loop");
  tick(T0 + 60 * S);
  EXPECT_EQ(latest_[id].type, IncidentType::CpuSaturation);
  EXPECT_EQ(latest_[id].service, "search");
  EXPECT_EQ(latest_[id].anomaly_ids.size(), 3u);
}

TEST_F(ClassifierTest, ResolvesOnlyAfterTheHoldTime) {
  warm_up({"orders"}, T0);
  anomaly("a1", T0 + 10 * S, "orders", "error_ratio", 0.3, 0.01);
  tick(T0 + 15 * S);
  window(T0 + 20 * S, "orders", {{"error_ratio", 0.012}});
  tick(T0 + 69 * S);  // 59 s quiet
  EXPECT_EQ(only_incident().status, IncidentStatus::Open);
  tick(T0 + 70 * S);  // 60 s quiet
  EXPECT_EQ(only_incident().status, IncidentStatus::Resolved);
  // After the reopen window a new fault is a new incident.
  anomaly("a2", T0 + 700 * S, "orders", "error_ratio", 0.3, 0.01);
  tick(T0 + 710 * S);
  EXPECT_EQ(latest_.size(), 2u);
}

// Quiet for the hold but a signal still out: the incident stays open and says why, once per
// blocking signal (an SRE asks why a verified incident is still mitigating); then it resolves.
TEST_F(ClassifierTest, QuietIncidentStillOutSaysWhichSignalHoldsItOnce) {
  warm_up({"orders"}, T0);
  anomaly("a1", T0 + 10 * S, "orders", "error_ratio", 0.3, 0.01);
  tick(T0 + 15 * S);
  EXPECT_TRUE(c_.take_notices().empty());
  window(T0 + 20 * S, "orders", {{"error_ratio", 0.2}});
  tick(T0 + 70 * S);
  tick(T0 + 80 * S);
  EXPECT_EQ(only_incident().status, IncidentStatus::Open);
  auto notices = c_.take_notices();
  ASSERT_EQ(notices.size(), 1u) << "said once, not on every tick";
  EXPECT_NE(notices[0].find(only_incident().id + " stays open: no anomaly for 60s but error_ratio on orders is 0.2"),
            std::string::npos)
      << notices[0];
  window(T0 + 90 * S, "orders", {{"error_ratio", 0.012}});
  tick(T0 + 91 * S);
  EXPECT_EQ(only_incident().status, IncidentStatus::Resolved);
  EXPECT_TRUE(c_.take_notices().empty());
}

TEST_F(ClassifierTest, OpenIncidentKeepsItsServiceAcrossAGapLongerThanTheCorrelationWindow) {
  // Seen over Kafka: a 10 s broker outage at 60x is 10 simulated minutes without anomalies; the
  // next anomaly of the leaking service came more than correlation_window (5 min) after the open
  // incident's last signal, and a second memory-leak incident opened on the same service.
  warm_up({"orders", "frontend"}, T0);
  const std::string pod = "orders-0123456789-aaaaa";
  window(T0 + 10 * S, "orders", {{"memory_utilization_max", 0.95}, {"restarts", 0}});
  anomaly("a1", T0 + 10 * S, "orders", "memory_utilization_max", 0.95, 0.4, 0.97, pod, 500);
  tick(T0 + 20 * S);
  const std::string id = only_incident().id;
  ASSERT_EQ(latest_[id].type, IncidentType::MemoryLeak);
  // Quiet for longer than resolve_hold while the latest window still shows the leak: not resolved.
  tick(T0 + 200 * S);
  EXPECT_EQ(latest_[id].status, IncidentStatus::Open);
  const TimeMs after_gap = T0 + 10 * S + 600 * S;  // 10 min after the last signal (window: 5 min)
  ASSERT_GT(after_gap - (T0 + 10 * S), options().correlation_window_ms);
  // A related service's weak anomaly after the gap does not join: the window still applies to it.
  anomaly("f1", after_gap - S, "frontend", "latency_p95_s", 0.5, 0.1, 0.6);
  EXPECT_EQ(c_.pending_anomalies(), 1u);
  // The root service's own anomaly joins the open incident: no second incident on orders.
  anomaly("a2", after_gap, "orders", "memory_slope_bytes_per_s", 3e5, 1e3, 0.97, pod, 400);
  tick(after_gap + 10 * S);
  ASSERT_EQ(latest_.size(), 1u) << "a second incident opened on orders";
  const auto& ids = latest_[id].anomaly_ids;
  EXPECT_NE(std::find(ids.begin(), ids.end(), "a2"), ids.end());
  EXPECT_EQ(std::find(ids.begin(), ids.end(), "f1"), ids.end());
  EXPECT_EQ(latest_[id].status, IncidentStatus::Open);
}

}  // namespace
}  // namespace selfheal::classifier
