// Each guardrail on its own: the case it allows, the case it refuses, and the reason it gives.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "remediator/guardrails/approval_gate.hpp"
#include "remediator/guardrails/chain.hpp"
#include "remediator/guardrails/cooldown.hpp"
#include "remediator/guardrails/disruption_budget.hpp"
#include "remediator/guardrails/kill_switch.hpp"
#include "remediator/guardrails/max_replicas.hpp"
#include "remediator/guardrails/namespace_allowlist.hpp"
#include "remediator/guardrails/rate_limit.hpp"

namespace selfheal::remediation {
namespace {

constexpr TimeMs kMin = 60 * 1000;

ProposedAction action(const std::string& service, ActionKind kind, const std::string& run = "inc-1#1") {
  ProposedAction a;
  a.run_key = run;
  a.incident_id = run.substr(0, run.find('#'));
  a.service = service;
  a.namespace_name = "shop";
  a.kind = kind;
  return a;
}

TEST(KillSwitch, RefusesWhenConfiguredFlippedAtRuntimeOrFilePresent) {
  auto file = std::filesystem::temp_directory_path() / ("selfheal-kill-" + std::to_string(::getpid()));
  std::filesystem::remove(file);
  KillSwitch off(false, file.string());
  EXPECT_TRUE(off.check(action("orders", ActionKind::RolloutRestart), 0).allowed);

  KillSwitch configured(true, "");
  Verdict v = configured.check(action("orders", ActionKind::RolloutRestart), 0);
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.reason.find("remediator.kill_switch"), std::string::npos) << v.reason;

  off.set_runtime(true);
  v = off.check(action("orders", ActionKind::RolloutRestart), 0);
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.reason.find("runtime"), std::string::npos) << v.reason;
  off.set_runtime(false);
  EXPECT_TRUE(off.check(action("orders", ActionKind::RolloutRestart), 0).allowed);

  std::ofstream(file) << "stop\n";
  v = off.check(action("orders", ActionKind::RolloutRestart), 0);
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.reason.find(file.string()), std::string::npos) << v.reason;
  std::filesystem::remove(file);
  EXPECT_TRUE(off.check(action("orders", ActionKind::RolloutRestart), 0).allowed);
}

TEST(NamespaceAllowlist, OnlyListedNamespaces) {
  NamespaceAllowlist g({"shop", "staging"});
  EXPECT_TRUE(g.check(action("orders", ActionKind::DeletePod), 0).allowed);
  auto a = action("coredns", ActionKind::DeletePod);
  a.namespace_name = "kube-system";
  Verdict v = g.check(a, 0);
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.reason.find("'kube-system' is not in the allowlist [shop, staging]"), std::string::npos) << v.reason;
}

TEST(Cooldown, OtherRunsWaitSameRunDoesNot) {
  Cooldown g(5 * kMin);
  auto first = action("orders", ActionKind::DeletePod, "inc-1#1");
  EXPECT_TRUE(g.check(first, 0).allowed);
  g.record(first, 0);
  // The same run's next step is paced by verification, not by the cooldown.
  EXPECT_TRUE(g.check(action("orders", ActionKind::RolloutRestart, "inc-1#1"), kMin).allowed);
  // A relapse (new episode) or another incident on the same workload waits.
  Verdict v = g.check(action("orders", ActionKind::RolloutRestart, "inc-1#2"), 2 * kMin);
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.reason.find("shop/orders was acted on 2m"), std::string::npos) << v.reason;
  EXPECT_NE(v.reason.find("3m left"), std::string::npos) << v.reason;
  EXPECT_TRUE(g.check(action("payments", ActionKind::RolloutRestart, "inc-2#1"), 2 * kMin).allowed);
  EXPECT_TRUE(g.check(action("orders", ActionKind::RolloutRestart, "inc-1#2"), 5 * kMin).allowed);
}

