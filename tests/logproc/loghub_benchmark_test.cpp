#include "logproc/loghub_benchmark.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <fstream>
#include <unistd.h>

namespace selfheal::logproc {
namespace {

TEST(Csv, ParsesQuotedFieldsWithCommasQuotesAndNewlines) {
  std::vector<std::vector<std::string>> rows;
  std::string error;
  ASSERT_TRUE(parse_csv("a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\n2,\"two\nlines\",\n", rows, error)) << error;
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1], (std::vector<std::string>{"1", "x, y", "say \"hi\""}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"2", "two\nlines", ""}));
}

TEST(Csv, UnterminatedQuoteIsAnErrorNamingTheLine) {
  std::vector<std::vector<std::string>> rows;
  std::string error;
  EXPECT_FALSE(parse_csv("a,b\n1,\"open\n2,3\n", rows, error));
  EXPECT_NE(error.find("line 2"), std::string::npos) << error;
}

TEST(Csv, FieldQuotingRoundTrips) {
  std::vector<std::vector<std::string>> rows;
  std::string error;
  const std::string tricky = "a \"b\", c";
  ASSERT_TRUE(parse_csv("1," + csv_field(tricky) + "\n", rows, error));
  EXPECT_EQ(rows[0][1], tricky);
  EXPECT_EQ(csv_field("plain"), "plain");
}

TEST(Normalise, CollapsesWhitespaceAndAdjacentWildcards) {
  EXPECT_EQ(normalise_template("  a   <*>  <*> b\t<*><*>  "), "a <*> b <*>");
  EXPECT_EQ(normalise_template("x=<*>,<*>"), "x=<*>,<*>");
}

TEST(Score, PerfectParseScoresOne) {
  std::vector<std::string> truth = {"A <*>", "A <*>", "B"};
  auto acc = score_templates(truth, truth);
  EXPECT_DOUBLE_EQ(acc.grouping, 1.0);
  EXPECT_DOUBLE_EQ(acc.parsing, 1.0);
}

TEST(Score, MergedGroupsAreWrongSplitGroupsAreWrong) {
  // Truth: three groups (sizes 2, 1, 2). Parsed: merges A and B, splits C.
  std::vector<std::string> truth = {"A <*>", "A <*>", "B <*>", "C", "C"};
  std::vector<std::string> parsed = {"<*> <*>", "<*> <*>", "<*> <*>", "C", "C x"};
  auto acc = score_templates(truth, parsed);
  EXPECT_DOUBLE_EQ(acc.grouping, 0.0);
  EXPECT_DOUBLE_EQ(acc.parsing, 1.0 / 5.0);  // only line 4 matches "C"
}

TEST(Score, GroupingIsIndependentOfTemplateTextButParsingIsNot) {
  std::vector<std::string> truth = {"A <*>", "A <*>", "B", "B"};
  std::vector<std::string> parsed = {"t1", "t1", "B", "B"};
  auto acc = score_templates(truth, parsed);
  EXPECT_DOUBLE_EQ(acc.grouping, 1.0);
  EXPECT_DOUBLE_EQ(acc.parsing, 0.5);
}

TEST(Score, DropsLinesWithEmptyTruthAndNormalisesForParsing) {
  std::vector<std::string> truth = {"", "  ", "x <*> <*>", "y"};
  std::vector<std::string> parsed = {"junk", "junk2", "x   <*>", "z"};
  auto acc = score_templates(truth, parsed);
  EXPECT_EQ(acc.lines, 2u);
  EXPECT_DOUBLE_EQ(acc.grouping, 1.0);
  EXPECT_DOUBLE_EQ(acc.parsing, 0.5);
}

TEST(Loghub, MeetsTheAccuracyTargetsWithOneConfiguration) {
  const std::string data = "../shared/data/loghub-2k";
  if (!std::filesystem::exists(data)) GTEST_SKIP() << "no " << data;
  const auto dirs = find_datasets(data);
  ASSERT_EQ(dirs.size(), 10u);
  double ga = 0;
  for (const auto& d : dirs) {
    const auto input = load_dataset(d);
    ASSERT_EQ(input.content.size(), 2000u) << d;
    std::vector<std::string> parsed;
    const auto r = run_dataset(input, benchmark_miner_options(), parsed);
    EXPECT_GE(r.accuracy.grouping, 0.85) << r.name;
    ga += r.accuracy.grouping;
  }
  EXPECT_GE(ga / 10.0, 0.95);
}

TEST(Loghub, CommandPrintsOneLinePerDatasetAndWritesParsedCsv) {
  // SELFHEAL_BINARY from ctest, else the path CMake compiled in.
  const char* bin = std::getenv("SELFHEAL_BINARY");
#ifdef SELFHEAL_BINARY_PATH
  if (!bin || !*bin) bin = SELFHEAL_BINARY_PATH;
#endif
  const std::string data = "../shared/data/loghub-2k";
  if (!bin || !std::filesystem::exists(bin) || !std::filesystem::exists(data)) GTEST_SKIP() << "no binary or data";
  const auto out = std::filesystem::temp_directory_path() / ("logparse-test-" + std::to_string(::getpid()));
  const std::string cmd = std::string(bin) + " logparse --data " + data + " --out " + out.string() + " > " + out.string() + ".txt";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream f(out.string() + ".txt");
  std::string line;
  int lines = 0;
  std::string last;
  while (std::getline(f, line)) { ++lines; last = line; }
  EXPECT_EQ(lines, 11);
  EXPECT_EQ(last.rfind("AVERAGE ", 0), 0u) << last;
  std::ifstream parsed(out / "HDFS_parsed.csv");
  ASSERT_TRUE(std::getline(parsed, line));
  EXPECT_EQ(line, "LineId,EventTemplate");
  std::filesystem::remove_all(out);
  std::filesystem::remove(out.string() + ".txt");
}

}  // namespace
}  // namespace selfheal::logproc
