// Runs one scenario through the whole pipeline (App, deterministic, simulated time) and records
// what the evaluation needs.
#pragma once

#include <string>
#include <vector>

#include "eval/scoring.hpp"

namespace selfheal::eval {

struct ScenarioRun {
  std::string scenario_path;
  std::int64_t seed_offset = 0;
  // false: the remediator decides but does not act (dry run) — what Kubernetes alone gives.
  bool remediation = true;
  std::vector<std::string> overrides;  // extra --set style overrides
};

// Throws std::runtime_error naming the scenario when it cannot run.
RunRecord run_scenario(const ScenarioRun& run);

}  // namespace selfheal::eval
