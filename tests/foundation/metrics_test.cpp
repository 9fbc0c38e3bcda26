#include <gtest/gtest.h>

#include "core/metrics.hpp"

namespace selfheal {
namespace {

TEST(MetricsRegistry, RendersPrometheusTextWithHelpTypeAndLabels) {
  MetricsRegistry m;
  m.counter("selfheal_events_in_total", "Events consumed", {{"topic", "logs.raw"}, {"service", "lp"}}).inc(3);
  m.gauge("selfheal_queue_depth_events", "Depth").set(7);
  auto& h = m.histogram("selfheal_processing_seconds", "Latency", {0.1, 1}, {{"service", "lp"}});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  m.gauge_fn("selfheal_lag_events", "Lag", {{"topic", "x\"y"}}, [] { return 42.0; });
  std::string text = m.render();
  EXPECT_NE(text.find("# HELP selfheal_events_in_total Events consumed\n# TYPE selfheal_events_in_total counter\n"
                      "selfheal_events_in_total{service=\"lp\",topic=\"logs.raw\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("selfheal_processing_seconds_bucket{service=\"lp\",le=\"0.1\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("selfheal_processing_seconds_bucket{service=\"lp\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("selfheal_processing_seconds_count{service=\"lp\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("selfheal_lag_events{topic=\"x\\\"y\"} 42\n"), std::string::npos) << text;
}

TEST(MetricsRegistry, SameSeriesIsReturnedAndCountersOnlyGoUp) {
  MetricsRegistry m;
  Counter& a = m.counter("c_total", "c", {{"k", "v"}});
  Counter& b = m.counter("c_total", "c", {{"k", "v"}});
  EXPECT_EQ(&a, &b);
  a.inc(2);
  a.inc(-5);
  EXPECT_EQ(b.value(), 2);
  EXPECT_THROW(m.gauge("c_total", "c"), std::logic_error);
}

}  // namespace
}  // namespace selfheal
