// A KubernetesClient for tests: one namespace of deployments and pods in memory, every call
// recorded, and any call made to fail with a chosen HTTP status (or no answer at all).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "remediator/kubernetes_client.hpp"

namespace selfheal::testing {

class FakeKubernetes final : public KubernetesClient {
 public:
  std::map<std::string, K8sDeployment> deployments;  // "ns/name"
  std::vector<K8sPod> pods;
  std::map<std::string, K8sResult> failures;  // method name -> the answer it gives instead
  std::vector<std::string> calls;             // "delete_pod shop/orders-abc" (mutating calls only)

  void add_deployment(const std::string& ns, const std::string& name, int replicas, int not_ready = 0) {
    K8sDeployment d;
    d.name = name;
    d.namespace_name = ns;
    d.replicas = d.ready_replicas = replicas;
    deployments[ns + "/" + name] = d;
    for (int i = 0; i < replicas; ++i) {
      K8sPod p;
      p.name = name + "-6d5f7c9b8a-" + std::string(1, static_cast<char>('a' + i)) + "xk2p";
      p.namespace_name = ns;
      p.labels["app"] = name;
      p.phase = "Running";
      p.ready = i >= not_ready;
      p.start_time = 1000 + i;
      pods.push_back(p);
    }
  }

  K8sResult list_pods(const std::string& ns, const std::string& selector, std::vector<K8sPod>& out) override {
    if (auto f = fail("list_pods")) return *f;
    out.clear();
    std::string app = selector.substr(selector.find('=') + 1);
    for (const auto& p : pods)
      if (p.namespace_name == ns && p.labels.count("app") && p.labels.at("app") == app) out.push_back(p);
    return ok();
  }
  K8sResult get_pod(const std::string& ns, const std::string& name, K8sPod& out) override {
    for (const auto& p : pods)
      if (p.namespace_name == ns && p.name == name) {
        out = p;
        return ok();
      }
    return K8sResult{false, 404, "NotFound", "pods \"" + name + "\" not found"};
  }
  K8sResult delete_pod(const std::string& ns, const std::string& name) override {
    calls.push_back("delete_pod " + ns + "/" + name);
    if (auto f = fail("delete_pod")) return *f;
    for (auto it = pods.begin(); it != pods.end(); ++it)
      if (it->namespace_name == ns && it->name == name) {
        pods.erase(it);
        return ok();
      }
    return K8sResult{false, 404, "NotFound", "pods \"" + name + "\" not found"};
  }
  K8sResult list_deployments(const std::string& ns, std::vector<K8sDeployment>& out) override {
    out.clear();
    for (const auto& [k, d] : deployments)
      if (d.namespace_name == ns) out.push_back(d);
    return ok();
  }
  K8sResult get_deployment(const std::string& ns, const std::string& name, K8sDeployment& out) override {
    if (auto f = fail("get_deployment")) return *f;
    auto it = deployments.find(ns + "/" + name);
    if (it == deployments.end()) return K8sResult{false, 404, "NotFound", "deployments.apps \"" + name + "\" not found"};
    out = it->second;
    return ok();
  }
  K8sResult scale_deployment(const std::string& ns, const std::string& name, int replicas) override {
    calls.push_back("scale_deployment " + ns + "/" + name + " " + std::to_string(replicas));
    if (auto f = fail("scale_deployment")) return *f;
    auto it = deployments.find(ns + "/" + name);
    if (it == deployments.end()) return K8sResult{false, 404, "NotFound", "not found"};
    it->second.replicas = replicas;
    return ok();
  }
  K8sResult rollout_restart(const std::string& ns, const std::string& name, TimeMs) override {
    calls.push_back("rollout_restart " + ns + "/" + name);
    if (auto f = fail("rollout_restart")) return *f;
    return ok();
  }
  K8sResult clear_state(const std::string& ns, const std::string& service) override {
    calls.push_back("clear_state " + ns + "/" + service);
    if (auto f = fail("clear_state")) return *f;
    return ok();
  }

 private:
  static K8sResult ok() { return K8sResult{true, 200, "", ""}; }
  const K8sResult* fail(const std::string& method) const {
    auto it = failures.find(method);
    return it == failures.end() ? nullptr : &it->second;
  }
};

}  // namespace selfheal::testing
