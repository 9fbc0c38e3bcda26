#include "eval/scenario_runner.hpp"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <filesystem>
#include <map>

#include "app/app.hpp"
#include "bus/bus.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "runtime/executor.hpp"
#include "sim/scenario.hpp"

namespace selfheal::eval {

RunRecord run_scenario(const ScenarioRun& run) {
  static std::atomic<int> counter{0};
  auto dir = std::filesystem::temp_directory_path() /
             ("selfheal-eval-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::create_directories(dir);
  std::vector<std::string> overrides = {
      "admin.listen=127.0.0.1:0",
      "api.listen=127.0.0.1:0",
      "cluster_sim.listen=127.0.0.1:0",
      "cluster_sim.kubeconfig_out=" + (dir / "kubeconfig").string(),
      "cluster_sim.truth_out=" + (dir / "truth.jsonl").string(),
      "cluster_sim.scenario=" + run.scenario_path,
      "remediator.kubeconfig=" + (dir / "kubeconfig").string(),
      "remediator.dry_run=" + std::string(run.remediation ? "false" : "true"),
      "store.backend=none",
      "ui.story=false",
      "log.level=warn",
  };
  if (run.seed_offset != 0) {
    // Seeds the suite has never seen: the scenario's own seed moved by the offset.
    YAML::Node doc;
    try {
      doc = YAML::LoadFile(run.scenario_path);
    } catch (const YAML::Exception& e) {
      throw std::runtime_error(run.scenario_path + ": not valid YAML: " + e.msg);
    }
    std::int64_t seed = doc["seed"] ? doc["seed"].as<std::int64_t>() : 1;
    overrides.push_back("cluster_sim.seed=" + std::to_string(seed + run.seed_offset));
  }
  overrides.insert(overrides.end(), run.overrides.begin(), run.overrides.end());

  RunRecord rec;
  rec.scenario = std::filesystem::path(run.scenario_path).filename().string();
  // The classifier knows the cluster's real call graph (in production: from the service mesh or
  // the SRE's config), so it is configured with the scenario's.
  std::string edges;
  for (const auto& svc : sim::load_scenario_file(run.scenario_path).services) {
    std::string callees;
    for (const auto& c : svc.calls) {
      rec.calls[svc.name].push_back(c.service);
      callees += (callees.empty() ? "" : "|") + c.service;
    }
    if (!callees.empty()) edges += (edges.empty() ? "" : ",") + svc.name + "->" + callees;
  }
  if (!edges.empty()) overrides.insert(overrides.begin(), "incident_classifier.call_graph=" + edges);
  {
    App app(Config::load(config_schema(), "", overrides, /*use_environment=*/false), {});
    app.start();
    auto truth = app.bus().subscribe(topics::kGroundTruth, "eval");
    auto incidents = app.bus().subscribe(topics::kIncidents, "eval");
    auto actions = app.bus().subscribe(topics::kActions, "eval");
    auto features = app.bus().subscribe(topics::kFeatures, "eval");
    auto states = app.bus().subscribe(topics::kSimState, "eval");
    std::map<std::string, FaultLabel> faults;
    std::map<std::string, Incident> latest;
    std::vector<Delivery> batch;
    auto collect = [&](TimeMs) {
      for (auto* sub : {truth.get(), incidents.get(), actions.get(), features.get(), states.get()}) {
        batch.clear();
        while (sub->poll(batch, 8192) > 0) {
        }
        for (auto& d : batch) {
          if (auto* f = std::get_if<FaultLabel>(&d.event)) {
            faults[f->id] = *f;
          } else if (auto* i = std::get_if<Incident>(&d.event)) {
            auto& slot = latest[i->id];
            if (slot.id.empty() || slot.revision < i->revision) slot = *i;
          } else if (auto* a = std::get_if<RemediationAction>(&d.event)) {
            rec.actions.push_back(*a);
          } else if (auto* w = std::get_if<FeatureWindow>(&d.event)) {
            if (w->source == FeatureSource::Metrics && w->pod.empty()) rec.service_windows.push_back(std::move(*w));
          } else if (auto* s = std::get_if<ServiceState>(&d.event)) {
            for (const auto& p : s->pods)
              for (const auto& ev : p.events)
                if (ev == "oom_killed") rec.oom_kills[s->service].push_back(s->ts);
          }
        }
      }
    };
    rec.start = app.clock().now();
    rec.end = app.end_of_run();
    if (rec.end == Service::kNoEnd)
      throw std::runtime_error(run.scenario_path + ": the scenario has no end; give it a duration");
    app.executor().run_until(rec.end, nullptr, collect);
    app.executor().drain();
    collect(rec.end);
    app.stop();
    for (auto& [id, f] : faults) rec.faults.push_back(f);
    for (auto& [id, i] : latest) rec.incidents.push_back(i);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return rec;
}

}  // namespace selfheal::eval