TEST(RateLimit, PerServiceAndOverallInASlidingHour) {
  RateLimit g(2, 3);
  TimeMs t = 0;
  for (int i = 0; i < 2; ++i) {
    auto a = action("orders", ActionKind::RolloutRestart, "inc-" + std::to_string(i) + "#1");
    ASSERT_TRUE(g.check(a, t).allowed);
    g.record(a, t);
    t += 10 * kMin;
  }
  Verdict v = g.check(action("orders", ActionKind::RolloutRestart, "inc-9#1"), t);
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.reason.find("2 actions on shop/orders"), std::string::npos) << v.reason;
  EXPECT_NE(v.reason.find("per service"), std::string::npos) << v.reason;

  auto p = action("payments", ActionKind::RolloutRestart, "inc-5#1");
  ASSERT_TRUE(g.check(p, t).allowed);
  g.record(p, t);
  v = g.check(action("search", ActionKind::RolloutRestart, "inc-6#1"), t);
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.reason.find("3 actions overall"), std::string::npos) << v.reason;

  // An hour after the first action it has left the window.
  EXPECT_TRUE(g.check(action("search", ActionKind::RolloutRestart, "inc-6#1"), 60 * kMin + 1).allowed);
}

// Checkpoints move one service's entries: "orders" is not "orders-v2", and the overall window is
// rebuilt from the per-workload ones (the restored service's and those already held).
TEST(RateLimit, ReplacingOneServicesEntriesRebuildsTheOverallWindow) {
  RateLimit g(5, 3);
  auto payments = action("payments", ActionKind::RolloutRestart, "inc-5#1");
  g.record(payments, 0);
  g.record(action("orders-v2", ActionKind::RolloutRestart, "inc-6#1"), 0);
  EXPECT_TRUE(g.entries_of("orders").empty());
  g.replace_entries_of("orders", {{"shop/orders", {1 * kMin}}, {"staging/orders", {2 * kMin}}});
  EXPECT_EQ(g.entries_of("orders").size(), 2u);
  Verdict v = g.check(action("search", ActionKind::RolloutRestart, "inc-7#1"), 3 * kMin);
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.reason.find("4 actions overall"), std::string::npos) << v.reason;
  g.replace_entries_of("orders", {});  // the service's partition moved away
  EXPECT_TRUE(g.check(action("search", ActionKind::RolloutRestart, "inc-7#1"), 3 * kMin).allowed);
  EXPECT_EQ(g.entries_of("orders-v2").size(), 1u);
}

TEST(Cooldown, ReplacingOneServicesEntriesLeavesTheOthers) {
  Cooldown g(5 * kMin);
  g.record(action("orders-v2", ActionKind::RolloutRestart, "inc-1#1"), 0);
  g.replace_entries_of("orders", {{"shop/orders", Cooldown::Last{0, "inc-2#1", "inc-2"}}});
  EXPECT_FALSE(g.check(action("orders", ActionKind::RolloutRestart, "inc-3#1"), kMin).allowed);
  EXPECT_FALSE(g.check(action("orders-v2", ActionKind::RolloutRestart, "inc-3#1"), kMin).allowed);
  g.replace_entries_of("orders", {});
  EXPECT_TRUE(g.check(action("orders", ActionKind::RolloutRestart, "inc-3#1"), kMin).allowed);
  EXPECT_EQ(g.entries_of("orders-v2").size(), 1u);
}

TEST(MaxReplicas, CapsOvershootAndRefusesAtTheMaximum) {
  MaxReplicas g(10);
  auto a = action("orders", ActionKind::ScaleDeployment);
  a.current_replicas = 3;
  a.desired_replicas = 5;
  EXPECT_TRUE(g.check(a, 0).allowed);
  EXPECT_FALSE(g.check(a, 0).capped_replicas);

  a.current_replicas = 9;
  a.desired_replicas = 11;
  Verdict v = g.check(a, 0);
  EXPECT_TRUE(v.allowed);
  ASSERT_TRUE(v.capped_replicas);
  EXPECT_EQ(*v.capped_replicas, 10);

  a.current_replicas = 10;
  a.desired_replicas = 11;
  v = g.check(a, 0);
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.reason.find("maximum of 10"), std::string::npos) << v.reason;
}

