// `selfheal nab` and `selfheal nab-score`: run the streaming detector over a NAB-layout corpus and
// score NAB results files. See src/detector/README.md.
#pragma once

#include <ostream>
#include <string>

#include "detector/nab.hpp"
#include "detector/nab_detector.hpp"

namespace selfheal::detector {

struct NabRunOptions {
  std::string data_dir;
  std::string labels_file;  // combined_windows.json: fills the `label` column (1 inside a window)
  std::string out_dir;
  std::string model_file;   // empty: models/nab-ensemble.json when present, else built-in
  bool progress = false;
};

struct NabRunSummary {
  std::size_t files = 0;
  std::size_t points = 0;
  std::size_t skipped_values = 0;
  double seconds = 0;
  std::string detector;  // name written in the results (no underscore)
  std::string version;
};

// Loads a NAB model file ({"kind":"nab-ensemble", ...}); throws std::runtime_error naming the problem.
NabParams load_nab_params(const std::string& path);
// Scores every series of a corpus in memory (what the benchmark and `nab` share).
std::vector<nab::ScoredFile> score_series(const std::vector<nab::Series>& corpus, const NabParams& params);
NabRunSummary run_nab(const NabRunOptions& options, std::ostream& log);
// Reads OUT/<detector>/<category>/<detector>_<file>.csv results and scores them; one entry per detector.
std::vector<std::pair<std::string, std::vector<nab::ProfileResult>>> score_results(const std::string& out_dir,
                                                                                   const std::string& labels_file);
void print_results(const std::vector<nab::ProfileResult>& results, std::ostream& out);

int nab_main(int argc, char** argv);
int nab_score_main(int argc, char** argv);

}  // namespace selfheal::detector
