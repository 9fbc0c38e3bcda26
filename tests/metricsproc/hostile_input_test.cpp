// A short seeded run of the fuzz harness inside the unit tests: random and mutated scrapes (NaN,
// inf, 1e308, binary names, 40 labels, broken histograms, far-future and stale timestamps, JSON)
// never crash the processor, keep series under the cap and only ever emit finite features.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "fuzz_harness.hpp"

namespace selfheal {
namespace {

TEST(HostileInput, RandomScrapesKeepEveryInvariant) {
  std::mt19937 rng(2026);
  std::vector<std::uint8_t> input;
  fuzz::RunSummary total;
  for (int run = 0; run < 2000; ++run) {
    input.resize(64 + rng() % 2048);
    for (auto& b : input) b = static_cast<std::uint8_t>(rng());
    // Bias towards well-formed scrapes so the deep paths (windows, resets, eviction) are reached.
    for (std::size_t i = 0; i < input.size(); i += 7) input[i] = static_cast<std::uint8_t>(24 + rng() % 150);
    fuzz::RunSummary one;
    ASSERT_NO_THROW(one = fuzz::run_one_input(input.data(), input.size())) << "run " << run;
    total.accepted += one.accepted;
    total.rejected += one.rejected;
    total.windows += one.windows;
  }
  // The inputs did reach the deep paths, not only the early refusals.
  EXPECT_GT(total.accepted, 10'000u);
  EXPECT_GT(total.rejected, 10'000u);
  EXPECT_GT(total.windows, 1'000u);
}

TEST(HostileInput, JsonScrapesOfEveryShapeAreHandled) {
  const char* docs[] = {
      R"({"type":"metric_batch","v":1,"data":{"id":"x","ts":1800000000000,"service":"s","pod":"p","samples":[]}})",
      R"({"type":"metric_batch","v":1,"data":{"id":"x","ts":-5,"service":"","pod":"","samples":[{"name":"a"}]}})",
      "\x07{\"type\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
      "\x07\xff\xfe\x00garbage",
  };
  MetricBatch valid;
  valid.id = "b1";
  valid.ts = 1'800'000'000'000;
  valid.service = "orders";
  valid.pod = "orders-1";
  valid.samples.push_back(MetricSample{std::string(metric_names::kCpuUsage), MetricKind::Gauge, 250, {}, {}, 0});
  const std::string encoded = "\x07" + encode_event(valid);
  std::vector<std::string> all(std::begin(docs), std::end(docs));
  all.push_back(encoded);
  for (const std::string& d : all) {
    std::string s(d);
    if (s[0] != '\x07') s.insert(s.begin(), '\x07');  // op < 8: the rest is one JSON event
    EXPECT_NO_THROW(fuzz::run_one_input(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
  }
  std::string deep = "\x07";
  deep += std::string(10'000, '[');
  EXPECT_NO_THROW(fuzz::run_one_input(reinterpret_cast<const std::uint8_t*>(deep.data()), deep.size()));
}

}  // namespace
}  // namespace selfheal
