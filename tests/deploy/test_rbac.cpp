// The remediator's least privilege, checked end to end:
//  1. what the client sends: every method of HttpKubernetesClient runs against the simulated API
//     server, which counts each request by RBAC verb and resource; the set counted must equal
//     kubernetes_api_calls() (derived from the client's request table), so the declared list is
//     neither short of nor longer than what goes over the wire;
//  2. what the cluster allows: the Role bound to the remediator's ServiceAccount in each rendered
//     overlay grants each declared call and nothing more, with no wildcard and nothing cluster-wide.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>
#include <tuple>

#include "../k8s/fake_cluster.hpp"
#include "core/metrics.hpp"
#include "deploy_test_util.hpp"
#include "remediator/kubernetes/http_kubernetes_client.hpp"
#include "sim/k8s_api/k8s_api_server.hpp"

namespace selfheal::deploytest {
namespace {

using Permission = std::tuple<std::string, std::string, std::string>;  // verb, API group, resource

std::set<Permission> declared_permissions() {
  std::set<Permission> out;
  for (const auto& c : kubernetes_api_calls()) out.insert({c.verb, c.api_group, c.resource});
  return out;
}

// The API group of a resource the simulated server serves (its request counter has no group label).
std::string group_of(const std::string& resource) {
  return resource.rfind("deployments", 0) == 0 ? "apps" : "";
}

TEST(RemediatorRbac, TheClientSendsExactlyTheDeclaredCalls) {
  test::FakeCluster cluster;
  MetricsRegistry metrics;
  sim::K8sApiServerOptions options;
  options.listen = "127.0.0.1:0";
  sim::K8sApiServer server(cluster, options, &metrics);
  server.start();
  std::string dir = (std::filesystem::temp_directory_path() / ("selfheal-rbac-" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  server.write_kubeconfig(dir + "/kubeconfig");

  {
    auto k8s = make_http_kubernetes_client(load_kubeconfig(dir + "/kubeconfig"));
    std::vector<K8sPod> pods;
    std::vector<K8sDeployment> deployments;
    K8sPod pod;
    K8sDeployment deployment;
    // Every method of the KubernetesClient interface, each code path (with and without a selector).
    ASSERT_TRUE(k8s->list_pods("shop", "", pods).ok);
    ASSERT_FALSE(pods.empty());
    ASSERT_TRUE(k8s->list_pods("shop", "app=orders", pods).ok);
    ASSERT_TRUE(k8s->get_pod("shop", pods[0].name, pod).ok);
    ASSERT_TRUE(k8s->delete_pod("shop", pods[0].name).ok);
    ASSERT_TRUE(k8s->list_deployments("shop", deployments).ok);
    ASSERT_TRUE(k8s->get_deployment("shop", "orders", deployment).ok);
    ASSERT_TRUE(k8s->scale_deployment("shop", "orders", 3).ok);
    ASSERT_TRUE(k8s->rollout_restart("shop", "orders", test::FakeCluster::kStart).ok);
    k8s->clear_state("shop", "orders");  // the simulator's hook: not a Kubernetes resource, no RBAC
    // Failing calls are requests too (a 404 still needs the permission to be asked).
    EXPECT_EQ(k8s->get_pod("shop", "no-such-pod", pod).status, 404);
    EXPECT_EQ(k8s->delete_pod("shop", "no-such-pod").status, 404);
  }
  server.stop();
  std::filesystem::remove_all(dir);

  // selfheal_k8s_api_requests_total{code="200",resource="pods",verb="list"} 2
  std::set<Permission> sent;
  static const std::regex series(R"(^selfheal_k8s_api_requests_total\{([^}]*)\})");
  static const std::regex label(R"re(([a-z_]+)="([^"]*)")re");
  std::istringstream text(metrics.render());
  std::string line;
  std::smatch m;
  int api_requests = 0, clear_state_requests = 0;
  while (std::getline(text, line)) {
    if (!std::regex_search(line, m, series)) continue;
    std::map<std::string, std::string> labels;
    std::string inner = m[1];
    for (std::sregex_iterator it(inner.begin(), inner.end(), label), end; it != end; ++it) labels[(*it)[1]] = (*it)[2];
    if (labels["resource"] == "other" || labels["resource"] == "discovery") continue;  // not a resource request
    // The simulator's own clear-state hook (/sim/v1/.../clear-state): a real API server serves no
    // such path and RBAC does not govern it; the client sends it only when remediator.clear_state_url
    // points at the API server, i.e. at the simulator.
    if (labels["resource"].size() > 12 && labels["resource"].ends_with("/clear-state")) {
      ++clear_state_requests;
      continue;
    }
    sent.insert({labels["verb"], group_of(labels["resource"]), labels["resource"]});
    ++api_requests;
  }
  ASSERT_GT(api_requests, 0) << "the server counted no request:\n" << metrics.render();
  EXPECT_EQ(clear_state_requests, 1);
  EXPECT_EQ(sent, declared_permissions()) << "the client sends requests kubernetes_api_calls() does not declare, or "
                                             "declares calls it never sends";
}

// Expands a Role's rules into (verb, group, resource) triples; a wildcard or a resourceNames
// restriction is reported through `problems`.
std::set<Permission> permissions_of(const YAML::Node& role, std::vector<std::string>& problems) {
  std::set<Permission> out;
  for (const auto& rule : role["rules"]) {
    if (rule["nonResourceURLs"]) problems.push_back(id_of(role) + ": nonResourceURLs");
    for (const auto& g : rule["apiGroups"])
      for (const auto& r : rule["resources"])
        for (const auto& v : rule["verbs"]) {
          for (const auto& s : {g.as<std::string>(), r.as<std::string>(), v.as<std::string>()})
            if (s.find('*') != std::string::npos) problems.push_back(id_of(role) + ": wildcard \"" + s + "\"");
          out.insert({v.as<std::string>(), g.as<std::string>(), r.as<std::string>()});
        }
  }
  return out;
}

TEST(RemediatorRbac, EachOverlaysRoleAllowsEveryCallAndNothingMore) {
  if (!have_program("kubectl")) GTEST_SKIP() << "kubectl is not installed (it renders the Kustomize overlays)";
  for (const auto& overlay : std::vector<std::string>{"deploy/k8s/base", "deploy/k8s/overlays/production"}) {
    SCOPED_TRACE(overlay);
    Render r = kustomize(overlay);
    ASSERT_EQ(r.result.rc, 0) << r.result.err;
    for (const char* cluster_wide : {"ClusterRole", "ClusterRoleBinding"})
      EXPECT_TRUE(of_kind(r.objects, cluster_wide).empty()) << cluster_wide << " in " << overlay;

    // The remediator's pods and the ServiceAccount they run as.
    std::string remediator_sa, remediator_sa_ns;
    for (const auto& d : of_kind(r.objects, "Deployment")) {
      YAML::Node spec = pod_spec_of(d);
      bool automount = spec["automountServiceAccountToken"] && spec["automountServiceAccountToken"].as<bool>();
      if (name_of(d) == "remediator") {
        remediator_sa = str(spec, "serviceAccountName");
        remediator_sa_ns = namespace_of(d);
        EXPECT_TRUE(automount) << "the remediator needs its service-account token";
      } else {
        EXPECT_FALSE(automount) << id_of(d) << " mounts a service-account token it does not need";
      }
    }
    ASSERT_FALSE(remediator_sa.empty()) << "no remediator Deployment with a serviceAccountName";

    // Every RoleBinding naming that ServiceAccount, and the Role each one grants.
    int bindings = 0;
    for (const auto& b : of_kind(r.objects, "RoleBinding")) {
      bool binds_remediator = false;
      for (const auto& s : b["subjects"])
        binds_remediator |= str(s, "kind") == "ServiceAccount" && str(s, "name") == remediator_sa &&
                            str(s, "namespace") == remediator_sa_ns;
      if (!binds_remediator) continue;
      ++bindings;
      ASSERT_EQ(str(b["roleRef"], "kind"), "Role") << id_of(b) << " must grant a namespaced Role";
      const YAML::Node* role = nullptr;
      auto roles = of_kind(r.objects, "Role");
      for (const auto& candidate : roles)
        if (name_of(candidate) == str(b["roleRef"], "name") && namespace_of(candidate) == namespace_of(b)) role = &candidate;
      ASSERT_NE(role, nullptr) << id_of(b) << " grants a Role that is not in the render";
      std::vector<std::string> problems;
      std::set<Permission> granted = permissions_of(*role, problems);
      EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
      for (const auto& call : declared_permissions())
        EXPECT_TRUE(granted.count(call)) << id_of(*role) << " in " << namespace_of(*role) << " does not allow "
                                         << std::get<0>(call) << " " << std::get<2>(call) << " (group \""
                                         << std::get<1>(call) << "\"), which the client calls";
      for (const auto& g : granted)
        EXPECT_TRUE(declared_permissions().count(g))
            << id_of(*role) << " in " << namespace_of(*role) << " allows " << std::get<0>(g) << " " << std::get<2>(g)
            << " (group \"" << std::get<1>(g) << "\"), which the client never calls";
    }
    EXPECT_GE(bindings, 1) << "no RoleBinding grants the remediator's ServiceAccount anything";
  }
}

}  // namespace
}  // namespace selfheal::deploytest
