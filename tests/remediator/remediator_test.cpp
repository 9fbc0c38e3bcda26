// The remediator service end to end over an in-process bus and a fake Kubernetes API: playbook
// defaults, guardrails as recorded in the audit trail, approvals, kill switch, dry-run,
// verification, escalation, idempotency and Kubernetes errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "bus/in_process_bus.hpp"
#include "contracts/feature_names.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/metrics.hpp"
#include "fake_kubernetes.hpp"
#include "remediator/remediator.hpp"

namespace selfheal::remediation {
namespace {

constexpr TimeMs kT0 = 1'800'000'000'000;
constexpr TimeMs kSec = 1000;
constexpr TimeMs kMin = 60 * kSec;

// The mechanics below (guardrails, approvals, verification, escalation) are tested on fixed
// playbooks with one-replica steps, so they do not move when the shipped defaults are tuned; the
// defaults themselves are tested in playbook_test.cpp and by the load-sizing tests at the end.
const char* const kMechanicsPlaybooks = R"(
version: 1
playbooks:
  - name: memory-leak
    incident_type: memory_leak
    description: Replace the leaking pod; if memory keeps climbing, restart the whole deployment.
    steps:
      - action: delete_pod
        pod: incident
        verify_within: 3m
      - action: rollout_restart
        verify_within: 5m
  - name: cpu-saturation
    incident_type: cpu_saturation
    description: Add capacity one replica at a time.
    steps:
      - action: scale_deployment
        by: 1
        verify_within: 2m
      - action: scale_deployment
        by: 1
        verify_within: 3m
  - name: traffic-surge
    incident_type: traffic_surge
    description: Absorb the surge with two more replicas.
    steps:
      - action: scale_deployment
        by: 2
        verify_within: 3m
  - name: crash-loop
    incident_type: crash_loop
    description: Restart the deployment once; a crash loop that survives a restart needs a human.
    steps:
      - action: rollout_restart
        verify_within: 3m
      - action: notify_only
        message: crash loop survived a rollout restart; likely a bad release or config, roll back by hand
  - name: bad-state
    incident_type: bad_state
    description: Clear the poisoned cache / wedged worker through the service's hook, then restart.
    steps:
      - action: clear_state
        verify_within: 2m
      - action: rollout_restart
        verify_within: 3m
  - name: error-burst
    incident_type: error_burst
    description: Restart once (transient state); errors that survive it need a human.
    steps:
      - action: rollout_restart
        verify_within: 3m
      - action: notify_only
        message: errors persist after a rollout restart; check the latest change
  - name: db-latency
    incident_type: db_latency
    description: Tell a human; no automatic action makes a slow database faster.
    steps:
      - action: notify_only
        message: database latency is high; check slow queries, locks and the connection pool
  - name: dependency-outage
    incident_type: dependency_outage
    description: Never act on an outage of something outside the cluster.
    steps:
      - action: notify_only
        message: an external dependency is failing; no action in this cluster can fix it
  - name: unknown
    incident_type: unknown
    description: An incident the classifier could not type is for a human.
    steps:
      - action: notify_only
        message: incident of unknown type; no playbook applies
)";

PlaybookSet mechanics_playbooks() { return PlaybookSet::from_yaml(kMechanicsPlaybooks, "mechanics"); }

// One remediator on a bus, driven by hand: publish inputs, tick the clock, read the audit trail.
class Harness {
 public:
  explicit Harness(RemediatorOptions options = quiet_options(), PlaybookSet playbooks = mechanics_playbooks())
      : bus_({4, 65536}, &metrics_), clock_(kT0), config_(schema_),
        ctx_{bus_, clock_, config_, metrics_, nullptr, nullptr, "r1"} {
    auto fake = std::make_unique<testing::FakeKubernetes>();
    kube = fake.get();
    for (const char* svc : {"orders", "payments", "search", "cache"}) kube->add_deployment("shop", svc, 3);
    audit_ = bus_.subscribe(topics::kActions, "audit");
    remediator = std::make_unique<Remediator>(std::move(options), std::move(playbooks), std::move(fake));
    remediator->start(ctx_);
  }

  // The remediator and the audit subscription hold subscriptions on the bus: release them first.
  ~Harness() {
    remediator.reset();
    audit_.reset();
  }

  // Guardrails that stay out of the way unless a test turns them on.
  static RemediatorOptions quiet_options() {
    RemediatorOptions o;
    o.kill_switch_file = "";
    return o;
  }

  void incident(const Incident& inc) {
    bus_.publish(topics::kIncidents, inc);
    pump();
  }
  void publish_action(const RemediationAction& a) {
    bus_.publish(topics::kActions, a);
    pump();
  }
  void operator_decision(const std::string& action_id, ActionStatus decision, const std::string& service = "orders") {
    RemediationAction a;
    a.id = action_id;
    a.ts = clock_.now();
    a.service = service;
    a.status = decision;
    bus_.publish(topics::kActions, a);
    pump();
  }
  // One service-level metrics window of [now - 10s, now).
  void window(const std::string& service, bool healthy) {
    FeatureWindow w;
    w.id = "fw-" + std::to_string(++windows_);
    w.start = clock_.now() - 10 * kSec;
    w.end = clock_.now();
    w.service = service;
    w.set(std::string(feature_names::kErrorRatio), healthy ? 0.001 : 0.30);
    w.set(std::string(feature_names::kLatencyP95), healthy ? 0.08 : 2.5);
    w.set(std::string(feature_names::kPods), 3);
    w.set(std::string(feature_names::kPodsReady), 3);
    w.set(std::string(feature_names::kMemoryUtilMax), 0.45);
    w.set(std::string(feature_names::kCpuUtilMean), 0.30);
    bus_.publish(topics::kFeatures, w);
    pump();
  }
  // One metrics window of `service` with the given CPU utilisation (fraction of the limit).
  // `peak`: the window's highest scrape (cpu_utilization_max), when given.
  void cpu_window(const std::string& service, double cpu, double peak = kAbsent) {
    FeatureWindow w;
    w.id = "fw-" + std::to_string(++windows_);
    w.start = clock_.now() - 10 * kSec;
    w.end = clock_.now();
    w.service = service;
    w.set(std::string(feature_names::kCpuUtilMean), cpu);
    if (!is_absent(peak)) w.set(std::string(feature_names::kCpuUtilMax), peak);
    w.set(std::string(feature_names::kLatencyP95), 1.5);
    bus_.publish(topics::kFeatures, w);
    pump();
  }
  // Advances time in 10 s ticks, with one metrics window per tick for `service` when given.
  void advance(TimeMs by, const std::string& service = "", bool healthy = false) {
    for (TimeMs done = 0; done < by; done += 10 * kSec) {
      clock_.advance(10 * kSec);
      remediator->on_tick(clock_.now());
      pump();
      if (!service.empty()) window(service, healthy);
    }
  }
  void pump() {
    while (remediator->poll() > 0) {
    }
    std::vector<Delivery> got;
    while (audit_->poll(got, 1000) > 0) {
    }
    for (auto& d : got) {
      if (auto* a = std::get_if<RemediationAction>(&d.event)) actions.push_back(*a);
      if (auto* r = std::get_if<ActionResult>(&d.event)) results.push_back(*r);
    }
  }

  // The audit trail, filtered.
  std::vector<RemediationAction> with_status(ActionStatus s) const {
    std::vector<RemediationAction> out;
    for (const auto& a : actions)
      if (a.status == s) out.push_back(a);
    return out;
  }
  std::vector<ActionResult> results_with(ActionStatus s) const {
    std::vector<ActionResult> out;
    for (const auto& r : results)
      if (r.status == s) out.push_back(r);
    return out;
  }
  TimeMs now() const { return clock_.now(); }
  MetricsRegistry& metrics() { return metrics_; }

