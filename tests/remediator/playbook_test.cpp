// Playbooks: the built-in defaults say what the brief promises, the committed file is the one in
// the binary, and every validation error names the playbook, the step and the field.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "remediator/playbook.hpp"

namespace selfheal::remediation {
namespace {

std::vector<std::string> steps_of(const PlaybookSet& set, IncidentType type) {
  std::vector<std::string> out;
  for (const auto& s : set.for_type(type).steps) out.push_back(describe(s));
  return out;
}

using V = std::vector<std::string>;

TEST(Playbooks, DefaultsMapEveryIncidentTypeToItsSteps) {
  PlaybookSet set = PlaybookSet::defaults();
  EXPECT_EQ(steps_of(set, IncidentType::MemoryLeak), (V{"rollout_restart", "notify_only"}));
  EXPECT_EQ(steps_of(set, IncidentType::CpuSaturation),
            (V{"scale_deployment to fit the load at 60% CPU", "scale_deployment to fit the load at 60% CPU"}));
  EXPECT_EQ(steps_of(set, IncidentType::TrafficSurge),
            (V{"scale_deployment to fit the load at 60% CPU (and saturated services of the incident)",
               "scale_deployment to fit the load at 60% CPU (and saturated services of the incident)"}));
  EXPECT_EQ(steps_of(set, IncidentType::CrashLoop), (V{"rollout_restart", "notify_only"}));
  EXPECT_EQ(steps_of(set, IncidentType::BadState), (V{"clear_state", "rollout_restart"}));
  EXPECT_EQ(steps_of(set, IncidentType::ErrorBurst), (V{"rollout_restart", "notify_only"}));
  EXPECT_EQ(steps_of(set, IncidentType::DbLatency), (V{"notify_only"}));
  EXPECT_EQ(steps_of(set, IncidentType::DependencyOutage), (V{"notify_only"}));
  EXPECT_EQ(steps_of(set, IncidentType::Unknown), (V{"notify_only"}));
  EXPECT_EQ(set.for_type(IncidentType::MemoryLeak).steps[0].verify_within_ms, 3 * 60 * 1000);
}

TEST(Playbooks, CommittedFileIsTheBuiltInDefault) {
  std::ifstream in("config/playbooks/default.yaml");
  ASSERT_TRUE(in) << "run from the repo root";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), PlaybookSet::default_yaml());
  EXPECT_EQ(PlaybookSet::from_file("config/playbooks/default.yaml").all().size(), PlaybookSet::defaults().all().size());
}

TEST(Playbooks, MissingTypeFallsBackToUnknownThenToNotifyOnly) {
  auto set = PlaybookSet::from_yaml(R"(
playbooks:
  - name: leak
    incident_type: memory_leak
    steps: [{action: rollout_restart}]
  - name: catch-all
    incident_type: unknown
    steps: [{action: notify_only, message: look}]
)");
  EXPECT_EQ(set.for_type(IncidentType::CrashLoop).name, "catch-all");
  auto bare = PlaybookSet::from_yaml("playbooks:\n  - {name: leak, incident_type: memory_leak, steps: [{action: delete_pod}]}\n");
  EXPECT_EQ(bare.for_type(IncidentType::CrashLoop).steps.at(0).action, ActionKind::NotifyOnly);
}

std::string error_of(const std::string& yaml) {
  try {
    PlaybookSet::from_yaml(yaml, "test.yaml");
  } catch (const PlaybookError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Playbooks, ValidationErrorsNamePlaybookStepAndField) {
  std::string e = error_of(R"(
playbooks:
  - name: leak
    incident_type: memory_leak
    steps:
      - action: delete_pod
      - action: reboot_node
)");
  EXPECT_NE(e.find("test.yaml"), std::string::npos) << e;
  EXPECT_NE(e.find("playbook 'leak' step 2"), std::string::npos) << e;
  EXPECT_NE(e.find("'action'"), std::string::npos) << e;
  EXPECT_NE(e.find("reboot_node"), std::string::npos) << e;

  e = error_of("playbooks:\n  - {name: cpu, incident_type: cpu_saturation, steps: [{action: scale_deployment}]}\n");
  EXPECT_NE(e.find("playbook 'cpu' step 1"), std::string::npos) << e;
  EXPECT_NE(e.find("'replicas'"), std::string::npos) << e;

  e = error_of("playbooks:\n  - {name: cpu, incident_type: cpu_saturation, steps: [{action: scale_deployment, by: two}]}\n");
  EXPECT_NE(e.find("field 'by'"), std::string::npos) << e;

  e = error_of("playbooks:\n  - {name: cpu, incident_type: cpu_saturation, steps: [{action: scale_deployment, replicas: 0}]}\n");
  EXPECT_NE(e.find("field 'replicas'"), std::string::npos) << e;

  e = error_of("playbooks:\n  - {name: r, incident_type: crash_loop, steps: [{action: rollout_restart, verify_within: soon}]}\n");
  EXPECT_NE(e.find("field 'verify_within'"), std::string::npos) << e;

  e = error_of("playbooks:\n  - {name: r, incident_type: crash_loop, steps: [{action: rollout_restart, replicas: 2}]}\n");
  EXPECT_NE(e.find("field 'replicas' applies only to scale_deployment"), std::string::npos) << e;

  e = error_of("playbooks:\n  - {name: r, incident_type: crash_loop, steps: [{action: rollout_restart, colour: red}]}\n");
  EXPECT_NE(e.find("unknown field 'colour'"), std::string::npos) << e;

  e = error_of("playbooks:\n  - {name: r, incident_type: disk_full, steps: [{action: rollout_restart}]}\n");
  EXPECT_NE(e.find("playbook 'r'"), std::string::npos) << e;
  EXPECT_NE(e.find("field 'incident_type'"), std::string::npos) << e;

  e = error_of("playbooks:\n  - {name: a, incident_type: crash_loop, steps: [{action: rollout_restart}]}\n"
               "  - {name: b, incident_type: crash_loop, steps: [{action: notify_only}]}\n");
  EXPECT_NE(e.find("playbook 'b'"), std::string::npos) << e;
  EXPECT_NE(e.find("already has playbook 'a'"), std::string::npos) << e;

  e = error_of("playbooks:\n  - {name: a, incident_type: crash_loop, steps: []}\n");
  EXPECT_NE(e.find("field 'steps'"), std::string::npos) << e;

  e = error_of("playbooks: [unclosed\n");
  EXPECT_NE(e.find("not valid YAML"), std::string::npos) << e;

  e = error_of("version: 2\nplaybooks: []\n");
  EXPECT_NE(e.find("field 'version'"), std::string::npos) << e;
}

TEST(Playbooks, MissingFileIsAClearError) {
  try {
    PlaybookSet::from_file("/nonexistent/playbooks.yaml");
    FAIL() << "no error";
  } catch (const PlaybookError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/playbooks.yaml"), std::string::npos);
  }
}

}  // namespace
}  // namespace selfheal::remediation
