#include "detector/nab_cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/args.hpp"

namespace selfheal::detector {
namespace fs = std::filesystem;

NabParams load_nab_params(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open model file");
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) throw std::runtime_error(path + ": not valid JSON");
  if (j.contains("kind") && j["kind"] != "nab-ensemble")
    throw std::runtime_error(path + ": kind is " + j["kind"].dump() + ", expected \"nab-ensemble\"");
  try {
    return NabParams::from_json(j);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

std::vector<nab::ScoredFile> score_series(const std::vector<nab::Series>& corpus, const NabParams& params) {
  std::vector<nab::ScoredFile> out;
  out.reserve(corpus.size());
  for (const auto& s : corpus) {
    NabDetector d(params);
    nab::ScoredFile f{s.category, s.file, s.timestamps, {}};
    f.scores.reserve(s.values.size());
    for (std::size_t r = 0; r < s.values.size(); ++r) f.scores.push_back(d.score(s.values[r], s.timestamps[r]));
    out.push_back(std::move(f));
  }
  return out;
}

namespace {
std::string detector_name(const NabParams& p) {
  std::string n;
  for (char c : p.name)
    if (c != '_' && c != '/' && c != ' ') n += c;
  return n.empty() ? "selfheal" : n;
}

// Full double precision: rounded scores tie and the threshold sweep cannot separate them.
std::string fmt_double(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}
}  // namespace

NabRunSummary run_nab(const NabRunOptions& o, std::ostream& log) {
  NabParams params;
  std::string model_file = o.model_file;
  if (model_file.empty() && fs::exists("models/nab-ensemble.json")) model_file = "models/nab-ensemble.json";
  if (!model_file.empty()) params = load_nab_params(model_file);
  nab::Windows windows;
  if (!o.labels_file.empty()) windows = nab::read_windows(o.labels_file);
  auto corpus = nab::read_corpus(o.data_dir);
  NabRunSummary sum;
  sum.detector = detector_name(params);
  sum.version = params.version;
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    const auto& s = corpus[i];
    NabDetector d(params);
    fs::path dir = fs::path(o.out_dir) / sum.detector / s.category;
    fs::create_directories(dir);
    fs::path file = dir / (sum.detector + "_" + s.file);
    std::ofstream out(file);
    if (!out) throw std::runtime_error(file.string() + ": cannot write");
    const auto wit = windows.find(s.key());
    out << "timestamp,value,anomaly_score,label\n";
    for (std::size_t r = 0; r < s.values.size(); ++r) {
      double score = d.score(s.values[r], s.timestamps[r]);
      int label = 0;
      if (wit != windows.end())
        for (const auto& [a, b] : wit->second)
          if (s.timestamps[r] >= a && s.timestamps[r] <= b) label = 1;
      out << s.timestamp_text[r] << ',' << (std::isnan(s.values[r]) ? std::string() : fmt_double(s.values[r])) << ','
          << fmt_double(score) << ',' << label << '\n';
    }
    sum.points += s.values.size();
    sum.skipped_values += s.skipped;
    ++sum.files;
    if (o.progress)
      log << "\r[" << (i + 1) << "/" << corpus.size() << "] " << s.key() << "                    " << std::flush;
  }
  if (o.progress) log << "\n";
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

std::vector<std::pair<std::string, std::vector<nab::ProfileResult>>> score_results(const std::string& out_dir,
                                                                                   const std::string& labels_file) {
  auto windows = nab::read_windows(labels_file);
  if (!fs::is_directory(out_dir)) throw std::runtime_error(out_dir + ": not a directory");
  std::vector<std::pair<std::string, std::vector<nab::ProfileResult>>> all;
  std::vector<fs::path> detectors;
  for (const auto& d : fs::directory_iterator(out_dir))
    if (d.is_directory()) detectors.push_back(d.path());
  std::sort(detectors.begin(), detectors.end());
  for (const auto& det : detectors) {
    const std::string name = det.filename().string();
    std::vector<nab::ScoredFile> files;
    std::vector<fs::path> paths;
    for (const auto& cat : fs::directory_iterator(det))
      if (cat.is_directory())
        for (const auto& f : fs::directory_iterator(cat.path()))
          if (f.path().extension() == ".csv") paths.push_back(f.path());
    std::sort(paths.begin(), paths.end());
    for (const auto& path : paths) {
      nab::ScoredFile sf;
      sf.category = path.parent_path().filename().string();
      sf.file = path.filename().string();
      if (sf.file.rfind(name + "_", 0) == 0) sf.file = sf.file.substr(name.size() + 1);
      std::ifstream in(path);
      std::string line;
      std::getline(in, line);
      // Find the timestamp and anomaly_score columns by name.
      std::vector<std::string> cols;
      {
        std::stringstream h(line);
        std::string c;
        while (std::getline(h, c, ',')) {
          while (!c.empty() && (c.back() == '\r' || c.back() == ' ')) c.pop_back();
          cols.push_back(c);
        }
      }
      auto col = [&](const std::string& n) {
        auto it = std::find(cols.begin(), cols.end(), n);
        if (it == cols.end()) throw std::runtime_error(path.string() + ":1: no '" + n + "' column");
        return static_cast<std::size_t>(it - cols.begin());
      };
      const std::size_t ts_col = col("timestamp"), score_col = col("anomaly_score");
      std::size_t lineno = 1;
      while (std::getline(in, line)) {
        ++lineno;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        std::vector<std::string> f;
        std::stringstream ls(line);
        std::string c;
        while (std::getline(ls, c, ',')) f.push_back(c);
        if (f.size() <= std::max(ts_col, score_col)) f.resize(std::max(ts_col, score_col) + 1);
        std::int64_t ts;
        if (!nab::parse_timestamp(f[ts_col], ts))
          throw std::runtime_error(path.string() + ":" + std::to_string(lineno) + ": bad timestamp '" + f[ts_col] + "'");
        char* end = nullptr;
        double v = std::strtod(f[score_col].c_str(), &end);
        if (f[score_col].empty() || !end || *end != '\0' || !std::isfinite(v)) v = 0;  // unusable score: no detection
        sf.timestamps.push_back(ts);
        sf.scores.push_back(v);
      }
      files.push_back(std::move(sf));
    }
    all.emplace_back(name, nab::score_corpus(files, windows));
  }
  return all;
}

void print_results(const std::vector<nab::ProfileResult>& results, std::ostream& out) {
  char buf[256];
  for (const auto& r : results) {
    std::snprintf(buf, sizeof buf, "%-20s %6.2f  (threshold %.6f, raw %.3f)\n", r.profile.c_str(), r.normalized,
                  r.threshold, r.raw);
    out << buf;
    for (const auto& c : r.categories) {
      std::snprintf(buf, sizeof buf, "  %-24s %7.2f  windows %d/%d detected, %d false positives\n", c.category.c_str(),
                    c.normalized, c.detected, c.windows, c.false_positives);
      out << buf;
    }
  }
}

int nab_main(int argc, char** argv) {
  cli::Args args("nab", "selfheal nab --data DIR --labels FILE --out OUT [--model FILE]");
  args.option("data", "DIR", "NAB-layout corpus: category folders of timestamp,value CSV files");
  args.option("labels", "FILE", "combined_windows.json (fills the label column; optional)");
  args.option("out", "OUT", "results directory: OUT/<detector>/<category>/<detector>_<file>.csv");
  args.option("model", "FILE", "NAB model file (default models/nab-ensemble.json, else built-in parameters)");
  if (!args.parse(argc, argv)) return 0;
  NabRunOptions o;
  o.data_dir = args.get("data");
  o.labels_file = args.get("labels");
  o.out_dir = args.get("out");
  o.model_file = args.get("model");
  if (o.data_dir.empty()) throw cli::ArgError("nab: --data DIR is required");
  if (o.out_dir.empty()) throw cli::ArgError("nab: --out OUT is required");
  o.progress = isatty(STDERR_FILENO) != 0;
  auto s = run_nab(o, std::cerr);
  std::printf("%zu files, %zu points, %zu missing or non-numeric values skipped (scored 0), %.3f s; detector %s %s\n",
              s.files, s.points, s.skipped_values, s.seconds, s.detector.c_str(), s.version.c_str());
  return 0;
}

int nab_score_main(int argc, char** argv) {
  cli::Args args("nab-score", "selfheal nab-score OUT --labels FILE");
  args.positional("out", "results directory written by `selfheal nab`");
  args.option("labels", "FILE", "combined_windows.json");
  if (!args.parse(argc, argv)) return 0;
  if (args.get("labels").empty()) throw cli::ArgError("nab-score: --labels FILE is required");
  auto all = score_results(args.get("out"), args.get("labels"));
  if (all.empty()) throw std::runtime_error(args.get("out") + ": no detector folders with results");
  for (const auto& [name, results] : all) {
    std::cout << "detector " << name << "\n";
    print_results(results, std::cout);
  }
  const auto& last = all.back().second;
  char buf[128];
  std::snprintf(buf, sizeof buf, "standard %.2f low_fp %.2f low_fn %.2f\n", last[0].normalized, last[1].normalized,
                last[2].normalized);
  std::cout << buf;
  return 0;
}

}  // namespace selfheal::detector