  testing::FakeKubernetes* kube = nullptr;
  std::unique_ptr<Remediator> remediator;
  std::vector<RemediationAction> actions;
  std::vector<ActionResult> results;

 private:
  MetricsRegistry metrics_;
  InProcessBus bus_;
  SimClock clock_;
  ConfigSchema schema_;
  Config config_;
  ServiceContext ctx_;
  std::unique_ptr<Subscription> audit_;
  int windows_ = 0;
};

Incident make_incident(IncidentType type, const std::string& service = "orders", const std::string& id = "inc-1",
                       std::uint32_t revision = 1) {
  Incident i;
  i.id = id;
  i.revision = revision;
  i.type = type;
  i.status = IncidentStatus::Open;
  i.service = service;
  i.namespace_name = "shop";
  i.opened_at = i.updated_at = kT0;
  return i;
}

std::vector<std::string> calls_of(const Harness& h) { return h.kube->calls; }

// ---------------------------------------------------------------------------------------------------
// Playbook defaults, as executed
// ---------------------------------------------------------------------------------------------------

TEST(Remediator, MemoryLeakDeletesTheIncidentsPod) {
  Harness h;
  auto inc = make_incident(IncidentType::MemoryLeak);
  inc.target_pod = h.kube->pods[1].name;
  h.incident(inc);
  ASSERT_EQ(calls_of(h), std::vector<std::string>{"delete_pod shop/" + inc.target_pod});
  auto ok = h.with_status(ActionStatus::Succeeded);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].kind, ActionKind::DeletePod);
  EXPECT_EQ(ok[0].target, inc.target_pod);
  EXPECT_EQ(ok[0].playbook, "memory-leak");
  EXPECT_EQ(ok[0].step, 0);
  EXPECT_EQ(ok[0].incident_id, "inc-1");
  EXPECT_NE(ok[0].reason.find("memory_leak on orders"), std::string::npos) << ok[0].reason;
  // executing, then succeeded, under one action id; and Kubernetes' answer as a result.
  ASSERT_EQ(h.with_status(ActionStatus::Executing).size(), 1u);
  EXPECT_EQ(h.with_status(ActionStatus::Executing)[0].id, ok[0].id);
  ASSERT_EQ(h.results_with(ActionStatus::Succeeded).size(), 1u);
  EXPECT_EQ(h.results_with(ActionStatus::Succeeded)[0].action_id, ok[0].id);
  EXPECT_NE(h.results_with(ActionStatus::Succeeded)[0].detail.find("HTTP 200"), std::string::npos);
}

TEST(Remediator, MemoryLeakWithoutTargetPodDeletesTheWorstPodFoundThroughTheApi) {
  Harness h;
  auto& oom = h.kube->pods[2];  // orders' third pod was OOM-killed twice
  oom.last_termination_reason = "OOMKilled";
  oom.restarts = 2;
  std::string expected = oom.name;
  h.incident(make_incident(IncidentType::MemoryLeak));
  EXPECT_EQ(calls_of(h), std::vector<std::string>{"delete_pod shop/" + expected});
  ASSERT_EQ(h.with_status(ActionStatus::Succeeded).size(), 1u);
  EXPECT_NE(h.with_status(ActionStatus::Succeeded)[0].reason.find("worst pod"), std::string::npos);
}

TEST(Remediator, CpuSaturationScalesUpByOne) {
  Harness h;
  h.incident(make_incident(IncidentType::CpuSaturation));
  EXPECT_EQ(calls_of(h), std::vector<std::string>{"scale_deployment shop/orders 4"});
  ASSERT_EQ(h.with_status(ActionStatus::Succeeded).size(), 1u);
  EXPECT_EQ(h.with_status(ActionStatus::Succeeded)[0].replicas, 4);
}

TEST(Remediator, CpuSaturationTakesTheSecondStepWhenTheFirstDoesNotRecover) {
  Harness h;
  h.incident(make_incident(IncidentType::CpuSaturation));
  h.advance(2 * kMin + 10 * kSec, "orders", /*healthy=*/false);
  EXPECT_EQ(calls_of(h), (std::vector<std::string>{"scale_deployment shop/orders 4", "scale_deployment shop/orders 5"}));
  auto ok = h.with_status(ActionStatus::Succeeded);
  ASSERT_EQ(ok.size(), 2u);
  EXPECT_EQ(ok[1].step, 1);
  EXPECT_NE(ok[1].reason.find("did not bring orders back within 2m"), std::string::npos) << ok[1].reason;
  EXPECT_NE(ok[1].reason.find("error_ratio"), std::string::npos) << ok[1].reason;
}

TEST(Remediator, TrafficSurgeScalesUpByTwo) {
  Harness h;
  h.incident(make_incident(IncidentType::TrafficSurge));
  EXPECT_EQ(calls_of(h), std::vector<std::string>{"scale_deployment shop/orders 5"});
}

TEST(Remediator, CrashLoopRestartsThenNotifies) {
  Harness h;
  h.incident(make_incident(IncidentType::CrashLoop));
  EXPECT_EQ(calls_of(h), std::vector<std::string>{"rollout_restart shop/orders"});
  h.advance(3 * kMin + 10 * kSec, "orders", false);
  EXPECT_EQ(calls_of(h).size(), 1u) << "a notification makes no Kubernetes call";
  auto ok = h.with_status(ActionStatus::Succeeded);
  ASSERT_EQ(ok.size(), 2u);
  EXPECT_EQ(ok[1].kind, ActionKind::NotifyOnly);
  EXPECT_NE(ok[1].reason.find("roll back"), std::string::npos) << ok[1].reason;
  // The playbook is exhausted without recovery: escalate.
  auto nr = h.results_with(ActionStatus::NotRecovered);
  ASSERT_EQ(nr.size(), 1u);
  EXPECT_EQ(nr[0].action_id, ok[0].id);
  EXPECT_NE(nr[0].detail.find("escalating"), std::string::npos) << nr[0].detail;
}

TEST(Remediator, BadStateClearsStateThenRestarts) {
  Harness h;
  h.incident(make_incident(IncidentType::BadState, "cache"));
  EXPECT_EQ(calls_of(h), std::vector<std::string>{"clear_state shop/cache"});
  h.advance(2 * kMin + 10 * kSec, "cache", false);
  EXPECT_EQ(calls_of(h), (std::vector<std::string>{"clear_state shop/cache", "rollout_restart shop/cache"}));
}

TEST(Remediator, ErrorBurstRestartsThenNotifies) {
  Harness h;
  h.incident(make_incident(IncidentType::ErrorBurst, "payments"));
  EXPECT_EQ(calls_of(h), std::vector<std::string>{"rollout_restart shop/payments"});
}

TEST(Remediator, DbLatencyDependencyOutageAndUnknownOnlyNotify) {
  for (IncidentType type : {IncidentType::DbLatency, IncidentType::DependencyOutage, IncidentType::Unknown}) {
    Harness h;
    h.incident(make_incident(type, "payments"));
    h.advance(10 * kMin, "payments", false);
    EXPECT_TRUE(calls_of(h).empty()) << to_string(type);
    ASSERT_EQ(h.actions.size(), 1u) << to_string(type);
    EXPECT_EQ(h.actions[0].kind, ActionKind::NotifyOnly);
    EXPECT_EQ(h.actions[0].status, ActionStatus::Succeeded);
    EXPECT_TRUE(h.results_with(ActionStatus::NotRecovered).empty()) << "nothing was tried, nothing to escalate";
  }
}

// ---------------------------------------------------------------------------------------------------
// Verification and escalation
// ---------------------------------------------------------------------------------------------------

