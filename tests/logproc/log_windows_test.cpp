#include "logproc/log_windows.hpp"

#include <gtest/gtest.h>

#include "contracts/feature_names.hpp"

namespace selfheal::logproc {
namespace {
namespace fn = feature_names;

constexpr TimeMs kT0 = 1'795'514'400'000;  // a multiple of 10 s

LogWindowAggregator make(WindowOptions o = {}) {
  return LogWindowAggregator(o, [](std::uint64_t c) { return std::make_pair(c * 100, "t" + std::to_string(c)); });
}

WindowRecord rec(TimeMs ts, LogLevel level, std::uint64_t cluster, bool is_new = false) {
  WindowRecord r;
  r.ts = ts;
  r.level = level;
  r.cluster = cluster;
  r.new_template = is_new;
  r.example = "line";
  return r;
}

TEST(LogWindows, SlidingWindowsCountEachRecordInEveryWindowThatCoversIt) {
  auto agg = make();
  agg.add("orders", rec(kT0 + 1'000, LogLevel::Info, 1, true));
  agg.add("orders", rec(kT0 + 2'000, LogLevel::Error, 2, true));
  agg.add("orders", rec(kT0 + 15'000, LogLevel::Warn, 1));
  agg.add("orders", rec(kT0 + 15'500, LogLevel::Error, 2));
  std::vector<FeatureWindow> out;
  agg.close(kT0 + 70'000, out);
  ASSERT_EQ(out.size(), 7u);  // ends at +10 s .. +70 s
  const FeatureWindow& first = out[0];
  EXPECT_EQ(first.end, kT0 + 10'000);
  EXPECT_EQ(first.start, kT0 - 50'000);
  EXPECT_EQ(first.source, FeatureSource::Logs);
  EXPECT_DOUBLE_EQ(first.get(fn::kLogLines), 2);
  EXPECT_DOUBLE_EQ(first.get(fn::kLogError), 1);
  EXPECT_DOUBLE_EQ(first.get(fn::kLogNewTemplates), 2);
  const FeatureWindow& second = out[1];
  EXPECT_DOUBLE_EQ(second.get(fn::kLogLines), 4);
  EXPECT_DOUBLE_EQ(second.get(fn::kLogInfo), 1);
  EXPECT_DOUBLE_EQ(second.get(fn::kLogWarn), 1);
  EXPECT_DOUBLE_EQ(second.get(fn::kLogError), 2);
  EXPECT_DOUBLE_EQ(second.get(fn::kLogErrorRatio), 0.5);
  EXPECT_DOUBLE_EQ(second.get(fn::kLogDistinctTemplates), 2);
  ASSERT_EQ(second.top_templates.size(), 2u);
  EXPECT_EQ(second.top_templates[0].count, 2u);
  EXPECT_EQ(second.top_templates[0].example, "line");
  // The window ending at +70 s starts at +10 s: only the records at +15 s are in it, and their
  // templates are not new there.
  const FeatureWindow& last = out.back();
  EXPECT_EQ(last.end, kT0 + 70'000);
  EXPECT_DOUBLE_EQ(last.get(fn::kLogLines), 2);
  EXPECT_DOUBLE_EQ(last.get(fn::kLogNewTemplates), 0);
  for (const auto& t : last.top_templates) EXPECT_FALSE(t.is_new);
}

TEST(LogWindows, WatermarkFromEventTimeClosesAndLateRecordsAreCounted) {
  WindowOptions o;
  o.window_ms = 10'000;
  o.step_ms = 10'000;
  o.allowed_lateness_ms = 2'000;
  auto agg = make(o);
  std::vector<FeatureWindow> out;
  agg.add("cache", rec(kT0 + 1'000, LogLevel::Info, 1));
  agg.add("cache", rec(kT0 + 11'000, LogLevel::Info, 1));  // watermark +9 s: nothing closes yet
  agg.close(INT64_MIN, out);
  EXPECT_TRUE(out.empty());
  agg.add("cache", rec(kT0 + 9'500, LogLevel::Error, 1));  // late but within lateness: counted
  agg.add("cache", rec(kT0 + 12'500, LogLevel::Info, 1));  // watermark +10.5 s
  agg.close(INT64_MIN, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_DOUBLE_EQ(out[0].get(fn::kLogLines), 2);
  EXPECT_DOUBLE_EQ(out[0].get(fn::kLogError), 1);
  EXPECT_FALSE(agg.add("cache", rec(kT0 + 5'000, LogLevel::Info, 1)));
  EXPECT_EQ(agg.late(), 1u);
}

TEST(LogWindows, QuietServiceStillGetsEmptyWindowsFromTheClock) {
  WindowOptions o;
  o.window_ms = 20'000;
  o.step_ms = 10'000;
  auto agg = make(o);
  agg.add("payments", rec(kT0 + 3'000, LogLevel::Info, 1));
  std::vector<FeatureWindow> out;
  agg.close(kT0 + 40'000, out);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_DOUBLE_EQ(out[0].get(fn::kLogLines), 1);
  EXPECT_DOUBLE_EQ(out[1].get(fn::kLogLines), 1);
  EXPECT_DOUBLE_EQ(out[2].get(fn::kLogLines), 0);
  EXPECT_DOUBLE_EQ(out[3].get(fn::kLogLines), 0);
  EXPECT_DOUBLE_EQ(out[3].get(fn::kLogErrorRatio), 0);
  EXPECT_TRUE(out[3].top_templates.empty());
}

TEST(LogWindows, TopTemplatesAreCappedAndOrderedByCount) {
  WindowOptions o;
  o.top_templates = 2;
  auto agg = make(o);
  for (int c = 1; c <= 4; ++c)
    for (int k = 0; k < c; ++k) agg.add("search", rec(kT0 + 1'000, LogLevel::Info, static_cast<std::uint64_t>(c)));
  std::vector<FeatureWindow> out;
  agg.close(kT0 + 10'000, out);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].top_templates.size(), 2u);
  EXPECT_EQ(out[0].top_templates[0].template_id, 400u);
  EXPECT_EQ(out[0].top_templates[0].template_text, "t4");
  EXPECT_EQ(out[0].top_templates[1].count, 3u);
  EXPECT_DOUBLE_EQ(out[0].get(fn::kLogDistinctTemplates), 4);
}

TEST(LogWindows, RejectsAWindowThatIsNotAMultipleOfTheStep) {
  WindowOptions o;
  o.window_ms = 25'000;
  EXPECT_THROW(make(o), std::invalid_argument);
}

}  // namespace
}  // namespace selfheal::logproc
