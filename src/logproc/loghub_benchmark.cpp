#include "logproc/loghub_benchmark.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "core/clock.hpp"

namespace selfheal::logproc {
namespace fs = std::filesystem;

bool parse_csv(std::string_view text, std::vector<std::vector<std::string>>& rows, std::string& error) {
  rows.clear();
  std::vector<std::string> row;
  std::string field;
  bool in_quotes = false;
  bool field_started = false;
  std::size_t line = 1, quote_line = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') { field.push_back('"'); ++i; }
        else in_quotes = false;
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      continue;
    }
    switch (c) {
      case '"':
        if (!field_started || field.empty()) { in_quotes = true; quote_line = line; field_started = true; }
        else field.push_back(c);  // a stray quote inside an unquoted field is kept as text
        break;
      case ',':
        row.push_back(std::move(field));
        field.clear();
        field_started = false;
        break;
      case '\r':
        if (i + 1 < text.size() && text[i + 1] == '\n') break;  // CRLF
        [[fallthrough]];
      case '\n':
        row.push_back(std::move(field));
        field.clear();
        field_started = false;
        rows.push_back(std::move(row));
        row.clear();
        ++line;
        break;
      default:
        field.push_back(c);
        field_started = true;
    }
  }
  if (in_quotes) {
    error = "unterminated quoted field starting on line " + std::to_string(quote_line);
    return false;
  }
  if (field_started || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return true;
}

std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += "\"\"";
    else out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string normalise_template(std::string_view t) {
  // Pass 1: whitespace to single spaces, trimmed.
  std::string spaced;
  spaced.reserve(t.size());
  bool pending_space = false;
  for (char c : t) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
      pending_space = !spaced.empty();
      continue;
    }
    if (pending_space) { spaced.push_back(' '); pending_space = false; }
    spaced.push_back(c);
  }
  // Pass 2: "<*><*>", "<*> <*>" -> "<*>".
  std::string out;
  out.reserve(spaced.size());
  std::size_t i = 0;
  while (i < spaced.size()) {
    if (spaced.compare(i, 3, "<*>") == 0) {
      out += "<*>";
      i += 3;
      for (;;) {
        std::size_t j = i;
        while (j < spaced.size() && spaced[j] == ' ') ++j;
        if (spaced.compare(j, 3, "<*>") == 0) i = j + 3;
        else break;
      }
      continue;
    }
    out.push_back(spaced[i++]);
  }
  return out;
}

Accuracy score_templates(const std::vector<std::string>& truth, const std::vector<std::string>& parsed) {
  Accuracy acc;
  if (truth.size() != parsed.size()) throw std::invalid_argument("score_templates: truth and parsed differ in length");
  std::vector<std::size_t> kept;
  for (std::size_t i = 0; i < truth.size(); ++i)
    if (!normalise_template(truth[i]).empty()) kept.push_back(i);
  acc.lines = kept.size();
  if (kept.empty()) return acc;

  // Group sizes on both sides, then for every parsed group: correct when all its lines share one
  // ground-truth template and that template has no other lines.
  std::map<std::string, std::size_t> truth_size;
  std::map<std::string, std::vector<std::size_t>> parsed_groups;
  std::size_t exact = 0;
  for (std::size_t i : kept) {
    truth_size[truth[i]]++;
    parsed_groups[parsed[i]].push_back(i);
    if (normalise_template(truth[i]) == normalise_template(parsed[i])) ++exact;
  }
  std::size_t correct = 0;
  for (const auto& [tmpl, lines] : parsed_groups) {
    const std::string& first_truth = truth[lines.front()];
    bool one_truth = std::all_of(lines.begin(), lines.end(), [&](std::size_t i) { return truth[i] == first_truth; });
    if (one_truth && truth_size[first_truth] == lines.size()) correct += lines.size();
  }
  acc.grouping = static_cast<double>(correct) / static_cast<double>(kept.size());
  acc.parsing = static_cast<double>(exact) / static_cast<double>(kept.size());
  return acc;
}