TEST(Remediator, HealthyWindowsAfterTheActionVerifyIt) {
  Harness h;
  h.incident(make_incident(IncidentType::ErrorBurst));
  // Baseline-free: absolute ceilings. Two healthy windows are not yet enough (3 required).
  h.advance(20 * kSec, "orders", true);
  EXPECT_TRUE(h.results_with(ActionStatus::Verified).empty());
  h.advance(10 * kSec, "orders", true);
  auto v = h.results_with(ActionStatus::Verified);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].action_id, h.with_status(ActionStatus::Succeeded)[0].id);
  EXPECT_NE(v[0].detail.find("3 consecutive windows"), std::string::npos) << v[0].detail;
  // Verified: no further step even after the deadline.
  h.advance(5 * kMin, "orders", false);
  EXPECT_EQ(calls_of(h).size(), 1u);
  EXPECT_TRUE(h.results_with(ActionStatus::NotRecovered).empty());
}

TEST(Remediator, AnUnhealthyWindowResetsTheStreak) {
  Harness h;
  h.incident(make_incident(IncidentType::ErrorBurst));
  h.advance(20 * kSec, "orders", true);
  h.advance(10 * kSec, "orders", false);
  h.advance(20 * kSec, "orders", true);
  EXPECT_TRUE(h.results_with(ActionStatus::Verified).empty());
  h.advance(10 * kSec, "orders", true);
  EXPECT_EQ(h.results_with(ActionStatus::Verified).size(), 1u);
}

TEST(Remediator, ClassifierResolvingTheIncidentVerifiesTheStepInFlight) {
  Harness h;
  auto inc = make_incident(IncidentType::CpuSaturation);
  h.incident(inc);
  inc.revision = 2;
  inc.status = IncidentStatus::Resolved;
  h.incident(inc);
  auto v = h.results_with(ActionStatus::Verified);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_NE(v[0].detail.find("resolved by the classifier"), std::string::npos);
  h.advance(5 * kMin, "orders", false);
  EXPECT_EQ(calls_of(h).size(), 1u);
}

TEST(Remediator, VerifyThenNextStepThenEscalate) {
  Harness h;
  auto inc = make_incident(IncidentType::MemoryLeak);
  inc.target_pod = h.kube->pods[0].name;
  h.incident(inc);
  h.advance(3 * kMin + 10 * kSec, "orders", false);  // step 1's deadline (3m) passes
  ASSERT_EQ(calls_of(h).size(), 2u);
  EXPECT_EQ(calls_of(h)[1], "rollout_restart shop/orders");
  EXPECT_TRUE(h.results_with(ActionStatus::NotRecovered).empty()) << "still a step to take: no escalation yet";
  h.advance(5 * kMin + 10 * kSec, "orders", false);  // step 2's deadline (5m) passes
  auto nr = h.results_with(ActionStatus::NotRecovered);
  ASSERT_EQ(nr.size(), 1u);
  EXPECT_EQ(nr[0].incident_id, "inc-1");
  EXPECT_EQ(nr[0].action_id, h.with_status(ActionStatus::Succeeded).back().id);
  EXPECT_NE(nr[0].detail.find("playbook memory-leak exhausted"), std::string::npos) << nr[0].detail;
  EXPECT_NE(nr[0].detail.find("escalating"), std::string::npos) << nr[0].detail;
  h.advance(10 * kMin, "orders", false);
  EXPECT_EQ(calls_of(h).size(), 2u);
  EXPECT_EQ(h.results_with(ActionStatus::NotRecovered).size(), 1u);
}

// ---------------------------------------------------------------------------------------------------
// Idempotency and relapses
// ---------------------------------------------------------------------------------------------------

TEST(Remediator, DuplicateSnapshotsCauseNoDuplicateAction) {
  Harness h;
  auto inc = make_incident(IncidentType::CrashLoop);
  h.incident(inc);
  h.incident(inc);  // redelivered
  inc.revision = 2;
  inc.status = IncidentStatus::Mitigating;  // the classifier saw our action
  h.incident(inc);
  inc.revision = 3;
  inc.evidence.push_back(Evidence{"metric", "restarts", "more restarts", 4, 0, kT0});
  h.incident(inc);
  inc.revision = 2;  // stale, out of order
  h.incident(inc);
  EXPECT_EQ(calls_of(h), std::vector<std::string>{"rollout_restart shop/orders"});
  EXPECT_EQ(h.with_status(ActionStatus::Succeeded).size(), 1u);
}

// A relapse within the cooldown of the incident's own earlier step: the cooldown holds the new
// run's step back (recorded as skipped, with the reason), but that is no reason to escalate: the
// step waits out the cooldown and is taken then, with an id derived from the deferral.
TEST(Remediator, RelapseWithinTheCooldownDefersTheStepInsteadOfEscalating) {
  Harness h;
  auto inc = make_incident(IncidentType::ErrorBurst);
  h.incident(inc);
  inc.revision = 2;
  inc.status = IncidentStatus::Resolved;
  h.incident(inc);
  h.advance(kMin);
  inc.revision = 3;
  inc.status = IncidentStatus::Open;  // relapse within the 5m cooldown
  h.incident(inc);
  EXPECT_EQ(calls_of(h).size(), 1u);
  auto skipped = h.with_status(ActionStatus::Skipped);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].reason.rfind("cooldown: shop/orders was acted on 1m", 0), 0u) << skipped[0].reason;
  EXPECT_NE(skipped[0].reason.find("deferred to "), std::string::npos) << skipped[0].reason;
  EXPECT_TRUE(h.results_with(ActionStatus::NotRecovered).empty()) << "held back by its own step: no escalation";

  // Still held a little before the cooldown ends, taken once it has.
  h.advance(3 * kMin + 50 * kSec);
  EXPECT_EQ(calls_of(h).size(), 1u);
  h.advance(10 * kSec);
  ASSERT_EQ(calls_of(h).size(), 2u);
  auto ok = h.with_status(ActionStatus::Succeeded);
  ASSERT_EQ(ok.size(), 2u);
  EXPECT_EQ(ok[1].id, skipped[0].id + "~retry") << "a timer's action derives its id from what it acts on";
  EXPECT_NE(ok[1].reason.find("relapse of inc-1"), std::string::npos) << ok[1].reason;
  EXPECT_TRUE(h.results_with(ActionStatus::NotRecovered).empty());
  EXPECT_EQ(h.with_status(ActionStatus::Skipped).size(), 1u);
}

TEST(Remediator, ADeferredStepIsDroppedWhenTheIncidentResolvesMeanwhile) {
  Harness h;
  auto inc = make_incident(IncidentType::ErrorBurst);
  h.incident(inc);
  inc.revision = 2;
  inc.status = IncidentStatus::Resolved;
  h.incident(inc);
  h.advance(kMin);
  inc.revision = 3;
  inc.status = IncidentStatus::Open;
  h.incident(inc);
  ASSERT_EQ(h.with_status(ActionStatus::Skipped).size(), 1u);
  inc.revision = 4;
  inc.status = IncidentStatus::Resolved;
  h.incident(inc);
  h.advance(6 * kMin);
  EXPECT_EQ(calls_of(h).size(), 1u);
  EXPECT_TRUE(h.results_with(ActionStatus::NotRecovered).empty());
}

// Another incident on the same workload within the cooldown is refused for good: that is the
// cooldown's purpose (two faults' playbooks must not take turns on one deployment).
TEST(Remediator, AnotherIncidentWithinTheCooldownIsRefusedAndEscalated) {
  Harness h;
  h.incident(make_incident(IncidentType::ErrorBurst, "orders", "inc-1"));
  h.advance(kMin);
  h.incident(make_incident(IncidentType::CrashLoop, "orders", "inc-2"));
  EXPECT_EQ(calls_of(h).size(), 1u);
  auto skipped = h.with_status(ActionStatus::Skipped);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].incident_id, "inc-2");
  EXPECT_EQ(skipped[0].reason.find("deferred"), std::string::npos) << skipped[0].reason;
  auto gave_up = h.results_with(ActionStatus::NotRecovered);
  ASSERT_EQ(gave_up.size(), 1u);
  EXPECT_EQ(gave_up[0].incident_id, "inc-2");
  EXPECT_NE(gave_up[0].detail.find("guardrail cooldown"), std::string::npos);
  h.advance(6 * kMin);
  EXPECT_EQ(calls_of(h).size(), 1u);

  // After the cooldown a relapse of the first is acted on again at once.
  auto inc = make_incident(IncidentType::ErrorBurst, "orders", "inc-1", 2);
  inc.status = IncidentStatus::Resolved;
  h.incident(inc);
  inc.revision = 3;
  inc.status = IncidentStatus::Open;
  h.incident(inc);
  EXPECT_EQ(calls_of(h).size(), 2u);
}

