#include "eval/eval_cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "cli/args.hpp"
#include "core/clock.hpp"
#include "eval/scenario_runner.hpp"
#include "sim/scenario.hpp"

namespace selfheal::eval {
namespace {

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json to_json(const Figures& f) {
  return {{"faults", f.faults},
          {"recall", num(f.recall)},
          {"type_accuracy", num(f.type_accuracy)},
          {"rca_top1", num(f.rca_top1)},
          {"false_incidents", f.false_incidents},
          {"false_incidents_per_day", num(f.false_incidents_per_day)},
          {"duplicate_incidents", f.duplicate_incidents},
          {"mttd_median_s", num(f.mttd_median_s)},
          {"mttd_p90_s", num(f.mttd_p90_s)},
          {"mttr_median_s", num(f.mttr_median_s)},
          {"mttr_p90_s", num(f.mttr_p90_s)},
          {"unnecessary_actions", f.unnecessary_actions},
          {"leak_lead_time_median_s", num(f.leak_lead_time_median_s)}};
}

std::string cell(double v, const char* fmt = "%.2f") {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

void print_row(const std::string& name, const Figures& f) {
  std::printf("%-20s %6d %6s %6s %6s %8s %8s %8s %8s %8s %6d %8s\n", name.c_str(), f.faults,
              cell(f.recall).c_str(), cell(f.type_accuracy).c_str(), cell(f.rca_top1).c_str(),
              cell(f.false_incidents_per_day).c_str(), cell(f.mttd_median_s, "%.0f").c_str(),
              cell(f.mttd_p90_s, "%.0f").c_str(), cell(f.mttr_median_s, "%.0f").c_str(),
              cell(f.mttr_p90_s, "%.0f").c_str(), f.unnecessary_actions,
              cell(f.leak_lead_time_median_s, "%.0f").c_str());
}


// What one scenario contributes to the figures. Computed on a worker thread; aggregated in file
// order so the result does not depend on --jobs.
struct ScenarioResult {
  std::vector<FaultOutcome> ours, base;
  int false_incidents = 0, unnecessary = 0, false_alerts = 0;
  std::map<std::string, int> false_by_type;
  double days = 0;
  std::vector<std::string> details;  // --details lines
  std::string error;
};

std::string outcome_line(const std::string& scenario, const FaultOutcome& o, const RunRecord& run) {
  const Incident* first = nullptr;
  for (const auto& i : run.incidents) {
    if (!incident_matches(i, o.fault)) continue;
    if (!first || i.opened_at < first->opened_at) first = &i;
  }
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s %s on %s (strength %.2f): %s%s%s mttd %s mttr %s lead %s", scenario.c_str(),
                o.fault.fault_type.c_str(), o.fault.service.c_str(), o.fault.strength,
                o.detected ? "detected" : "MISSED", o.detected && !o.type_correct ? " WRONG-TYPE" : "",
                o.detected && !o.root_cause_correct ? " WRONG-ROOT" : "", cell(o.mttd_s, "%.0f").c_str(),
                cell(o.mttr_s, "%.0f").c_str(), cell(o.leak_lead_time_s, "%.0f").c_str());
  std::string line = buf;
  if (first)
    line += " | " + first->id + " " + std::string(to_string(first->type)) + " on " + first->service + ": " +
            first->summary;
  int acts = 0;
  for (const auto& a : run.actions)
    if (first && a.incident_id == first->id && a.status != ActionStatus::Executing)
      line += (acts++ ? "; " : " | actions: ") + std::string(to_string(a.kind)) + " " + a.target +
              (a.kind == ActionKind::ScaleDeployment ? " to " + std::to_string(a.replicas) : "") + " [" +
              std::string(to_string(a.status)) + "] at +" + std::to_string((a.ts - o.fault.start) / 1000) + "s";
  return line;
}

ScenarioResult evaluate_one(const std::filesystem::path& file, std::int64_t offset, bool baseline, bool details) {
  ScenarioResult r;
  RunRecord with = run_scenario({file.string(), offset, true, {}});
  RunRecord without;
  if (baseline) without = run_scenario({file.string(), offset, false, {}});
  r.days = static_cast<double>(with.end - with.start) / 86'400'000.0;
  r.ours = score_faults(with, baseline ? &without : nullptr);
  r.false_incidents = count_false_incidents(with);
  r.unnecessary = count_unnecessary_actions(with);
  const std::string name = file.filename().string();
  for (const auto& i : with.incidents) {
    RunRecord one = with;
    one.incidents = {i};
    if (!count_false_incidents(one)) continue;
    ++r.false_by_type[std::string(to_string(i.type))];
    if (details) {
      char when[32];
      std::snprintf(when, sizeof when, "%.0fs", static_cast<double>(i.opened_at - with.start) / 1000.0);
      r.details.push_back(name + " FALSE " + i.id + " at " + when + " " + std::string(to_string(i.type)) + " on " +
                          i.service + ": " + i.summary);
    }
  }
  if (details) {
    for (const auto& o : r.ours) r.details.push_back(outcome_line(name, o, with));
    for (const auto& a : with.actions)
      if (a.status == ActionStatus::Succeeded && a.kind != ActionKind::NotifyOnly) {
        bool needed = false;
        for (const auto& i : with.incidents)
          if (i.id == a.incident_id)
            for (const auto& f : with.faults) needed = needed || (incident_matches(i, f) && f.fault_type != "dependency_outage");
        if (!needed)
          r.details.push_back(name + " UNNECESSARY " + std::string(to_string(a.kind)) + " " + a.target + ": " + a.reason);
      }
  }
  if (baseline) {
    int fa = 0;
    r.base = score_baseline(without, &fa);
    r.false_alerts = fa;
  }
  return r;
}

}  // namespace

int eval_main(int argc, char** argv) {
  cli::Args args("eval",
                 "selfheal eval --suite DIR [--json] [--seed-offset N] [--no-baseline] [--jobs N] [--filter REGEX] "
                 "[--type FAULT_TYPE] [--details]");
  args.option("suite", "DIR", "folder of scenario YAML files", "scenarios/eval");
  args.flag("json", "print one JSON object (overall, baseline, by_type) instead of the table");
  args.option("seed-offset", "N", "add N to every scenario's seed (runs seeds the suite has never seen)", "0");
  args.flag("no-baseline", "skip the baseline runs (static rules with for: 5m, restart-only remediation)");
  args.option("jobs", "N", "run N scenarios at once on N threads (same figures as --jobs 1)", "1");
  args.option("filter", "REGEX", "only scenarios whose file name matches (ECMAScript regex, searched)", "");
  args.option("type", "FAULT_TYPE", "only scenarios with a fault of this type (e.g. db_latency)", "");
  args.flag("details", "also print every fault's outcome, every false incident and unnecessary action");
  if (!args.parse(argc, argv)) return 0;

  std::vector<std::filesystem::path> files;
  const std::filesystem::path suite = args.get("suite");
  if (!std::filesystem::is_directory(suite))
    throw cli::ArgError("eval: --suite " + suite.string() + " is not a folder of scenario YAML files");
  std::regex filter;
  try {
    filter = std::regex(args.get("filter"));
  } catch (const std::regex_error& e) {
    throw cli::ArgError("eval: --filter " + args.get("filter") + ": not a valid regular expression (" + e.what() + ")");
  }
  const std::string only_type = args.get("type");
  for (const auto& e : std::filesystem::directory_iterator(suite)) {
    if (e.path().extension() != ".yaml" && e.path().extension() != ".yml") continue;
    if (!std::regex_search(e.path().filename().string(), filter)) continue;
    if (!only_type.empty()) {
      sim::Scenario sc = sim::load_scenario_file(e.path().string());
      bool has = false;
      for (const auto& f : sc.faults) has = has || f.type == only_type;
      if (!has) continue;
    }
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw cli::ArgError("eval: no .yaml scenarios in " + suite.string() + " match the selection");
  const bool baseline = !args.has("no-baseline");
  const bool details = args.has("details");
  const bool progress = isatty(STDERR_FILENO);
  const std::int64_t offset = args.get_int("seed-offset");
  const long long jobs_arg = args.get_int("jobs");
  if (jobs_arg < 1 || jobs_arg > 64) throw cli::ArgError("eval: --jobs " + std::to_string(jobs_arg) + ": must be 1..64");
  const std::size_t jobs = std::min<std::size_t>(static_cast<std::size_t>(jobs_arg), files.size());

  // Each scenario has its own App, clock and bus: scenarios run independently on `jobs` threads.
  std::vector<ScenarioResult> results(files.size());
  std::atomic<std::size_t> next{0}, done{0};
  std::mutex progress_mu;
  const std::int64_t t0 = monotonic_ms();
  auto worker = [&] {
    for (std::size_t k = next++; k < files.size(); k = next++) {
      try {
        results[k] = evaluate_one(files[k], offset, baseline, details);
      } catch (const std::exception& e) {
        results[k].error = e.what();
      }
      std::size_t n = ++done;
      if (progress) {
        std::lock_guard<std::mutex> lock(progress_mu);
        std::fprintf(stderr, "\r[%zu/%zu] %-40s %5.0fs", n, files.size(), files[k].filename().c_str(),
                     static_cast<double>(monotonic_ms() - t0) / 1000.0);
      }
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t j = 1; j < jobs; ++j) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (progress) std::fprintf(stderr, "\r%70s\r", "");

  std::vector<FaultOutcome> ours, base;
  std::map<std::string, std::vector<FaultOutcome>> ours_by_type, base_by_type;
  int false_incidents = 0, unnecessary = 0, false_alerts = 0;
  double days = 0;
  for (std::size_t k = 0; k < files.size(); ++k) {
    const ScenarioResult& r = results[k];
    if (!r.error.empty()) throw std::runtime_error("eval: " + files[k].filename().string() + ": " + r.error);
    days += r.days;
    for (const auto& o : r.ours) {
      ours.push_back(o);
      ours_by_type[o.fault.fault_type].push_back(o);
    }
    for (const auto& o : r.base) {
      base.push_back(o);
      base_by_type[o.fault.fault_type].push_back(o);
    }
    false_incidents += r.false_incidents;
    unnecessary += r.unnecessary;
    false_alerts += r.false_alerts;
    if (details)
      for (const auto& line : r.details) std::fprintf(args.has("json") ? stderr : stdout, "%s\n", line.c_str());
  }
  const double wall_s = static_cast<double>(monotonic_ms() - t0) / 1000.0;

  Figures overall = aggregate(ours, false_incidents, unnecessary, days);
  Figures base_overall = aggregate(base, false_alerts, 0, days);
  if (args.has("json")) {
    nlohmann::json out;
    out["scenarios"] = files.size();
    out["simulated_days"] = days;
    out["seed_offset"] = offset;
    out["wall_seconds"] = wall_s;
    out["overall"] = to_json(overall);
    out["baseline"] = baseline ? to_json(base_overall) : nlohmann::json(nullptr);
    out["by_type"] = nlohmann::json::object();
    for (const auto& [type, list] : ours_by_type) {
      auto j = to_json(aggregate(list, 0, 0, days));
      j.erase("false_incidents");
      j.erase("false_incidents_per_day");
      out["by_type"][type] = j;
      if (baseline) out["baseline_by_type"][type] = to_json(aggregate(base_by_type[type], 0, 0, days));
    }
    std::puts(out.dump(2).c_str());
    return 0;
  }
  std::printf("%zu scenarios, %.2f simulated days, seed offset %lld, %.0f s wall on %zu thread(s)\n\n", files.size(),
              days, static_cast<long long>(offset), wall_s, jobs);
  std::printf("%-20s %6s %6s %6s %6s %8s %8s %8s %8s %8s %6s %8s\n", "", "faults", "recall", "type", "rca",
              "false/d", "mttd50", "mttd90", "mttr50", "mttr90", "unnec", "leadOOM");
  for (const auto& [type, list] : ours_by_type) print_row(type, aggregate(list, 0, 0, days));
  print_row("OVERALL", overall);
  // Faults without an MTTR (latency and errors never left their band) are out of the medians.
  auto print_mttr_coverage = [](const char* who, const std::vector<FaultOutcome>& list) {
    const auto none = static_cast<std::size_t>(
        std::count_if(list.begin(), list.end(), [](const FaultOutcome& o) { return std::isnan(o.mttr_s); }));
    std::printf("\n%sMTTR over %zu faults; %zu never moved latency or errors out of band (no MTTR)\n", who,
                list.size() - none, none);
  };
  print_mttr_coverage("", ours);
  if (baseline) {
    std::puts("\nbaseline: static threshold rules with for: 5m, restart-only remediation");
    for (const auto& [type, list] : base_by_type) print_row(type, aggregate(list, 0, 0, days));
    print_row("BASELINE", base_overall);
    print_mttr_coverage("baseline ", base);
    if (std::isfinite(overall.mttr_median_s) && overall.mttr_median_s > 0 && std::isfinite(base_overall.mttr_median_s))
      std::printf("\nMTTR median: %.1fx shorter than the baseline\n", base_overall.mttr_median_s / overall.mttr_median_s);
  }
  return 0;
}

}  // namespace selfheal::eval
