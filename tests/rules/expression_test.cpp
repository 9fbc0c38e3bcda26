#include <gtest/gtest.h>

#include "rules/expression.hpp"

namespace selfheal::rules {
namespace {

FeatureWindow window(std::vector<std::pair<std::string, double>> features) {
  FeatureWindow w;
  w.id = "w1";
  w.service = "orders";
  w.start = 1000;
  w.end = 11000;
  w.features = std::move(features);
  return w;
}

TEST(Expression, ComparesAndReportsLeftSideAsValue) {
  auto e = Expression::compile("memory_utilization_max > 90%");
  auto hit = e.evaluate(window({{"memory_utilization_max", 0.93}}));
  EXPECT_TRUE(hit.fired);
  EXPECT_DOUBLE_EQ(hit.value, 0.93);
  EXPECT_FALSE(e.evaluate(window({{"memory_utilization_max", 0.5}})).fired);
}

TEST(Expression, ArithmeticPrecedenceAndLogic) {
  auto e = Expression::compile("errors_per_s / requests_per_s * 100 >= 5 and not (cpu_utilization_mean > 0.9)");
  EXPECT_TRUE(e.evaluate(window({{"errors_per_s", 6}, {"requests_per_s", 100}, {"cpu_utilization_mean", 0.2}})).fired);
  EXPECT_FALSE(e.evaluate(window({{"errors_per_s", 6}, {"requests_per_s", 100}, {"cpu_utilization_mean", 0.95}})).fired);
  EXPECT_FALSE(e.evaluate(window({{"errors_per_s", 4}, {"requests_per_s", 100}, {"cpu_utilization_mean", 0.2}})).fired);
  auto o = Expression::compile("restarts > 2 or pods - pods_ready >= 1");
  EXPECT_TRUE(o.evaluate(window({{"restarts", 0}, {"pods", 3}, {"pods_ready", 2}})).fired);
  EXPECT_FALSE(o.evaluate(window({{"restarts", 0}, {"pods", 3}, {"pods_ready", 3}})).fired);
  EXPECT_TRUE(Expression::compile("-1 < 2 - 4 * -1").evaluate(window({})).fired);
}

TEST(Expression, MissingFeatureNeverFires) {
  auto e = Expression::compile("db_query_p95_s > 0.25");
  EXPECT_FALSE(e.evaluate(window({{"latency_p95_s", 3}})).fired);
  auto lt = Expression::compile("pods_ready < 1");
  EXPECT_FALSE(lt.evaluate(window({})).fired);
  // Division by zero is "no data", not +inf.
  EXPECT_FALSE(Expression::compile("errors_per_s / requests_per_s > 0.5")
                   .evaluate(window({{"errors_per_s", 3}, {"requests_per_s", 0}}))
                   .fired);
}

TEST(Expression, ListsFeaturesItReads) {
  auto e = Expression::compile("pods - pods_ready >= 1 and pods > 0");
  ASSERT_EQ(e.features().size(), 2u);
  EXPECT_EQ(e.features()[0], "pods");
  EXPECT_EQ(e.features()[1], "pods_ready");
}

void expect_error(const std::string& text, const std::string& fragment) {
  try {
    Expression::compile(text);
    FAIL() << "no error for '" << text << "'";
  } catch (const ExpressionError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Expression, ErrorsNameTheProblemAndColumn) {
  expect_error("memory_util > 0.9", "unknown feature 'memory_util' at column 1");
  expect_error("cpu_utilization_mean > ", "ends where a value was expected");
  expect_error("(cpu_utilization_mean > 1", "unclosed '(' at column 1");
  expect_error("cpu_utilization_mean > 1 > 2", "chained comparison");
  expect_error("cpu_utilization_mean $ 2", "unexpected character '$' at column 22");
  expect_error("", "empty");
  expect_error("1.2.3 > 1", "malformed number");
  expect_error("restarts > 1 2", "unexpected '2'");
}

}  // namespace
}  // namespace selfheal::rules