// ---------------------------------------------------------------------------------------------------
// Guardrails as the audit trail shows them
// ---------------------------------------------------------------------------------------------------

TEST(Remediator, KillSwitchStopsEverythingAndSaysSo) {
  auto o = Harness::quiet_options();
  o.kill_switch = true;
  Harness h(o);
  h.incident(make_incident(IncidentType::CrashLoop));
  EXPECT_TRUE(calls_of(h).empty());
  auto s = h.with_status(ActionStatus::Skipped);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].reason.rfind("kill_switch: all actions are stopped", 0), 0u) << s[0].reason;
  EXPECT_EQ(h.results_with(ActionStatus::NotRecovered).size(), 1u);
}

TEST(Remediator, KillSwitchFlipsAtRuntimeThroughItsFile) {
  auto file = std::filesystem::temp_directory_path() / ("selfheal-rem-kill-" + std::to_string(::getpid()));
  std::filesystem::remove(file);
  auto o = Harness::quiet_options();
  o.kill_switch_file = file.string();
  Harness h(o);
  std::ofstream(file) << "";
  h.incident(make_incident(IncidentType::CrashLoop, "orders", "inc-1"));
  EXPECT_TRUE(calls_of(h).empty());
  std::filesystem::remove(file);
  h.incident(make_incident(IncidentType::CrashLoop, "payments", "inc-2"));
  EXPECT_EQ(calls_of(h), std::vector<std::string>{"rollout_restart shop/payments"});
  h.remediator->kill_switch().set_runtime(true);
  h.incident(make_incident(IncidentType::CrashLoop, "search", "inc-3"));
  EXPECT_EQ(calls_of(h).size(), 1u);
  EXPECT_EQ(h.with_status(ActionStatus::Skipped).size(), 2u);
}

TEST(Remediator, DryRunDecidesButNeverCallsTheApi) {
  auto o = Harness::quiet_options();
  o.dry_run = true;
  Harness h(o);
  auto inc = make_incident(IncidentType::MemoryLeak);
  inc.target_pod = h.kube->pods[0].name;
  h.incident(inc);
  for (const auto& c : calls_of(h)) ADD_FAILURE() << "dry run called " << c;
  auto d = h.with_status(ActionStatus::DryRun);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(d[0].dry_run);
  EXPECT_EQ(d[0].target, inc.target_pod);
  // The run goes on as it would live: next step after the deadline, also only recorded.
  h.advance(3 * kMin + 10 * kSec, "orders", false);
  EXPECT_TRUE(calls_of(h).empty());
  ASSERT_EQ(h.with_status(ActionStatus::DryRun).size(), 2u);
  EXPECT_EQ(h.with_status(ActionStatus::DryRun)[1].kind, ActionKind::RolloutRestart);
}

TEST(Remediator, NamespaceOutsideTheAllowlistIsSkipped) {
  Harness h;
  auto inc = make_incident(IncidentType::CrashLoop);
  inc.namespace_name = "kube-system";
  h.incident(inc);
  EXPECT_TRUE(calls_of(h).empty());
  auto s = h.with_status(ActionStatus::Skipped);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].reason.rfind("namespace_allowlist: namespace 'kube-system'", 0), 0u) << s[0].reason;
}

TEST(Remediator, RateLimitPerServiceIsRecorded) {
  auto o = Harness::quiet_options();
  o.cooldown_ms = 0;
  o.max_actions_per_hour_per_service = 1;
  Harness h(o);
  h.incident(make_incident(IncidentType::CrashLoop, "orders", "inc-1"));
  h.incident(make_incident(IncidentType::ErrorBurst, "orders", "inc-2"));
  EXPECT_EQ(calls_of(h).size(), 1u);
  auto s = h.with_status(ActionStatus::Skipped);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].incident_id, "inc-2");
  EXPECT_EQ(s[0].reason.rfind("rate_limit: 1 actions on shop/orders", 0), 0u) << s[0].reason;
  h.incident(make_incident(IncidentType::ErrorBurst, "payments", "inc-3"));
  EXPECT_EQ(calls_of(h).size(), 2u) << "another service has its own allowance";
}

TEST(Remediator, MaxReplicasCapsAndRefuses) {
  auto o = Harness::quiet_options();
  o.max_replicas = 4;
  Harness h(o);
  h.incident(make_incident(IncidentType::TrafficSurge, "orders", "inc-1"));  // 3 + 2 -> capped at 4
  EXPECT_EQ(calls_of(h), std::vector<std::string>{"scale_deployment shop/orders 4"});
  auto ok = h.with_status(ActionStatus::Succeeded);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_NE(ok[0].reason.find("capped at 4"), std::string::npos) << ok[0].reason;
  h.incident(make_incident(IncidentType::CpuSaturation, "orders", "inc-2"));  // already at 4
  EXPECT_EQ(calls_of(h).size(), 1u);
  // (the cooldown would also hold it: check on another service at the maximum)
  h.kube->deployments["shop/search"].replicas = 4;
  h.incident(make_incident(IncidentType::CpuSaturation, "search", "inc-3"));
  EXPECT_EQ(calls_of(h).size(), 1u);
  auto s = h.with_status(ActionStatus::Skipped);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].reason.rfind("max_replicas:", 0), 0u) << s[1].reason;
}

TEST(Remediator, DisruptionBudgetRefusesWhenTooManyPodsAreDown) {
  auto o = Harness::quiet_options();
  o.max_disruption_percent = 34;  // ceil(3 x 34%) = 2 pods of 3
  Harness h(o);
  h.kube->pods[0].ready = false;
  h.kube->pods[1].ready = false;  // orders: 2 of 3 already down
  auto inc = make_incident(IncidentType::MemoryLeak);
  inc.target_pod = h.kube->pods[2].name;  // the last ready pod
  h.incident(inc);
  EXPECT_TRUE(calls_of(h).empty());
  auto s = h.with_status(ActionStatus::Skipped);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].reason.rfind("disruption_budget: 2 of 3 pods of shop/orders are unavailable", 0), 0u) << s[0].reason;
}

// ---------------------------------------------------------------------------------------------------
// Approval mode
// ---------------------------------------------------------------------------------------------------

RemediatorOptions approval_options() {
  auto o = Harness::quiet_options();
  o.approval_required = true;
  o.approval_timeout_ms = 10 * kMin;
  return o;
}

TEST(Remediator, ApprovalPendingThenApprovedThenExecuted) {
  Harness h(approval_options());
  h.incident(make_incident(IncidentType::CrashLoop));
  EXPECT_TRUE(calls_of(h).empty());
  auto p = h.with_status(ActionStatus::Pending);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].reason.find("waiting for approval"), std::string::npos);
  EXPECT_EQ(h.remediator->pending_approvals(), 1u);
  h.advance(2 * kMin);
  h.operator_decision(p[0].id, ActionStatus::Approved);
  EXPECT_EQ(calls_of(h), std::vector<std::string>{"rollout_restart shop/orders"});
  auto ok = h.with_status(ActionStatus::Succeeded);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].id, p[0].id) << "the approved action keeps its id";
  EXPECT_NE(ok[0].reason.find("approved by an operator"), std::string::npos);
  EXPECT_EQ(h.remediator->pending_approvals(), 0u);
  // A second approval of the same id does nothing.
  h.operator_decision(p[0].id, ActionStatus::Approved);
  EXPECT_EQ(calls_of(h).size(), 1u);
}

