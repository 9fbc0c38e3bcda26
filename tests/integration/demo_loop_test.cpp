// The whole self-healing loop in one process, in simulated time: the demo scenario's faults are
// each detected as exactly one incident of the right type on the right service, repaired with the
// right Kubernetes action through cluster-sim's API, verified, and resolved in the store.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <unistd.h>

#include "app/app.hpp"
#include "app/narrator.hpp"
#include "bus/bus.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "runtime/executor.hpp"
#include "store/store.hpp"

namespace selfheal {
namespace {

// Overrides that keep a test run private: free ports, files in a temp dir, no terminal story.
std::vector<std::string> isolated_overrides(const std::string& dir) {
  return {"admin.listen=127.0.0.1:0",
          "api.listen=127.0.0.1:0",
          "cluster_sim.listen=127.0.0.1:0",
          "cluster_sim.kubeconfig_out=" + dir + "/kubeconfig",
          "cluster_sim.truth_out=" + dir + "/ground-truth.jsonl",
          "remediator.kubeconfig=" + dir + "/kubeconfig",
          "store.backend=sqlite",
          "store.sqlite_path=" + dir + "/selfheal.db",
          "ui.story=false"};
}

std::string temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("selfheal-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

// Everything a run published on the topics a person would look at.
struct Observed {
  std::map<std::string, FaultLabel> faults;
  std::map<std::string, Incident> incidents;  // latest revision per id
  std::vector<RemediationAction> actions;
  std::vector<ActionResult> results;
};

Observed run_demo(const std::string& dir, const std::vector<std::string>& extra = {}) {
  auto overrides = isolated_overrides(dir);
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  App app(Config::load(config_schema(), "", overrides, /*use_environment=*/false), {});
  app.start();
  EXPECT_TRUE(app.deterministic());
  auto truth = app.bus().subscribe(topics::kGroundTruth, "test");
  auto incidents = app.bus().subscribe(topics::kIncidents, "test");
  auto actions = app.bus().subscribe(topics::kActions, "test");
  Observed seen;
  std::vector<Delivery> batch;
  auto collect = [&](TimeMs) {
    for (auto* sub : {truth.get(), incidents.get(), actions.get()}) {
      batch.clear();
      while (sub->poll(batch, 4096) > 0) {
      }
      for (auto& d : batch) {
        if (auto* f = std::get_if<FaultLabel>(&d.event)) seen.faults[f->id] = *f;
        if (auto* i = std::get_if<Incident>(&d.event))
          if (!seen.incidents.count(i->id) || seen.incidents[i->id].revision < i->revision) seen.incidents[i->id] = *i;
        if (auto* a = std::get_if<RemediationAction>(&d.event)) seen.actions.push_back(*a);
        if (auto* r = std::get_if<ActionResult>(&d.event)) seen.results.push_back(*r);
      }
    }
  };
  const TimeMs end = app.end_of_run();
  EXPECT_NE(end, Service::kNoEnd) << "the demo scenario must end";
  app.executor().run_until(end, nullptr, collect);
  app.executor().drain();
  collect(end);

  // The store saw the same incidents as the bus.
  Store* store = app.store();
  EXPECT_NE(store, nullptr);
  if (store) {
    for (const auto& [id, inc] : seen.incidents) {
      auto stored = store->get_incident(id);
      EXPECT_TRUE(stored.has_value()) << id;
      if (stored) EXPECT_EQ(stored->status, inc.status) << id;
    }
  }
  app.stop();
  return seen;
}

TEST(DemoLoop, EachFaultIsDetectedOnceRepairedAndResolved) {
  std::string dir = temp_dir("demo");
  Observed seen = run_demo(dir);

  ASSERT_GE(seen.faults.size(), 2u) << "the demo injects at least a memory leak and a CPU spike";
  std::set<std::string> types;
  for (const auto& [id, f] : seen.faults) types.insert(f.fault_type);
  EXPECT_TRUE(types.count("memory_leak"));
  EXPECT_TRUE(types.count("cpu_spike"));

  // Exactly one incident per fault, and none that matches no fault.
  EXPECT_EQ(seen.incidents.size(), seen.faults.size());
  for (const auto& [fid, f] : seen.faults) {
    std::vector<const Incident*> matches;
    for (const auto& [iid, inc] : seen.incidents)
      if (inc.service == f.service && to_string(inc.type) == f.expected_incident_type) matches.push_back(&inc);
    ASSERT_EQ(matches.size(), 1u) << f.fault_type << " on " << f.service;
    const Incident& inc = *matches.front();
    EXPECT_GE(inc.opened_at, f.start) << "opened before the fault started";
    EXPECT_EQ(inc.status, IncidentStatus::Resolved) << inc.id << " " << inc.title;

    // The right action, executed successfully through the Kubernetes API, then verified.
    // A leak lives in the release, so the default playbook restarts the whole deployment (every
    // pod leaks); a CPU spike is met with capacity.
    ActionKind expected = f.fault_type == "memory_leak" ? ActionKind::RolloutRestart : ActionKind::ScaleDeployment;
    const RemediationAction* done = nullptr;
    for (const auto& a : seen.actions)
      if (a.incident_id == inc.id && a.kind == expected && a.status == ActionStatus::Succeeded) done = &a;
    ASSERT_NE(done, nullptr) << "no successful " << to_string(expected) << " for " << inc.id;
    EXPECT_EQ(done->target.rfind(f.service, 0), 0u) << "acted on " << done->target << ", not on " << f.service;
    bool verified = false;
    for (const auto& r : seen.results)
      if (r.action_id == done->id && r.status == ActionStatus::Verified) verified = true;
    EXPECT_TRUE(verified) << "action " << done->id << " was never verified";
  }
}

TEST(DemoLoop, SameSeedSameOutcome) {
  Observed a = run_demo(temp_dir("det-a"));
  Observed b = run_demo(temp_dir("det-b"));
  ASSERT_EQ(a.incidents.size(), b.incidents.size());
  for (auto ia = a.incidents.begin(), ib = b.incidents.begin(); ia != a.incidents.end(); ++ia, ++ib) {
    EXPECT_EQ(ia->second.id, ib->second.id);
    EXPECT_EQ(ia->second.opened_at, ib->second.opened_at);
    EXPECT_EQ(ia->second.type, ib->second.type);
  }
  ASSERT_EQ(a.actions.size(), b.actions.size());
  for (std::size_t i = 0; i < a.actions.size(); ++i) {
    EXPECT_EQ(a.actions[i].ts, b.actions[i].ts);
    EXPECT_EQ(a.actions[i].target, b.actions[i].target);
  }
}

}  // namespace
}  // namespace selfheal
