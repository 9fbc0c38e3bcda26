// A small in-memory ClusterControl for the k8s tests: deployments own pods; deleting a pod
// replaces it; patches change replicas (pods follow at once) or restart every pod. Every change
// bumps the cluster resourceVersion and records what happened, so tests can check that an HTTP
// call (or kubectl) really reached the cluster.
//
// Threading: all methods lock one mutex (the API server calls from its HTTP threads).
#pragma once

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "sim/cluster_control.hpp"

namespace selfheal::test {

class FakeCluster : public sim::ClusterControl {
 public:
  static constexpr TimeMs kStart = 1'764'000'000'000;  // 2025-11-24

  FakeCluster() {
    add_deployment("shop", "frontend", 2);
    add_deployment("shop", "orders", 2);
    add_deployment("shop", "payments", 1);
  }

  void add_deployment(const std::string& ns, const std::string& name, int replicas) {
    std::lock_guard<std::mutex> lock(mu_);
    sim::DeploymentView d;
    d.name = name;
    d.namespace_name = ns;
    d.uid = "uid-" + name;
    d.replicas = replicas;
    d.image = "shop/" + name + ":1.0";
    d.created_at = kStart;
    d.cpu_limit_millicores = 500;
    d.memory_limit_bytes = 512.0 * 1024 * 1024;
    deployments_.push_back(d);
    reconcile(deployments_.back());
  }

  std::vector<std::string> namespaces() const override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out{"default"};
    for (const auto& d : deployments_)
      if (std::find(out.begin(), out.end(), d.namespace_name) == out.end()) out.push_back(d.namespace_name);
    return out;
  }
  std::vector<sim::PodView> pods(const std::string& ns) const override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<sim::PodView> out;
    for (const auto& p : pods_)
      if (ns.empty() || p.namespace_name == ns) out.push_back(p);
    return out;
  }
  std::vector<sim::DeploymentView> deployments(const std::string& ns) const override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<sim::DeploymentView> out;
    for (const auto& d : deployments_)
      if (ns.empty() || d.namespace_name == ns) out.push_back(d);
    return out;
  }
  std::vector<sim::ClusterEvent> events(const std::string& ns) const override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<sim::ClusterEvent> out;
    for (const auto& e : events_)
      if (ns.empty() || e.namespace_name == ns) out.push_back(e);
    return out;
  }
  std::uint64_t resource_version() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return rv_;
  }
  TimeMs now() const override { return kStart + 3'600'000; }

  sim::ControlResult delete_pod(const std::string& ns, const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find_if(pods_.begin(), pods_.end(),
                           [&](const sim::PodView& p) { return p.namespace_name == ns && p.name == name; });
    if (it == pods_.end()) return {sim::ControlError::NotFound, "pods \"" + name + "\" not found"};
    std::string owner = it->deployment;
    pods_.erase(it);
    log_.push_back("delete_pod " + ns + "/" + name);
    event(ns, "Pod", name, "Killing", "Stopping container " + owner);
    for (auto& d : deployments_)
      if (d.namespace_name == ns && d.name == owner) reconcile(d);
    return {};
  }

  sim::ControlResult patch_deployment(const std::string& ns, const std::string& name,
                                      const sim::DeploymentPatch& patch) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& d : deployments_) {
      if (d.namespace_name != ns || d.name != name) continue;
      if (patch.expected_resource_version && *patch.expected_resource_version != d.resource_version)
        return {sim::ControlError::Conflict, ""};
      if (patch.replicas) {
        if (*patch.replicas < 0) return {sim::ControlError::Invalid, "replicas must be >= 0"};
        d.replicas = *patch.replicas;
        log_.push_back("scale " + ns + "/" + name + " " + std::to_string(d.replicas));
      }
      if (patch.restarted_at && *patch.restarted_at != d.restarted_at) {
        d.restarted_at = *patch.restarted_at;
        ++template_generation_;
        std::erase_if(pods_, [&](const sim::PodView& p) { return p.namespace_name == ns && p.deployment == name; });
        log_.push_back("restart " + ns + "/" + name + " at " + d.restarted_at);
      }
      ++d.generation;
      d.observed_generation = d.generation;
      reconcile(d);
      return {};
    }
    return {sim::ControlError::NotFound, ""};
  }

  sim::ControlResult clear_state(const std::string& ns, const std::string& service) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& d : deployments_)
      if (d.namespace_name == ns && d.name == service) {
        log_.push_back("clear_state " + ns + "/" + service);
        return {};
      }
    return {sim::ControlError::NotFound, "service \"" + service + "\" not found"};
  }

  // What the cluster was asked to do, in order.
  std::vector<std::string> log() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  int pod_count(const std::string& ns, const std::string& deployment) const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(std::count_if(pods_.begin(), pods_.end(), [&](const sim::PodView& p) {
      return p.namespace_name == ns && p.deployment == deployment;
    }));
  }

 private:
  // Brings a deployment's pods to its replica count (new pods are Running and ready at once).
  void reconcile(sim::DeploymentView& d) {
    ++rv_;
    int have = 0;
    for (const auto& p : pods_)
      if (p.namespace_name == d.namespace_name && p.deployment == d.name) ++have;
    while (have > d.replicas) {
      auto it = std::find_if(pods_.rbegin(), pods_.rend(), [&](const sim::PodView& p) {
        return p.namespace_name == d.namespace_name && p.deployment == d.name;
      });
      pods_.erase(std::next(it).base());
      --have;
    }
    while (have < d.replicas) {
      sim::PodView p;
      char hash[16], suffix[8];
      std::snprintf(hash, sizeof hash, "%010x", 0x5f00000u + template_generation_);
      std::snprintf(suffix, sizeof suffix, "%05x", ++pod_serial_);
      p.name = d.name + "-" + hash + "-" + suffix;
      p.namespace_name = d.namespace_name;
      p.uid = "uid-" + p.name;
      p.deployment = d.name;
      p.node = "sim-node-1";
      p.phase = "Running";
      p.container_state = "running";
      p.ready = true;
      p.created_at = p.started_at = FakeCluster::kStart + 60'000 * pod_serial_;
      p.image = d.image;
      p.resource_version = ++rv_;
      pods_.push_back(p);
      ++have;
    }
    d.ready_replicas = d.updated_replicas = d.available_replicas = d.replicas;
    d.resource_version = ++rv_;
  }

  void event(const std::string& ns, const std::string& kind, const std::string& name, const std::string& reason,
             const std::string& message) {
    sim::ClusterEvent e;
    e.name = name + "." + std::to_string(events_.size());
    e.namespace_name = ns;
    e.involved_kind = kind;
    e.involved_name = name;
    e.type = "Normal";
    e.reason = reason;
    e.message = message;
    e.first_ts = e.last_ts = kStart + 1000 * static_cast<TimeMs>(events_.size());
    e.resource_version = ++rv_;
    events_.push_back(e);
  }

  mutable std::mutex mu_;
  std::vector<sim::DeploymentView> deployments_;
  std::vector<sim::PodView> pods_;
  std::vector<sim::ClusterEvent> events_;
  std::vector<std::string> log_;
  std::uint64_t rv_ = 100;
  unsigned pod_serial_ = 0;
  unsigned template_generation_ = 0;
};

}  // namespace selfheal::test