TEST(Remediator, ApprovalRejectedStopsThePlaybook) {
  Harness h(approval_options());
  h.incident(make_incident(IncidentType::CpuSaturation));
  auto p = h.with_status(ActionStatus::Pending);
  ASSERT_EQ(p.size(), 1u);
  h.operator_decision(p[0].id, ActionStatus::Rejected);
  h.advance(20 * kMin, "orders", false);
  EXPECT_TRUE(calls_of(h).empty());
  auto r = h.with_status(ActionStatus::Rejected);
  ASSERT_GE(r.size(), 1u);
  EXPECT_NE(r.back().reason.find("rejected by an operator"), std::string::npos);
  EXPECT_EQ(h.with_status(ActionStatus::Pending).size(), 1u) << "no next step is proposed";
}

TEST(Remediator, ApprovalTimesOut) {
  Harness h(approval_options());
  h.incident(make_incident(IncidentType::CrashLoop));
  h.advance(9 * kMin + 50 * kSec);
  EXPECT_TRUE(h.with_status(ActionStatus::Skipped).empty());
  h.advance(10 * kSec);
  auto s = h.with_status(ActionStatus::Skipped);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].reason, "approval: no operator decision within 10m");
  EXPECT_EQ(h.results_with(ActionStatus::NotRecovered).size(), 1u);
  h.operator_decision(s[0].id, ActionStatus::Approved);  // too late
  EXPECT_TRUE(calls_of(h).empty());
}

TEST(Remediator, ApprovalRechecksGuardrailsBeforeExecuting) {
  Harness h(approval_options());
  h.incident(make_incident(IncidentType::CrashLoop));
  auto p = h.with_status(ActionStatus::Pending);
  ASSERT_EQ(p.size(), 1u);
  h.remediator->kill_switch().set_runtime(true);
  h.operator_decision(p[0].id, ActionStatus::Approved);
  EXPECT_TRUE(calls_of(h).empty());
  ASSERT_EQ(h.with_status(ActionStatus::Skipped).size(), 1u);
  EXPECT_EQ(h.with_status(ActionStatus::Skipped)[0].reason.rfind("kill_switch", 0), 0u);
}

TEST(Remediator, ManualRequestFromTheApiPassesTheGuardrails) {
  Harness h;
  RemediationAction req;
  req.id = "api-r1-7";
  req.ts = h.now();
  req.service = "search";
  req.namespace_name = "shop";
  req.kind = ActionKind::RolloutRestart;
  req.target = "search";
  req.status = ActionStatus::Pending;
  req.reason = "manual request";
  h.publish_action(req);
  EXPECT_EQ(calls_of(h), std::vector<std::string>{"rollout_restart shop/search"});
  auto ok = h.with_status(ActionStatus::Succeeded);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].id, "api-r1-7");

  // In a forbidden namespace it is refused like any other action, and nothing escalates.
  req.id = "api-r1-8";
  req.namespace_name = "kube-system";
  h.publish_action(req);
  EXPECT_EQ(calls_of(h).size(), 1u);
  auto s = h.with_status(ActionStatus::Skipped);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].id, "api-r1-8");
  EXPECT_EQ(s[0].reason.rfind("namespace_allowlist", 0), 0u) << s[0].reason;
  EXPECT_TRUE(h.results_with(ActionStatus::NotRecovered).empty());

  // A malformed request is refused naming the field, and nothing else is lost.
  RemediationAction scale = req;
  scale.id = "api-r1-9";
  scale.namespace_name = "shop";
  scale.kind = ActionKind::ScaleDeployment;
  scale.replicas = 0;
  h.publish_action(scale);
  EXPECT_EQ(calls_of(h).size(), 1u) << "never scale to a default of 0";
  s = h.with_status(ActionStatus::Skipped);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].reason.rfind("invalid request: field 'replicas'", 0), 0u) << s[1].reason;
  scale.id = "api-r1-10";
  scale.replicas = 5;
  h.publish_action(scale);  // search was just restarted: the cooldown holds manual requests too
  EXPECT_EQ(calls_of(h).size(), 1u);
  EXPECT_EQ(h.with_status(ActionStatus::Skipped).back().reason.rfind("cooldown", 0), 0u);
  scale.id = "api-r1-11";
  scale.service = scale.target = "payments";
  h.publish_action(scale);
  EXPECT_EQ(calls_of(h).back(), "scale_deployment shop/payments 5");
}

// ---------------------------------------------------------------------------------------------------
// Kubernetes errors
// ---------------------------------------------------------------------------------------------------

TEST(Remediator, AReplacedTargetPodFallsBackToTheWorstLivePod) {
  Harness h;
  h.kube->pods[1].restarts = 3;
  auto inc = make_incident(IncidentType::MemoryLeak);
  inc.target_pod = "orders-6d5f7c9b8a-gone1";  // replaced since the classifier saw it
  h.incident(inc);
  ASSERT_EQ(calls_of(h).size(), 1u);
  EXPECT_EQ(calls_of(h)[0], "delete_pod shop/orders-6d5f7c9b8a-bxk2p");
  auto ok = h.with_status(ActionStatus::Succeeded);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_NE(ok[0].reason.find("orders-6d5f7c9b8a-gone1 no longer exists"), std::string::npos) << ok[0].reason;
}

TEST(Remediator, NotFoundIsRecordedAsFailedAndTheNextStepIsTaken) {
  Harness h;
  auto inc = make_incident(IncidentType::MemoryLeak);
  inc.target_pod = h.kube->pods[0].name;
  h.kube->failures["delete_pod"] = K8sResult{false, 404, "NotFound", "pods \"" + inc.target_pod + "\" not found"};
  h.incident(inc);
  auto f = h.with_status(ActionStatus::Failed);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_NE(f[0].reason.find("HTTP 404 NotFound"), std::string::npos) << f[0].reason;
  auto fr = h.results_with(ActionStatus::Failed);
  ASSERT_EQ(fr.size(), 1u);
  EXPECT_NE(fr[0].detail.find("404"), std::string::npos);
  // The next step (rollout restart) follows at once, saying why.
  EXPECT_EQ(calls_of(h).back(), "rollout_restart shop/orders");
  auto ok = h.with_status(ActionStatus::Succeeded);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_NE(ok[0].reason.find("step 1/2 (delete_pod) failed"), std::string::npos) << ok[0].reason;
}

TEST(Remediator, ConflictIsRecordedAsFailed) {
  Harness h;
  h.kube->failures["scale_deployment"] = K8sResult{false, 409, "Conflict", "the object has been modified"};
  h.incident(make_incident(IncidentType::TrafficSurge));
  auto f = h.with_status(ActionStatus::Failed);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_NE(f[0].reason.find("HTTP 409 Conflict: the object has been modified"), std::string::npos) << f[0].reason;
  // Single-step playbook: the failure escalates.
  auto nr = h.results_with(ActionStatus::NotRecovered);
  ASSERT_EQ(nr.size(), 1u);
  EXPECT_NE(nr[0].detail.find("failed"), std::string::npos) << nr[0].detail;
}