ClusterSnapshot cluster(int replicas, int not_ready) {
  ClusterSnapshot s;
  s.loaded = true;
  s.deployment.name = "orders";
  s.deployment.replicas = replicas;
  for (int i = 0; i < replicas; ++i) {
    K8sPod p;
    p.name = "orders-" + std::to_string(i);
    p.ready = i >= not_ready;
    s.pods.push_back(p);
  }
  return s;
}

TEST(DisruptionBudget, RefusesTakingDownTooManyPods) {
  DisruptionBudget g(50);
  auto healthy = cluster(4, 0);
  auto a = action("orders", ActionKind::DeletePod);
  a.cluster = &healthy;
  a.pod = "orders-0";
  EXPECT_TRUE(g.check(a, 0).allowed);

  auto degraded = cluster(4, 2);  // orders-0 and orders-1 not ready: budget 2 used up
  a.cluster = &degraded;
  a.pod = "orders-3";
  Verdict v = g.check(a, 0);
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.reason.find("2 of 4 pods"), std::string::npos) << v.reason;
  EXPECT_NE(v.reason.find("budget of 2"), std::string::npos) << v.reason;

  // Deleting a pod that is already down takes nothing healthy away.
  a.pod = "orders-0";
  EXPECT_TRUE(g.check(a, 0).allowed);

  a.kind = ActionKind::RolloutRestart;
  EXPECT_FALSE(g.check(a, 0).allowed);

  // Scaling down counts the pods it removes; scaling up never disrupts.
  auto scale = action("orders", ActionKind::ScaleDeployment);
  scale.cluster = &healthy;
  scale.current_replicas = 4;
  scale.desired_replicas = 1;
  EXPECT_FALSE(g.check(scale, 0).allowed);
  scale.desired_replicas = 6;
  scale.cluster = &degraded;
  EXPECT_TRUE(g.check(scale, 0).allowed);

  // Without the pods the budget cannot be checked: refuse rather than guess.
  auto blind = action("orders", ActionKind::RolloutRestart);
  EXPECT_FALSE(g.check(blind, 0).allowed);
}

TEST(DisruptionBudget, SingleReplicaMayRestartOnlyWhenItIsUp) {
  DisruptionBudget g(25);
  auto one = cluster(1, 0);
  auto a = action("orders", ActionKind::RolloutRestart);
  a.cluster = &one;
  EXPECT_TRUE(g.check(a, 0).allowed);  // ceil(1 x 25%) = 1 pod
  DisruptionBudget none(0);
  Verdict v = none.check(a, 0);
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.reason.find("budget of 0"), std::string::npos) << v.reason;
}

TEST(GuardrailChain, FirstRefusalIsNamedAndCapsAreNoted) {
  GuardrailChain chain;
  chain.add(std::make_unique<NamespaceAllowlist>(std::vector<std::string>{"shop"}));
  chain.add(std::make_unique<MaxReplicas>(4));
  auto a = action("orders", ActionKind::ScaleDeployment);
  a.current_replicas = 3;
  a.desired_replicas = 6;
  std::string notes;
  EXPECT_TRUE(chain.check(a, 0, false, notes).allowed);
  EXPECT_TRUE(chain.check(a, 0, true, notes).allowed);
  EXPECT_EQ(a.desired_replicas, 4);
  EXPECT_NE(notes.find("max_replicas: capped at 4"), std::string::npos) << notes;
  a.namespace_name = "prod";
  Verdict v = chain.check(a, 0, false, notes);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.guardrail, "namespace_allowlist");
}

TEST(ApprovalGate, HoldsReleasesAndExpires) {
  ApprovalGate gate(true, 10 * kMin);
  RemediationAction a;
  a.id = "remediator-r1-1";
  gate.hold(a, "inc-1#1", 0);
  RemediationAction b;
  b.id = "remediator-r1-2";
  gate.hold(b, "inc-2#1", 5 * kMin);
  EXPECT_FALSE(gate.release("nope"));
  auto got = gate.release("remediator-r1-2");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->run_key, "inc-2#1");
  EXPECT_TRUE(gate.expire(10 * kMin - 1).empty());
  auto expired = gate.expire(10 * kMin);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].action.id, "remediator-r1-1");
  EXPECT_EQ(gate.size(), 0u);
}

}  // namespace
}  // namespace selfheal::remediation
