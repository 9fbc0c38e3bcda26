// The loghub-2k parsing benchmark: reads datasets laid out like loghub-2k (a folder per dataset
// holding X_2k.log_structured_corrected.csv), mines the Content column with one TemplateMiner
// configuration for every dataset, and scores grouping accuracy (GA) and parsing accuracy (PA) as
// defined in shared/data/README.md. Used by `selfheal logparse` and by the tests.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "logproc/template_miner.hpp"

namespace selfheal::logproc {

// RFC 4180 CSV: quoted fields may hold commas, doubled quotes and newlines. Returns false with
// `error` naming the line on an unterminated quote.
bool parse_csv(std::string_view text, std::vector<std::vector<std::string>>& rows, std::string& error);
// Quotes a field for CSV output when it needs it.
std::string csv_field(std::string_view s);

// Whitespace collapsed to single spaces, trimmed, and runs of adjacent <*> (touching or separated
// by whitespace) collapsed into one: the form both sides are compared in for PA.
std::string normalise_template(std::string_view t);

struct Accuracy {
  double grouping = 0;  // GA
  double parsing = 0;   // PA
  std::size_t lines = 0;  // lines scored (ground truth non-empty)
};

// GA and PA of `parsed` against `truth` (one template per line, same order). Lines whose truth is
// empty (after trimming) are dropped first.
Accuracy score_templates(const std::vector<std::string>& truth, const std::vector<std::string>& parsed);

struct DatasetResult {
  std::string name;
  Accuracy accuracy;
  std::optional<double> drain_ga;  // Drain's published GA, where the data README gives one
  std::size_t templates = 0;       // templates the miner found
  double seconds = 0;              // mining time
};

struct DatasetInput {
  std::string name;
  std::vector<std::string> line_ids;
  std::vector<std::string> content;
  std::vector<std::string> truth;
};

// Loads DIR/NAME/NAME_2k.log_structured_corrected.csv (any file ending in
// _structured_corrected.csv, else _structured.csv). Throws std::runtime_error naming the file and
// the problem.
DatasetInput load_dataset(const std::string& dataset_dir);
// The dataset folders of `data_dir` that hold a structured CSV, sorted by name.
std::vector<std::string> find_datasets(const std::string& data_dir);

// Mines `input.content` and scores it; fills `parsed` with each line's final template.
DatasetResult run_dataset(const DatasetInput& input, const MinerOptions& options, std::vector<std::string>& parsed);

// The miner configuration the benchmark and the service share.
MinerOptions benchmark_miner_options();

std::optional<double> drain_published_ga(std::string_view dataset);

}  // namespace selfheal::logproc
