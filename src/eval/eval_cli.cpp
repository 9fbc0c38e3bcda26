#include "eval/eval_cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/args.hpp"
#include "core/clock.hpp"
#include "eval/scenario_runner.hpp"

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

}  // namespace

int eval_main(int argc, char** argv) {
  cli::Args args("eval", "selfheal eval --suite DIR [--json] [--seed-offset N] [--no-baseline]");
  args.option("suite", "DIR", "folder of scenario YAML files", "scenarios/eval");
  args.flag("json", "print one JSON object (overall, baseline, by_type) instead of the table");
  args.option("seed-offset", "N", "add N to every scenario's seed (runs seeds the suite has never seen)", "0");
  args.flag("no-baseline", "skip the baseline runs (static rules with for: 5m, restart-only remediation)");
  if (!args.parse(argc, argv)) return 0;

  std::vector<std::filesystem::path> files;
  const std::filesystem::path suite = args.get("suite");
  if (!std::filesystem::is_directory(suite))
    throw cli::ArgError("eval: --suite " + suite.string() + " is not a folder of scenario YAML files");
  for (const auto& e : std::filesystem::directory_iterator(suite))
    if (e.path().extension() == ".yaml" || e.path().extension() == ".yml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw cli::ArgError("eval: no .yaml scenarios in " + suite.string());
  const bool baseline = !args.has("no-baseline");
  const bool progress = isatty(STDERR_FILENO);
  const std::int64_t offset = args.get_int("seed-offset");

  std::vector<FaultOutcome> ours, base;
  std::map<std::string, std::vector<FaultOutcome>> ours_by_type, base_by_type;
  std::map<std::string, int> false_by_type, unnecessary_by_type;
  int false_incidents = 0, unnecessary = 0, false_alerts = 0;
  double days = 0;
  const std::int64_t t0 = monotonic_ms();
  for (std::size_t k = 0; k < files.size(); ++k) {
    if (progress)
      std::fprintf(stderr, "\r[%zu/%zu] %-40s %5.0fs", k + 1, files.size(), files[k].filename().c_str(),
                   static_cast<double>(monotonic_ms() - t0) / 1000.0);
    RunRecord with = run_scenario({files[k].string(), offset, true, {}});
    RunRecord without;
    if (baseline) without = run_scenario({files[k].string(), offset, false, {}});
    days += static_cast<double>(with.end - with.start) / 86'400'000.0;
    auto outcomes = score_faults(with, baseline ? &without : nullptr);
    for (const auto& o : outcomes) {
      ours.push_back(o);
      ours_by_type[o.fault.fault_type].push_back(o);
    }
    false_incidents += count_false_incidents(with);
    unnecessary += count_unnecessary_actions(with);
    for (const auto& i : with.incidents) {
      RunRecord one = with;
      one.incidents = {i};
      if (count_false_incidents(one)) ++false_by_type[std::string(to_string(i.type))];
    }
    if (baseline) {
      int fa = 0;
      for (const auto& o : score_baseline(without, &fa)) {
        base.push_back(o);
        base_by_type[o.fault.fault_type].push_back(o);
      }
      false_alerts += fa;
    }
  }
  if (progress) std::fprintf(stderr, "\r%70s\r", "");

  Figures overall = aggregate(ours, false_incidents, unnecessary, days);
  Figures base_overall = aggregate(base, false_alerts, 0, days);
  if (args.has("json")) {
    nlohmann::json out;
    out["scenarios"] = files.size();
    out["simulated_days"] = days;
    out["seed_offset"] = offset;
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
  std::printf("%zu scenarios, %.2f simulated days, seed offset %lld\n\n", files.size(), days,
              static_cast<long long>(offset));
  std::printf("%-20s %6s %6s %6s %6s %8s %8s %8s %8s %8s %6s %8s\n", "", "faults", "recall", "type", "rca",
              "false/d", "mttd50", "mttd90", "mttr50", "mttr90", "unnec", "leadOOM");
  for (const auto& [type, list] : ours_by_type) print_row(type, aggregate(list, 0, 0, days));
  print_row("OVERALL", overall);
  if (baseline) {
    std::puts("\nbaseline: static threshold rules with for: 5m, restart-only remediation");
    for (const auto& [type, list] : base_by_type) print_row(type, aggregate(list, 0, 0, days));
    print_row("BASELINE", base_overall);
    if (std::isfinite(overall.mttr_median_s) && overall.mttr_median_s > 0 && std::isfinite(base_overall.mttr_median_s))
      std::printf("\nMTTR median: %.1fx shorter than the baseline\n", base_overall.mttr_median_s / overall.mttr_median_s);
  }
  return 0;
}

}  // namespace selfheal::eval