TEST(Remediator, ConnectionRefusedIsRecordedAsFailed) {
  Harness h;
  K8sResult refused{false, 0, "", "https://127.0.0.1:6443: connection refused"};
  h.kube->failures["get_deployment"] = refused;
  h.kube->failures["rollout_restart"] = refused;
  h.incident(make_incident(IncidentType::CrashLoop));
  auto f = h.with_status(ActionStatus::Failed);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_NE(f[0].reason.find("no answer: https://127.0.0.1:6443: connection refused"), std::string::npos)
      << f[0].reason;
  ASSERT_EQ(h.results_with(ActionStatus::Failed).size(), 1u);
  ASSERT_EQ(h.with_status(ActionStatus::Succeeded).size(), 1u) << "then the notify step";
  EXPECT_EQ(h.with_status(ActionStatus::Succeeded)[0].kind, ActionKind::NotifyOnly);
  // Nothing worked: escalate, pointing at the failed restart.
  auto nr = h.results_with(ActionStatus::NotRecovered);
  ASSERT_EQ(nr.size(), 1u);
  EXPECT_EQ(nr[0].action_id, f[0].id);
}

TEST(Remediator, MetricsCountDecisionsAndRefusals) {
  auto o = Harness::quiet_options();
  o.kill_switch = true;
  Harness h(o);
  h.incident(make_incident(IncidentType::CrashLoop));
  std::string text = h.metrics().render();
  EXPECT_NE(text.find("selfheal_remediator_guardrail_refusals_total{guardrail=\"kill_switch\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("selfheal_remediator_decisions_total{status=\"skipped\"} 1"), std::string::npos);
}

}  // namespace
}  // namespace selfheal::remediation

namespace selfheal::remediation {
namespace {

TEST(Remediator, RetypedIncidentFollowsTheNewPlaybookWithoutTheCooldown) {
  Harness h;
  auto inc = make_incident(IncidentType::Unknown);
  h.incident(inc);  // notify only
  EXPECT_TRUE(calls_of(h).empty());
  inc.revision = 2;
  inc.type = IncidentType::CrashLoop;
  h.incident(inc);
  EXPECT_EQ(calls_of(h), std::vector<std::string>{"rollout_restart shop/orders"});
  // Retyped again while the restart is being verified: the restart gets its chance first.
  inc.revision = 3;
  inc.type = IncidentType::TrafficSurge;
  h.incident(inc);
  EXPECT_EQ(calls_of(h).size(), 1u);
  h.advance(3 * kMin + 10 * kSec, "orders", false);
  EXPECT_EQ(calls_of(h), (std::vector<std::string>{"rollout_restart shop/orders", "scale_deployment shop/orders 5"}));
  EXPECT_TRUE(h.with_status(ActionStatus::Skipped).empty()) << "same fault: the cooldown does not apply";
}

TEST(RecoveryCheck, LearnsTheBandAndJudgesByIncidentType) {
  RecoveryCheck check;
  FeatureWindow w;
  w.service = "orders";
  w.set(std::string(feature_names::kErrorRatio), 0.10);  // this service normally fails 10%
  w.set(std::string(feature_names::kLatencyP95), 0.2);
  w.set(std::string(feature_names::kCpuUtilMean), 0.5);
  // Before a baseline exists, absolute ceilings apply: 10% errors is too many.
  EXPECT_NE(check.problems(w, IncidentType::ErrorBurst).find("error_ratio"), std::string::npos);
  for (int i = 0; i < 10; ++i) check.observe(w, true);
  EXPECT_EQ(check.problems(w, IncidentType::ErrorBurst), "");
  // Learning is off while an incident is open: a bad window does not move the band.
  FeatureWindow bad = w;
  bad.set(std::string(feature_names::kErrorRatio), 0.6);
  for (int i = 0; i < 50; ++i) check.observe(bad, false);
  EXPECT_NE(check.problems(bad, IncidentType::ErrorBurst).find("error_ratio 0.6 > 0.2"), std::string::npos)
      << check.problems(bad, IncidentType::ErrorBurst);
  // CPU counts for capacity incidents only; unready (warming) pods only for the others.
  FeatureWindow hot = w;
  hot.set(std::string(feature_names::kCpuUtilMean), 0.95);
  hot.set(std::string(feature_names::kPods), 4);
  hot.set(std::string(feature_names::kPodsReady), 3);
  EXPECT_NE(check.problems(hot, IncidentType::CpuSaturation).find("cpu_utilization_mean"), std::string::npos);
  EXPECT_EQ(check.problems(hot, IncidentType::CpuSaturation).find("pods ready"), std::string::npos);
  EXPECT_NE(check.problems(hot, IncidentType::CrashLoop).find("pods ready 3/4"), std::string::npos);
  EXPECT_EQ(check.problems(hot, IncidentType::CrashLoop).find("cpu"), std::string::npos);
}

}  // namespace
}  // namespace selfheal::remediation

#include <httplib.h>

#include "core/http_server.hpp"

