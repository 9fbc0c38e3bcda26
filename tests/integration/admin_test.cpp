// The admin endpoint of a running `selfheal all`: health, readiness of every service, and the
// Prometheus metrics every service exports (events in and out, errors, queue depth, latency).
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>

#include "app/app.hpp"
#include "core/clock.hpp"
#include "core/http_server.hpp"
#include "runtime/executor.hpp"

namespace selfheal {
namespace {

TEST(AdminEndpoint, HealthReadinessAndMetricsOfARunningPipeline) {
  auto dir = std::filesystem::temp_directory_path() / ("selfheal-admin-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::vector<std::string> overrides = {"admin.listen=127.0.0.1:0",
                                        "api.listen=127.0.0.1:0",
                                        "cluster_sim.listen=127.0.0.1:0",
                                        "cluster_sim.kubeconfig_out=" + (dir / "kubeconfig").string(),
                                        "cluster_sim.cert_dir=" + (dir / "tls").string(),
                                        "cluster_sim.truth_out=" + (dir / "truth.jsonl").string(),
                                        "remediator.kubeconfig=" + (dir / "kubeconfig").string(),
                                        "store.backend=none",
                                        "ui.story=false"};
  App app(Config::load(config_schema(), "", overrides, false), {});
  app.start();
  app.executor().run_until(app.sim_clock().now() + 3 * 60 * 1000);  // three simulated minutes

  httplib::Client client(app.admin()->url());
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto ready = client.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  for (const char* s : {"cluster-sim", "log-processor", "metrics-processor", "anomaly-detector", "remediator", "api"})
    EXPECT_NE(ready->body.find(std::string(s) + " ready"), std::string::npos) << s << "\n" << ready->body;

  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  const std::string& text = metrics->body;
  for (const char* m : {"# HELP selfheal_events_in_total ", "selfheal_events_in_total{service=\"log-processor\",topic=\"logs.raw\"} ",
                        "selfheal_events_out_total{service=\"metrics-processor\",topic=\"features\"} ",
                        "selfheal_bus_queue_depth_events{topic=\"logs.raw\"} ",
                        "selfheal_processing_seconds_bucket{service=\"anomaly-detector\",le=\"+Inf\"} ",
                        "# TYPE selfheal_handler_errors_total counter"})
    EXPECT_NE(text.find(m), std::string::npos) << m;
  app.stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace selfheal