namespace {
std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read '" + p.string() + "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::optional<fs::path> structured_csv(const fs::path& dir) {
  std::optional<fs::path> fallback;
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    const std::string name = p.filename().string();
    if (name.ends_with("_structured_corrected.csv")) return p;
    if (name.ends_with("_structured.csv") && !fallback) fallback = p;
  }
  return fallback;
}
}  // namespace

std::vector<std::string> find_datasets(const std::string& data_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(data_dir, ec)) throw std::runtime_error("data directory '" + data_dir + "' does not exist");
  for (const auto& e : fs::directory_iterator(data_dir, ec))
    if (e.is_directory() && structured_csv(e.path())) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

DatasetInput load_dataset(const std::string& dataset_dir) {
  DatasetInput in;
  in.name = fs::path(dataset_dir).filename().string();
  if (in.name.empty()) in.name = fs::path(dataset_dir).parent_path().filename().string();
  auto csv = structured_csv(dataset_dir);
  if (!csv) throw std::runtime_error("'" + dataset_dir + "' holds no *_structured_corrected.csv");
  std::vector<std::vector<std::string>> rows;
  std::string error;
  if (!parse_csv(read_file(*csv), rows, error)) throw std::runtime_error(csv->string() + ": " + error);
  if (rows.empty()) throw std::runtime_error(csv->string() + ": empty file");
  const auto& header = rows[0];
  auto column = [&](std::string_view name) -> std::ptrdiff_t {
    auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? -1 : it - header.begin();
  };
  const auto content = column("Content"), tmpl = column("EventTemplate"), line_id = column("LineId");
  if (content < 0) throw std::runtime_error(csv->string() + ": no 'Content' column in the header");
  if (tmpl < 0) throw std::runtime_error(csv->string() + ": no 'EventTemplate' column in the header");
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    if (row.size() == 1 && row[0].empty()) continue;  // blank line
    if (row.size() != header.size())
      throw std::runtime_error(csv->string() + ": row " + std::to_string(r + 1) + " has " + std::to_string(row.size()) +
                               " fields, the header has " + std::to_string(header.size()));
    in.content.push_back(row[static_cast<std::size_t>(content)]);
    in.truth.push_back(row[static_cast<std::size_t>(tmpl)]);
    in.line_ids.push_back(line_id >= 0 ? row[static_cast<std::size_t>(line_id)] : std::to_string(r));
  }
  return in;
}

// One configuration for every dataset: the miner's defaults, which the service uses too.
MinerOptions benchmark_miner_options() { return MinerOptions{}; }

DatasetResult run_dataset(const DatasetInput& input, const MinerOptions& options, std::vector<std::string>& parsed) {
  DatasetResult r;
  r.name = input.name;
  r.drain_ga = drain_published_ga(input.name);
  TemplateMiner miner(options);
  std::vector<std::uint64_t> cluster_of(input.content.size());
  const auto t0 = monotonic_ns();
  for (std::size_t i = 0; i < input.content.size(); ++i) cluster_of[i] = miner.add(input.content[i]).cluster;
  r.seconds = static_cast<double>(monotonic_ns() - t0) / 1e9;
  parsed.resize(input.content.size());
  for (std::size_t i = 0; i < input.content.size(); ++i) parsed[i] = miner.template_text(cluster_of[i]);
  r.templates = miner.size();
  r.accuracy = score_templates(input.truth, parsed);
  return r;
}

std::optional<double> drain_published_ga(std::string_view dataset) {
  static const std::map<std::string, double, std::less<>> kDrain = {
      {"HDFS", 0.998},  {"Hadoop", 0.948},      {"Spark", 0.920}, {"Zookeeper", 0.967}, {"BGL", 0.963},
      {"HPC", 0.887},   {"Thunderbird", 0.955}, {"Linux", 0.690}, {"Apache", 1.0},      {"OpenSSH", 0.788}};
  auto it = kDrain.find(dataset);
  if (it == kDrain.end()) return std::nullopt;
  return it->second;
}

}  // namespace selfheal::logproc