namespace selfheal::remediation {
namespace {

TEST(Remediator, KillSwitchFlipsThroughTheAdminRoute) {
  MetricsRegistry metrics;
  InProcessBus bus({4, 1024}, &metrics);
  SimClock clock(kT0);
  ConfigSchema schema;
  Config config(schema);
  AdminServer admin("127.0.0.1:0", metrics);
  ServiceContext ctx{bus, clock, config, metrics, nullptr, &admin, "r1"};
  auto o = Harness::quiet_options();
  Remediator r(o, PlaybookSet::defaults(), std::make_unique<testing::FakeKubernetes>());
  r.start(ctx);
  admin.start();
  httplib::Client client("127.0.0.1", admin.port());
  auto res = client.Post("/remediator/kill-switch?on=true", "", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("\"engaged\":true"), std::string::npos) << res->body;
  EXPECT_NE(r.kill_switch().engaged_by().find("runtime"), std::string::npos);
  res = client.Post("/remediator/kill-switch?on=maybe", "", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("'on'"), std::string::npos);
  res = client.Post("/remediator/kill-switch?on=false", "", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_TRUE(r.kill_switch().engaged_by().empty());
  res = client.Get("/remediator/kill-switch");
  ASSERT_TRUE(res);
  EXPECT_NE(res->body.find("\"engaged\":false"), std::string::npos) << res->body;
  admin.stop();
}

// ---------------------------------------------------------------------------------------------------
// Shipped defaults: capacity steps sized for the measured load
// ---------------------------------------------------------------------------------------------------

TEST(RemediatorDefaults, CpuSaturationScalesToFitTheMeasuredLoad) {
  Harness h(Harness::quiet_options(), PlaybookSet::defaults());
  h.cpu_window("orders", 0.70);  // 3 pods at 70%: 4 pods bring it to 52%, under the 60% target
  h.incident(make_incident(IncidentType::CpuSaturation));
  ASSERT_EQ(calls_of(h), std::vector<std::string>{"scale_deployment shop/orders 4"});
  auto ok = h.with_status(ActionStatus::Succeeded);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_NE(ok[0].reason.find("CPU at 70% of limit on 3 pods"), std::string::npos) << ok[0].reason;
}

TEST(RemediatorDefaults, SaturatedServiceAtLeastTriplesAndStepsOnWhileStillSaturated) {
  Harness h(Harness::quiet_options(), PlaybookSet::defaults());
  h.cpu_window("orders", 0.97);  // at the limit: the true demand is hidden
  h.incident(make_incident(IncidentType::CpuSaturation));
  ASSERT_EQ(calls_of(h), std::vector<std::string>{"scale_deployment shop/orders 9"});
  // Still saturated when the 90 s verification runs out: the second step grows again (capped at 10).
  for (int i = 0; i < 10; ++i) {
    h.advance(10 * kSec);
    h.cpu_window("orders", 0.95);
  }
  ASSERT_EQ(calls_of(h).size(), 2u);
  EXPECT_EQ(calls_of(h)[1], "scale_deployment shop/orders 10");  // 27 asked, capped by max_replicas
}

TEST(RemediatorDefaults, PodsPinnedAtTheLimitCountAsSaturatedBeforeTheMeanShowsIt) {
  // 25 s into a spike the 60 s window's mean still averages the calm minute before (65%), but its
  // peak scrape is at the limit: sized as saturated, not as "65% fits on 4 pods".
  Harness h(Harness::quiet_options(), PlaybookSet::defaults());
  h.cpu_window("orders", 0.65, 1.01);
  h.incident(make_incident(IncidentType::CpuSaturation));
  ASSERT_EQ(calls_of(h), std::vector<std::string>{"scale_deployment shop/orders 9"});
  auto ok = h.with_status(ActionStatus::Succeeded);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_NE(ok[0].reason.find("peak 101%"), std::string::npos) << ok[0].reason;
}

TEST(RemediatorDefaults, TrafficSurgeAlsoSizesTheSaturatedServicesOfTheIncident) {
  Harness h(Harness::quiet_options(), PlaybookSet::defaults());
  h.cpu_window("orders", 0.99);
  h.cpu_window("payments", 0.90);  // saturated behind the entry service
  h.cpu_window("search", 0.40);    // loaded but not saturated: left alone
  auto inc = make_incident(IncidentType::TrafficSurge);
  inc.affected_services = {"orders", "payments", "search"};
  h.incident(inc);
  EXPECT_EQ(calls_of(h), (std::vector<std::string>{"scale_deployment shop/orders 9", "scale_deployment shop/payments 9"}));
}

TEST(RemediatorDefaults, ActionsAreCountedByKindAndOutcome) {
  Harness h(Harness::quiet_options(), PlaybookSet::defaults());
  h.cpu_window("orders", 0.70);
  h.incident(make_incident(IncidentType::CpuSaturation));
  h.incident(make_incident(IncidentType::DependencyOutage, "payments", "inc-2"));
  const std::string text = h.metrics().render();
  EXPECT_NE(text.find("selfheal_remediation_actions_total{kind=\"scale_deployment\",outcome=\"succeeded\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("selfheal_remediation_actions_total{kind=\"notify_only\",outcome=\"succeeded\"} 1"),
            std::string::npos)
      << text;
}

// ---------------------------------------------------------------------------------------------------
// Checkpoints (KeyedState): a restored remediator goes on as the one it replaces
// ---------------------------------------------------------------------------------------------------

// The part of an action that does not depend on which process minted a handler's id.
std::string decision_of(const RemediationAction& a) {
  return a.incident_id + " " + std::string(to_string(a.kind)) + " " + std::string(to_string(a.status)) + ": " +
         a.reason;
}
std::vector<std::string> decisions_since(const Harness& h, std::size_t from) {
  std::vector<std::string> out;
  for (std::size_t i = from; i < h.actions.size(); ++i) out.push_back(decision_of(h.actions[i]));
  return out;
}
std::vector<std::string> calls_since(const Harness& h, std::size_t from) {
  return std::vector<std::string>(h.kube->calls.begin() + static_cast<std::ptrdiff_t>(from), h.kube->calls.end());
}

// A handled a memory leak on orders: step 1 (delete_pod) executed, its verification under way with
// unhealthy windows, the cooldown on shop/orders active, orders' band learned. B restores A's
// checkpoint of orders; C is as fresh as B but restores nothing. Then all three get the same input:
// a new snapshot revision of the first incident, another incident on orders within the cooldown,
// the verification deadline passing.
TEST(RemediatorCheckpoint, ARestoredRemediatorMakesTheSameDecisionsAsTheOneItReplaces) {
  Harness a, b, c;
  a.advance(kMin, "orders", true);  // 6 healthy windows: orders' band is learned
  auto inc = make_incident(IncidentType::MemoryLeak);
  inc.target_pod = a.kube->pods[1].name;
  a.incident(inc);
  ASSERT_EQ(calls_of(a), std::vector<std::string>{"delete_pod shop/" + inc.target_pod});
  a.advance(kMin, "orders", false);  // verifying, still wrong
  const nlohmann::json state = a.remediator->save_key("orders");
  ASSERT_TRUE(state.is_object());
  EXPECT_TRUE(a.remediator->save_key("payments").is_null()) << "nothing is held for payments";

  b.advance(2 * kMin);  // the same event time, nothing handled
  c.advance(2 * kMin);
  b.remediator->restore_key("orders", state);
  EXPECT_EQ(b.remediator->save_key("orders"), state) << "a restore holds exactly what was saved";

  const std::size_t a_from = a.actions.size(), a_calls = a.kube->calls.size();
  const std::size_t a_results = a.results.size();
  for (Harness* h : {&a, &b, &c}) {
    auto next = inc;
    next.revision = 2;
    next.status = IncidentStatus::Mitigating;
    h->incident(next);
    h->incident(make_incident(IncidentType::ErrorBurst, "orders", "inc-2"));  // 1m after step 1: cooldown
  }
  // C, without the checkpoint, takes the known incident for a new one and acts on orders again at
  // once (then refuses inc-2 by its own fresh cooldown): what the checkpoint prevents.
  EXPECT_EQ(calls_of(c), std::vector<std::string>{"delete_pod shop/" + inc.target_pod});
  EXPECT_EQ(calls_since(a, a_calls), std::vector<std::string>{});
  EXPECT_EQ(calls_of(b), std::vector<std::string>{});
  for (Harness* h : {&a, &b, &c}) h->advance(2 * kMin, "orders", false);  // step 1's 3m deadline passes

  // A: inc-2 refused by the cooldown and escalated; inc-1's step 2 taken at its deadline.
  ASSERT_EQ(calls_since(a, a_calls), std::vector<std::string>{"rollout_restart shop/orders"});
  const auto a_decisions = decisions_since(a, a_from);
  ASSERT_FALSE(a_decisions.empty());
  EXPECT_EQ(a_decisions[0].rfind("inc-2 rollout_restart skipped: cooldown: shop/orders was acted on 1m", 0), 0u)
      << a_decisions[0];
  // B decides exactly as A, and the timer-made ids are A's.
  EXPECT_EQ(calls_of(b), calls_since(a, a_calls));
  EXPECT_EQ(decisions_since(b, 0), a_decisions);
  std::vector<std::string> a_timer_ids, b_timer_ids;
  for (std::size_t i = a_from; i < a.actions.size(); ++i)
    if (a.actions[i].id.find('~') != std::string::npos) a_timer_ids.push_back(a.actions[i].id);
  for (const auto& x : b.actions)
    if (x.id.find('~') != std::string::npos) b_timer_ids.push_back(x.id);
  ASSERT_FALSE(a_timer_ids.empty());
  EXPECT_EQ(a_timer_ids.front(), a.with_status(ActionStatus::Succeeded)[0].id + "~deadline");
  EXPECT_EQ(b_timer_ids, a_timer_ids);
  // The reason of step 2 says what the restored verification still saw (judged by the restored band).
  EXPECT_NE(b.with_status(ActionStatus::Succeeded).back().reason.find("did not bring orders back within 3m: "),
            std::string::npos)
      << b.with_status(ActionStatus::Succeeded).back().reason;
  std::vector<std::string> a_res, b_res;
  for (std::size_t i = a_results; i < a.results.size(); ++i)
    a_res.push_back(a.results[i].incident_id + " " + std::string(to_string(a.results[i].status)));
  for (const auto& r : b.results) b_res.push_back(r.incident_id + " " + std::string(to_string(r.status)));
  EXPECT_EQ(b_res, a_res);
}

// The rate limit survives a restore, per service and overall (the overall window is rebuilt from
// the restored per-service entries).
TEST(RemediatorCheckpoint, RestoredActionsCountAgainstTheRateLimits) {
  auto o = Harness::quiet_options();
  o.cooldown_ms = 0;
  o.max_actions_per_hour_per_service = 1;
  o.max_actions_per_hour = 1;
  Harness a(o), b(o), c(o);
  a.incident(make_incident(IncidentType::CrashLoop, "orders", "inc-1"));
  ASSERT_EQ(calls_of(a).size(), 1u);
  b.remediator->restore_key("orders", a.remediator->save_key("orders"));
  for (Harness* h : {&b, &c}) {
    h->advance(10 * kMin);
    h->incident(make_incident(IncidentType::ErrorBurst, "orders", "inc-2"));
    h->incident(make_incident(IncidentType::ErrorBurst, "payments", "inc-3"));
  }
  EXPECT_TRUE(calls_of(b).empty());
  auto s = b.with_status(ActionStatus::Skipped);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].reason.rfind("rate_limit: 1 actions on shop/orders", 0), 0u) << s[0].reason;
  EXPECT_EQ(s[1].reason.rfind("rate_limit: 1 actions overall", 0), 0u) << s[1].reason;
  EXPECT_EQ(calls_of(c).size(), 1u) << "without the checkpoint the allowance is fresh";
  // An hour after A's action the allowance is back.
  b.advance(51 * kMin);
  b.incident(make_incident(IncidentType::ErrorBurst, "cache", "inc-4"));
  EXPECT_EQ(calls_of(b), std::vector<std::string>{"rollout_restart shop/cache"});
}

// A relapse deferred by the cooldown of its own earlier step is taken by the restored remediator
// when the cooldown ends, with A's derived id; without the restore the relapse acts at once.
TEST(RemediatorCheckpoint, ADeferredStepIsTakenOnTimeAfterARestore) {
  Harness a, b, c;
  auto inc = make_incident(IncidentType::ErrorBurst);
  a.incident(inc);
  inc.revision = 2;
  inc.status = IncidentStatus::Resolved;
  a.incident(inc);
  a.advance(kMin);
  inc.revision = 3;
  inc.status = IncidentStatus::Open;
  a.incident(inc);
  auto deferred = a.with_status(ActionStatus::Skipped);
  ASSERT_EQ(deferred.size(), 1u);
  b.advance(kMin);
  c.advance(kMin);
  b.remediator->restore_key("orders", a.remediator->save_key("orders"));
  // The relapse's next snapshot: A and B know the incident and keep holding the step back; C
  // takes it for a new incident and acts at once, inside the cooldown.
  inc.revision = 4;
  for (Harness* h : {&a, &b, &c}) h->incident(inc);
  EXPECT_EQ(calls_of(c).size(), 1u);
  for (Harness* h : {&a, &b}) h->advance(3 * kMin + 50 * kSec);
  EXPECT_EQ(calls_of(a).size(), 1u);
  EXPECT_TRUE(calls_of(b).empty()) << "still held back";
  for (Harness* h : {&a, &b}) h->advance(10 * kSec);
  ASSERT_EQ(calls_of(b), std::vector<std::string>{"rollout_restart shop/orders"});
  ASSERT_EQ(calls_of(a).size(), 2u);
  ASSERT_FALSE(b.with_status(ActionStatus::Succeeded).empty());
  EXPECT_EQ(b.with_status(ActionStatus::Succeeded).back().id, deferred[0].id + "~retry");
  EXPECT_EQ(a.with_status(ActionStatus::Succeeded).back().id, deferred[0].id + "~retry");
}

// Approvals held for a service move with it: the operator's decision reaches the new owner.
TEST(RemediatorCheckpoint, AHeldApprovalIsDecidedByTheRestoredRemediator) {
  Harness a(approval_options()), b(approval_options()), c(approval_options());
  a.incident(make_incident(IncidentType::CrashLoop));
  auto p = a.with_status(ActionStatus::Pending);
  ASSERT_EQ(p.size(), 1u);
  b.remediator->restore_key("orders", a.remediator->save_key("orders"));
  EXPECT_EQ(b.remediator->pending_approvals(), 1u);
  b.operator_decision(p[0].id, ActionStatus::Approved);
  c.operator_decision(p[0].id, ActionStatus::Approved);
  EXPECT_EQ(calls_of(b), std::vector<std::string>{"rollout_restart shop/orders"});
  ASSERT_EQ(b.with_status(ActionStatus::Succeeded).size(), 1u);
  EXPECT_EQ(b.with_status(ActionStatus::Succeeded)[0].id, p[0].id);
  EXPECT_TRUE(calls_of(c).empty()) << "unknown to a remediator without the checkpoint";
}

// The echo of a pending action published before the checkpoint but not yet taken in is not a
// manual request for the new owner (a fresh one would execute it).
TEST(RemediatorCheckpoint, TheEchoOfOurOwnPendingActionIsNotAManualRequestAfterARestore) {
  Harness a(approval_options()), b, c;
  a.incident(make_incident(IncidentType::CrashLoop));
  auto p = a.with_status(ActionStatus::Pending);
  ASSERT_EQ(p.size(), 1u);
  // A took its echo in already; the checkpoint as it stood before that:
  nlohmann::json state = a.remediator->save_key("orders");
  state["own_pending"] = {p[0].id};
  b.remediator->restore_key("orders", state);
  b.publish_action(p[0]);
  c.publish_action(p[0]);
  EXPECT_TRUE(calls_of(b).empty());
  EXPECT_EQ(calls_of(c), std::vector<std::string>{"rollout_restart shop/orders"});
  EXPECT_TRUE(b.remediator->save_key("orders")["own_pending"].empty()) << "the echo arrived";
}

TEST(RemediatorCheckpoint, AMalformedStateIsRefusedNamingTheFieldAndChangesNothing) {
  Harness a, b;
  a.advance(kMin, "orders", true);
  auto inc = make_incident(IncidentType::MemoryLeak);
  a.incident(inc);
  const nlohmann::json good = a.remediator->save_key("orders");
  ASSERT_TRUE(good.is_object());
  b.remediator->restore_key("orders", good);

  auto expect_refused = [&](nlohmann::json bad, const std::string& field) {
    const nlohmann::json before = b.remediator->save_key("orders");
    try {
      b.remediator->restore_key("orders", bad);
      ADD_FAILURE() << "accepted a state with a bad " << field;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).rfind(field, 0), 0u) << e.what();
    }
    EXPECT_EQ(b.remediator->save_key("orders"), before) << field;
  };
  auto with = [&](const nlohmann::json::json_pointer& ptr, nlohmann::json v) {
    nlohmann::json s = good;
    s[ptr] = std::move(v);
    return s;
  };
  using P = nlohmann::json::json_pointer;
  expect_refused(with(P("/format"), 2), "format");
  expect_refused(with(P("/runs/inc-1/phase"), "sleeping"), "runs.inc-1.phase");
  expect_refused(with(P("/runs/inc-1/next_step"), 9), "runs.inc-1.next_step");
  expect_refused(with(P("/runs/inc-1/playbook"), "reboot-the-world"), "runs.inc-1.playbook");
  expect_refused(with(P("/runs/inc-1/key"), "inc-1#7"), "runs.inc-1.key");
  expect_refused(with(P("/runs/inc-1/verify_deadline"), "soon"), "runs.inc-1.verify_deadline");
  expect_refused(with(P("/incidents/inc-1/status"), "sleepy"), "incidents.inc-1.status");
  expect_refused(with(P("/cooldown/shop~1payments"), good["cooldown"]["shop/orders"]), "cooldown.shop/payments");
  expect_refused(with(P("/rate_limit/shop~1orders"), {kT0 + 5, kT0}), "rate_limit.shop/orders");
  expect_refused(with(P("/band/error_ratio"), {0.01, -1, 6}), "band.error_ratio");
  expect_refused(with(P("/window/data/service"), "payments"), "window.service");
  nlohmann::json no_runs = good;
  no_runs.erase("runs");
  expect_refused(no_runs, "runs");
  expect_refused(nlohmann::json::array(), "state");
  // A run and its incident are still all B holds after the refusals; null clears the service.
  ASSERT_FALSE(b.remediator->save_key("orders")["runs"].empty());
  b.remediator->restore_key("orders", nullptr);
  EXPECT_TRUE(b.remediator->save_key("orders").is_null());
}

}  // namespace
}  // namespace selfheal::remediation
