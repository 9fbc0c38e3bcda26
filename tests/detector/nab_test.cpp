// The NAB scorer against NAB's own numbers: the null detector scores 0, a perfect detector 100,
// and NAB's stored windowed-Gaussian scores give 39.65 / 20.87 / 47.41.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "detector/nab.hpp"
#include "detector/nab_cli.hpp"

using namespace selfheal::detector;
namespace fs = std::filesystem;

namespace {
const std::string kData = "../shared/data/nab/data";
const std::string kWindows = "../shared/data/nab/labels/combined_windows.json";
const std::string kReference = "../shared/data/nab/reference-scores/windowedGaussian";

struct Corpus {
  std::vector<nab::Series> series = nab::read_corpus(kData);
  nab::Windows windows = nab::read_windows(kWindows);
};
const Corpus& corpus() {
  static Corpus c;
  return c;
}

std::vector<nab::ScoredFile> with_scores(const std::function<double(const nab::Series&, std::size_t)>& f) {
  std::vector<nab::ScoredFile> out;
  for (const auto& s : corpus().series) {
    nab::ScoredFile sf{s.category, s.file, s.timestamps, {}};
    for (std::size_t i = 0; i < s.values.size(); ++i) sf.scores.push_back(f(s, i));
    out.push_back(std::move(sf));
  }
  return out;
}
}  // namespace

TEST(NabCorpus, ReadsEveryFileAndRow) {
  const auto& c = corpus();
  EXPECT_EQ(c.series.size(), 58u);
  std::size_t rows = 0;
  for (const auto& s : c.series) rows += s.values.size();
  EXPECT_EQ(rows, 365558u);
  std::size_t windows = 0;
  for (const auto& [k, w] : c.windows) windows += w.size();
  EXPECT_EQ(windows, 116u);
}

TEST(NabScorer, NullDetectorScoresZero) {
  auto r = nab::score_corpus(with_scores([](const nab::Series&, std::size_t) { return 0.0; }), corpus().windows);
  ASSERT_EQ(r.size(), 3u);
  for (const auto& p : r) EXPECT_NEAR(p.normalized, 0.0, 1e-9) << p.profile;
}

TEST(NabScorer, PerfectDetectorScoresHundred) {
  // Fires once, on the first row of every window.
  auto r = nab::score_corpus(with_scores([](const nab::Series& s, std::size_t i) {
                               auto it = corpus().windows.find(s.key());
                               if (it == corpus().windows.end()) return 0.0;
                               for (const auto& [a, b] : it->second)
                                 if (s.timestamps[i] >= a && (i == 0 || s.timestamps[i - 1] < a)) return 1.0;
                               return 0.0;
                             }),
                             corpus().windows);
  for (const auto& p : r) EXPECT_NEAR(p.normalized, 100.0, 1e-6) << p.profile;
}

TEST(NabScorer, ReproducesNabOnStoredWindowedGaussianScores) {
  std::vector<nab::ScoredFile> files;
  for (const auto& s : corpus().series) {
    nab::ScoredFile sf{s.category, s.file, s.timestamps, {}};
    std::ifstream in(kReference + "/" + s.category + "/" + s.file);
    ASSERT_TRUE(in) << s.key();
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) sf.scores.push_back(std::stod(line));
    ASSERT_EQ(sf.scores.size(), s.values.size()) << s.key();
    files.push_back(std::move(sf));
  }
  auto r = nab::score_corpus(files, corpus().windows);
  EXPECT_NEAR(r[0].normalized, 39.65, 0.005);
  EXPECT_NEAR(r[1].normalized, 20.87, 0.005);
  EXPECT_NEAR(r[2].normalized, 47.41, 0.005);
}

TEST(NabScorer, ScaledSigmoid) {
  EXPECT_NEAR(nab::scaled_sigmoid(-1.0), 0.98661, 1e-5);
  EXPECT_NEAR(nab::scaled_sigmoid(0.0), 0.0, 1e-12);
  EXPECT_EQ(nab::scaled_sigmoid(3.5), -1.0);
}

TEST(NabHarness, BadValuesAreSkippedAndCountedAndResultsRoundTripThroughTheScorer) {
  fs::path root = fs::temp_directory_path() / ("selfheal-nab-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "data" / "mine");
  {
    std::ofstream f(root / "data" / "mine" / "series_one.csv");
    f << "timestamp,value\n";
    for (int i = 0; i < 2000; ++i) {
      char ts[32];
      std::snprintf(ts, sizeof ts, "2020-01-%02d %02d:%02d:00", 1 + i / 1440, (i / 60) % 24, i % 60);
      if (i == 10) f << ts << ",\n";
      else if (i == 11) f << ts << ",abc\n";
      else f << ts << "," << (i >= 1500 && i < 1510 ? 50.0 : std::sin(i * 0.1)) << "\n";
    }
  }
  {
    std::ofstream w(root / "windows.json");
    w << R"({"mine/series_one.csv": [["2020-01-02 00:50:00.000000", "2020-01-02 01:10:00.000000"]]})";
  }
  NabRunOptions o{(root / "data").string(), (root / "windows.json").string(), (root / "out").string(), "", false};
  std::ostringstream log;
  auto sum = run_nab(o, log);
  EXPECT_EQ(sum.files, 1u);
  EXPECT_EQ(sum.points, 2000u);
  EXPECT_EQ(sum.skipped_values, 2u);
  EXPECT_EQ(sum.detector.find('_'), std::string::npos);
  fs::path results = root / "out" / sum.detector / "mine" / (sum.detector + "_series_one.csv");
  ASSERT_TRUE(fs::exists(results));
  std::ifstream in(results);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, "timestamp,value,anomaly_score,label");
  auto scored = score_results((root / "out").string(), (root / "windows.json").string());
  ASSERT_EQ(scored.size(), 1u);
  EXPECT_GT(scored[0].second[0].normalized, 50.0);  // the jump at row 1500 is found inside its window
  fs::remove_all(root);
}

TEST(NabHarness, BrokenInputNamesFileAndLine) {
  fs::path root = fs::temp_directory_path() / ("selfheal-nab-bad-" + std::to_string(::getpid()));
  fs::create_directories(root / "c");
  std::ofstream(root / "c" / "x.csv") << "timestamp,value\n2020-01-01 00:00:00,1\nyesterday,2\n";
  try {
    nab::read_corpus(root.string());
    FAIL();
  } catch (const std::runtime_error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("x.csv:3"), std::string::npos) << m;
  }
  fs::remove_all(root);
}

TEST(NabDetectorOnCorpus, HoldsItsMeasuredScore) {
  // Regression guard for the shipped parameters (docs/nab-scores.md): one configuration for the
  // whole corpus, labels used only by the scorer.
  auto params = load_nab_params("models/nab-ensemble.json");
  auto r = nab::score_corpus(score_series(corpus().series, params), corpus().windows);
  // v1.6.0 measured 76.76 / 69.86 / 81.06 (the targets of issue 9 are 75.0 / 67.0 / 80.5).
  EXPECT_GE(r[0].normalized, 76.7);
  EXPECT_GE(r[1].normalized, 69.8);
  EXPECT_GE(r[2].normalized, 81.0);
}
