#include "logproc/logparse_command.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "logproc/loghub_benchmark.hpp"

namespace selfheal::logproc {
namespace {

constexpr const char* kUsage =
    "usage: selfheal logparse --data DIR [--json] [--out DIR]\n"
    "  Mines the templates of every dataset folder in DIR (laid out like loghub-2k: NAME/NAME_2k.log_structured_corrected.csv,\n"
    "  input = its Content column) with one configuration, and prints per dataset 'NAME GA PA [drain=GA]'\n"
    "  and a last line 'AVERAGE GA PA'.\n"
    "  --data DIR   the datasets (e.g. ../shared/data/loghub-2k)\n"
    "  --json       print one JSON document instead of text\n"
    "  --out DIR    write DIR/NAME_parsed.csv (LineId,EventTemplate) per dataset\n";

struct Options {
  std::string data, out;
  bool json = false;
};

// Returns false when --help was asked.
bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    bool has_inline = false;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_inline = true;
    }
    auto take = [&](const char* name) {
      if (has_inline) return value;
      if (i + 1 >= argc) throw std::invalid_argument(std::string("logparse: ") + name + " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "--help" || a == "-h") { std::fputs(kUsage, stdout); return false; }
    if (a == "--data") o.data = take("--data");
    else if (a == "--out") o.out = take("--out");
    else if (a == "--json") o.json = true;
    else throw std::invalid_argument("logparse: unknown argument '" + a + "' (see --help)");
  }
  if (o.data.empty()) throw std::invalid_argument("logparse: --data DIR is required (e.g. --data ../shared/data/loghub-2k)");
  return true;
}

}  // namespace

int logparse_main(int argc, char** argv) {
  Options opt;
  try {
    if (!parse_args(argc, argv, opt)) return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  const bool progress = isatty(STDERR_FILENO) != 0;
  try {
    const auto dirs = find_datasets(opt.data);
    if (dirs.empty()) throw std::runtime_error("no dataset folders with a *_structured_corrected.csv under '" + opt.data + "'");
    if (!opt.out.empty()) std::filesystem::create_directories(opt.out);
    std::vector<DatasetResult> results;
    for (std::size_t k = 0; k < dirs.size(); ++k) {
      if (progress) std::fprintf(stderr, "\r[%zu/%zu] %-20s", k + 1, dirs.size(), std::filesystem::path(dirs[k]).filename().c_str());
      const DatasetInput input = load_dataset(dirs[k]);
      std::vector<std::string> parsed;
      results.push_back(run_dataset(input, benchmark_miner_options(), parsed));
      if (!opt.out.empty()) {
        const auto path = std::filesystem::path(opt.out) / (input.name + "_parsed.csv");
        std::ofstream f(path, std::ios::trunc);
        if (!f) throw std::runtime_error("cannot write '" + path.string() + "'");
        f << "LineId,EventTemplate\n";
        for (std::size_t i = 0; i < parsed.size(); ++i) f << csv_field(input.line_ids[i]) << ',' << csv_field(parsed[i]) << '\n';
        if (!f.flush()) throw std::runtime_error("cannot write '" + path.string() + "'");
      }
    }
    if (progress) std::fprintf(stderr, "\r%40s\r", "");
    double ga = 0, pa = 0;
    for (const auto& r : results) { ga += r.accuracy.grouping; pa += r.accuracy.parsing; }
    ga /= static_cast<double>(results.size());
    pa /= static_cast<double>(results.size());
    if (opt.json) {
      nlohmann::json j;
      j["datasets"] = nlohmann::json::array();
      for (const auto& r : results) {
        nlohmann::json d = {{"name", r.name}, {"ga", r.accuracy.grouping}, {"pa", r.accuracy.parsing},
                            {"lines", r.accuracy.lines}, {"templates", r.templates}, {"seconds", r.seconds}};
        d["drain_ga"] = r.drain_ga ? nlohmann::json(*r.drain_ga) : nlohmann::json(nullptr);
        j["datasets"].push_back(std::move(d));
      }
      j["average"] = {{"ga", ga}, {"pa", pa}};
      std::cout << j.dump(2) << "\n";
    } else {
      for (const auto& r : results) {
        std::printf("%s %.3f %.3f", r.name.c_str(), r.accuracy.grouping, r.accuracy.parsing);
        if (r.drain_ga) std::printf(" drain=%.3f", *r.drain_ga);
        std::printf("\n");
      }
      std::printf("AVERAGE %.3f %.3f\n", ga, pa);
    }
    return 0;
  } catch (const std::exception& e) {
    if (progress) std::fprintf(stderr, "\n");
    std::fprintf(stderr, "logparse: %s\n", e.what());
    return 2;
  }
}

}  // namespace selfheal::logproc
