// The NAB harness: read any NAB-layout corpus (category folders of `timestamp,value` CSVs), run a
// streaming detector over every file, write NAB results files, and score results exactly as NAB's
// sweeper does (probationary period, windows, scaled sigmoid, one threshold per profile swept over
// every distinct score to maximise the corpus total, normalisation against null and perfect).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace selfheal::detector::nab {

// One data file. `skipped` counts rows whose value was missing or not a number (scored 0).
struct Series {
  std::string category;  // "realKnownCause"
  std::string file;      // "nyc_taxi.csv"
  std::vector<std::int64_t> timestamps;  // seconds since the epoch
  std::vector<std::string> timestamp_text;
  std::vector<double> values;  // NaN where the value was unusable
  std::size_t skipped = 0;
  std::string key() const { return category + "/" + file; }
};

// "2014-07-01 00:00:00[.ffffff]" -> seconds since the epoch; false when malformed.
bool parse_timestamp(const std::string& s, std::int64_t& out);

// Reads one CSV; throws std::runtime_error naming the file and line for a broken header/timestamp.
Series read_series(const std::string& path, const std::string& category);
// Every `<dir>/<category>/*.csv`, sorted by key.
std::vector<Series> read_corpus(const std::string& dir);

// Windows per file key, as [start, end] timestamps (seconds), from combined_windows.json.
using Windows = std::map<std::string, std::vector<std::pair<std::int64_t, std::int64_t>>>;
Windows read_windows(const std::string& path);

struct Profile {
  std::string name;
  double tp, fp, fn;
};
const std::vector<Profile>& profiles();  // standard, reward_low_FP_rate, reward_low_FN_rate

// A file's scores and the row timestamps they belong to.
struct ScoredFile {
  std::string category;
  std::string file;
  std::vector<std::int64_t> timestamps;
  std::vector<double> scores;
};

struct CategoryScore {
  std::string category;
  double raw = 0;        // sum of file scores at the corpus threshold
  double normalized = 0; // 100 * (raw - null) / (perfect - null) over this category's windows
  int windows = 0;
  int detected = 0;
  int false_positives = 0;
};

struct ProfileResult {
  std::string profile;
  double threshold = 0;
  double raw = 0;
  double null_score = 0;
  double perfect_score = 0;
  double normalized = 0;
  std::vector<CategoryScore> categories;
};

// Scores a whole corpus: one threshold per profile. Files without an entry in `windows` are
// reported in `unlabelled` and ignored.
std::vector<ProfileResult> score_corpus(const std::vector<ScoredFile>& files, const Windows& windows,
                                        std::vector<std::string>* unlabelled = nullptr);

// scaledSigmoid of NAB: 2/(1+e^{5y}) - 1, and -1 beyond y > 3.
double scaled_sigmoid(double y);

}  // namespace selfheal::detector::nab
