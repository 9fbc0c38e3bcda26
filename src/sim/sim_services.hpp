// The three services of the simulated cloud:
//  * ClusterSimService ("cluster-sim"): steps the SimulatedCluster every tick, publishes each
//    service's state on `sim.state` and the faults' ground truth on `sim.truth` (and in a JSON-lines
//    file), serves the Kubernetes API and `POST /chaos/faults`.
//  * LogGeneratorService ("log-generator"): `sim.state` -> RawLog lines on `logs.raw`.
//  * MetricsGeneratorService ("metrics-generator"): `sim.state` -> MetricBatch scrapes on `metrics.raw`.
// Lifecycle: construct from Config -> start(ctx) -> on_tick()/poll() on the executor's thread ->
// stop(). Only the chaos and Kubernetes API handlers run on other (HTTP) threads, and they touch
// nothing but the SimulatedCluster, which locks.
#pragma once

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "runtime/event_service.hpp"
#include "sim/log_renderer.hpp"
#include "sim/metrics_renderer.hpp"
#include "sim/simulated_cluster.hpp"

namespace selfheal {
class Config;
class ConfigSchema;
}  // namespace selfheal

namespace selfheal::sim {

class K8sApiHandle;  // wraps the Kubernetes API server when this build has it

void declare_cluster_sim_config(ConfigSchema& s);
void declare_log_generator_config(ConfigSchema& s);
void declare_metrics_generator_config(ConfigSchema& s);

class ClusterSimService final : public EventService {
 public:
  explicit ClusterSimService(const Config& config);
  ~ClusterSimService() override;
  std::string_view name() const override { return "cluster-sim"; }
  void start(ServiceContext& ctx) override;
  void on_tick(TimeMs now) override;
  void stop() override;
  std::string endpoint() const override;
  TimeMs end_of_run() const override;

  SimulatedCluster& cluster() { return *cluster_; }
  // Handles a chaos request body; returns the HTTP status and the JSON answer.
  std::pair<int, std::string> handle_chaos(const std::string& body);

 protected:
  void handle(const Delivery&) override {}

 private:
  Scenario scenario_;
  std::string truth_path_;
  std::string listen_, token_, kubeconfig_out_, cert_dir_;
  bool api_enabled_ = true;
  std::unique_ptr<SimulatedCluster> cluster_;
  std::unique_ptr<K8sApiHandle> api_;
  std::ofstream truth_;
  SimulatedCluster::StepOutput step_;
};

class LogGeneratorService final : public EventService {
 public:
  explicit LogGeneratorService(const Config& config);
  std::string_view name() const override { return "log-generator"; }
  void start(ServiceContext& ctx) override;

 protected:
  void handle(const Delivery& d) override;

 private:
  LogRenderer renderer_;
  std::vector<RawLog> lines_;
};

class MetricsGeneratorService final : public EventService {
 public:
  explicit MetricsGeneratorService(const Config& config);
  std::string_view name() const override { return "metrics-generator"; }
  void start(ServiceContext& ctx) override;

 protected:
  void handle(const Delivery& d) override;

 private:
  MetricsRenderer renderer_;
  std::vector<MetricBatch> batches_;
};

}  // namespace selfheal::sim
