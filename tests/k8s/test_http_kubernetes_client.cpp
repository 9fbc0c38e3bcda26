// HttpKubernetesClient against the simulated API server: every call, every error code, token and
// client-certificate auth, CA verification, token rotation, and a dead server.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "k8s_test_env.hpp"
#include "remediator/kubernetes/http_kubernetes_client.hpp"
#include "sim/k8s_api/certificates.hpp"

namespace selfheal::test {
namespace {

class ClientTest : public K8sApiTest {
 protected:
  std::unique_ptr<KubernetesClient> client() { return make_http_kubernetes_client(load_kubeconfig(kubeconfig_)); }
  KubeCredentials creds() { return load_kubeconfig(kubeconfig_); }
};

TEST_F(ClientTest, KubeconfigWrittenByTheServerLoads) {
  KubeCredentials c = creds();
  EXPECT_EQ(c.server, server_->url());
  EXPECT_EQ(c.token, server_->token());
  EXPECT_EQ(c.ca_data, server_->ca_pem());
  EXPECT_EQ(c.default_namespace, "shop");
  EXPECT_FALSE(c.insecure_skip_tls_verify);
}

TEST_F(ClientTest, ListsAndGetsPods) {
  auto k8s = client();
  std::vector<K8sPod> pods;
  K8sResult r = k8s->list_pods("shop", "app=orders", pods);
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(pods.size(), 2u);
  for (const auto& p : pods) {
    EXPECT_EQ(p.labels.at("app"), "orders");
    EXPECT_EQ(p.namespace_name, "shop");
    EXPECT_EQ(p.phase, "Running");
    EXPECT_TRUE(p.ready);
    EXPECT_GT(p.start_time, FakeCluster::kStart);
  }
  ASSERT_TRUE(k8s->list_pods("shop", "", pods).ok);
  EXPECT_EQ(pods.size(), 5u);
  K8sPod one;
  r = k8s->get_pod("shop", pods[0].name, one);
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(one.name, pods[0].name);
  r = k8s->get_pod("shop", "orders-0000000000-zzzzz", one);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.reason, "NotFound");
  EXPECT_NE(r.message.find("orders-0000000000-zzzzz"), std::string::npos);
}

TEST_F(ClientTest, DeletingAPodReplacesIt) {
  auto k8s = client();
  std::vector<K8sPod> before, after;
  ASSERT_TRUE(k8s->list_pods("shop", "app=payments", before).ok);
  ASSERT_EQ(before.size(), 1u);
  K8sResult r = k8s->delete_pod("shop", before[0].name);
  ASSERT_TRUE(r.ok) << r.message;
  ASSERT_EQ(cluster_.log().size(), 1u);
  EXPECT_EQ(cluster_.log()[0], "delete_pod shop/" + before[0].name);
  ASSERT_TRUE(k8s->list_pods("shop", "app=payments", after).ok);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after[0].name, before[0].name);
  r = k8s->delete_pod("shop", before[0].name);
  EXPECT_EQ(r.status, 404);
}

TEST_F(ClientTest, ReadsScalesAndRestartsDeployments) {
  auto k8s = client();
  std::vector<K8sDeployment> ds;
  ASSERT_TRUE(k8s->list_deployments("shop", ds).ok);
  ASSERT_EQ(ds.size(), 3u);
  EXPECT_EQ(ds[0].name, "frontend");
  K8sDeployment orders;
  ASSERT_TRUE(k8s->get_deployment("shop", "orders", orders).ok);
  EXPECT_EQ(orders.replicas, 2);
  EXPECT_EQ(orders.ready_replicas, 2);

  K8sResult r = k8s->scale_deployment("shop", "orders", 4);
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(cluster_.pod_count("shop", "orders"), 4);
  ASSERT_TRUE(k8s->get_deployment("shop", "orders", orders).ok);
  EXPECT_EQ(orders.replicas, 4);
  EXPECT_GT(orders.generation, 1);

  r = k8s->scale_deployment("shop", "orders", -1);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.reason, "Invalid");
  EXPECT_NE(r.message.find("spec.replicas"), std::string::npos);

  std::vector<K8sPod> before, after;
  ASSERT_TRUE(k8s->list_pods("shop", "app=frontend", before).ok);
  r = k8s->rollout_restart("shop", "frontend", FakeCluster::kStart + 90'000);
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(cluster_.log().back(), "restart shop/frontend at 2025-11-24T16:01:30Z");
  ASSERT_TRUE(k8s->list_pods("shop", "app=frontend", after).ok);
  ASSERT_EQ(after.size(), before.size());
  for (const auto& p : after)
    for (const auto& q : before) EXPECT_NE(p.name, q.name);

  r = k8s->scale_deployment("shop", "nosuch", 1);
  EXPECT_EQ(r.status, 404);
  r = k8s->rollout_restart("shop", "nosuch", FakeCluster::kStart);
  EXPECT_EQ(r.status, 404);
}

TEST_F(ClientTest, ClearsStateThroughTheAdminHook) {
  auto k8s = client();
  K8sResult r = k8s->clear_state("shop", "search");
  EXPECT_EQ(r.status, 404);
  r = k8s->clear_state("shop", "orders");
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(cluster_.log().back(), "clear_state shop/orders");
  // A URL template on another host gets no cluster token: here a dead port, so no answer at all.
  KubeCredentials c = creds();
  c.timeout_ms = 1000;
  auto other = make_http_kubernetes_client(c, "http://127.0.0.1:1/admin/{namespace}/{service}/clear");
  r = other->clear_state("shop", "orders");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.message.find("127.0.0.1:1"), std::string::npos) << r.message;
}

TEST_F(ClientTest, RefusesBadNamesWithoutCallingTheServer) {
  auto k8s = client();
  K8sPod p;
  K8sResult r = k8s->get_pod("shop", "../../etc", p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.reason, "Invalid");
  EXPECT_NE(r.message.find("../../etc"), std::string::npos);
}

TEST_F(ClientTest, WrongTokenIs401AndReadOnlyTokenIs403) {
  KubeCredentials c = creds();
  c.token = "wrong";
  std::vector<K8sPod> pods;
  K8sResult r = make_http_kubernetes_client(c)->list_pods("shop", "", pods);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.reason, "Unauthorized");
  c.token = "viewer-token-0123456789";
  auto viewer = make_http_kubernetes_client(c);
  ASSERT_TRUE(viewer->list_pods("shop", "", pods).ok);
  r = viewer->scale_deployment("shop", "orders", 3);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.reason, "Forbidden");
  EXPECT_EQ(cluster_.pod_count("shop", "orders"), 2);
}

TEST_F(ClientTest, VerifiesTheServerCertificateAgainstTheCa) {
  KubeCredentials c = creds();
  c.timeout_ms = 3000;
  std::vector<K8sPod> pods;
  // Another CA: the handshake fails, the call reports no answer and names the server.
  sim::CertificateAuthority stranger("some-other-ca");
  c.ca_data = stranger.cert_pem();
  K8sResult r = make_http_kubernetes_client(c)->list_pods("shop", "", pods);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.message.find(server_->url()), std::string::npos) << r.message;
  // Skipping verification (kubeconfig insecure-skip-tls-verify) connects.
  c.insecure_skip_tls_verify = true;
  EXPECT_TRUE(make_http_kubernetes_client(c)->list_pods("shop", "", pods).ok);
  // The CA from a file works like inline data.
  c = creds();
  write_text(dir_ + "/ca.crt", c.ca_data);
  c.ca_data.clear();
  c.ca_file = dir_ + "/ca.crt";
  EXPECT_TRUE(make_http_kubernetes_client(c)->list_pods("shop", "", pods).ok);
  c.ca_file = dir_ + "/missing.crt";
  EXPECT_THROW(make_http_kubernetes_client(c), std::runtime_error);
}

TEST_F(ClientTest, AuthenticatesWithAClientCertificateFromAKubeconfig) {
  std::string admin_cfg = dir_ + "/admin-cert.kubeconfig";
  server_->write_client_cert_kubeconfig(admin_cfg, "alice", "system:masters");
  KubeCredentials c = load_kubeconfig(admin_cfg);
  EXPECT_TRUE(c.token.empty());
  EXPECT_NE(c.client_cert_data.find("BEGIN CERTIFICATE"), std::string::npos);
  auto alice = make_http_kubernetes_client(c);
  K8sResult r = alice->scale_deployment("shop", "payments", 2);
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(cluster_.pod_count("shop", "payments"), 2);

  std::string viewer_cfg = dir_ + "/viewer-cert.kubeconfig";
  server_->write_client_cert_kubeconfig(viewer_cfg, "bob", "viewers");
  auto bob = make_http_kubernetes_client(load_kubeconfig(viewer_cfg));
  std::vector<K8sPod> pods;
  EXPECT_TRUE(bob->list_pods("shop", "", pods).ok);
  EXPECT_EQ(bob->scale_deployment("shop", "payments", 5).status, 403);
}

TEST_F(ClientTest, PicksUpARotatedTokenFileWithoutRestart) {
  KubeCredentials c = creds();
  std::string token_path = dir_ + "/token";
  write_text(token_path, "expired-token\n");
  c.token.clear();
  c.token_file = token_path;
  auto k8s = make_http_kubernetes_client(c);
  std::vector<K8sPod> pods;
  EXPECT_EQ(k8s->list_pods("shop", "", pods).status, 401);
  // Rotate the way the kubelet does: write a new file and rename it over the old one.
  write_text(token_path + ".new", server_->token() + "\n");
  std::filesystem::rename(token_path + ".new", token_path);
  K8sResult r = k8s->list_pods("shop", "", pods);
  EXPECT_TRUE(r.ok) << r.message;
  // Rewriting in place is noticed too.
  write_text(token_path, "revoked-token-with-another-length");
  EXPECT_EQ(k8s->list_pods("shop", "", pods).status, 401);
  std::filesystem::remove(token_path);
  r = k8s->list_pods("shop", "", pods);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find(token_path), std::string::npos);
}

TEST_F(ClientTest, InClusterCredentialsTalkToTheServer) {
  std::string sa = dir_ + "/sa";
  std::filesystem::create_directories(sa);
  write_text(sa + "/token", server_->token());
  write_text(sa + "/ca.crt", server_->ca_pem());
  write_text(sa + "/namespace", "shop\n");
  std::string url = server_->url();  // https://127.0.0.1:PORT
  std::string port = url.substr(url.rfind(':') + 1);
  setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", port.c_str(), 1);
  KubeCredentials c = load_in_cluster_credentials(sa);
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  EXPECT_EQ(c.server, url);
  EXPECT_EQ(c.default_namespace, "shop");
  EXPECT_EQ(c.token_file, sa + "/token");
  auto k8s = make_http_kubernetes_client(c);
  std::vector<K8sDeployment> ds;
  K8sResult r = k8s->list_deployments(c.default_namespace, ds);
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(ds.size(), 3u);
}

TEST(HttpKubernetesClient, DeadServerGivesStatusZeroNamingTheServer) {
  KubeCredentials c;
  c.server = "https://127.0.0.1:1";
  c.token = "t";
  c.timeout_ms = 1000;
  auto k8s = make_http_kubernetes_client(c);
  std::vector<K8sPod> pods;
  K8sResult r = k8s->list_pods("shop", "", pods);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.message.find("https://127.0.0.1:1"), std::string::npos) << r.message;
  KubeCredentials ftp;
  ftp.server = "ftp://x";
  EXPECT_THROW(make_http_kubernetes_client(ftp), std::runtime_error);
}

TEST(HttpKubernetesClient, DeclaresEveryApiCallItMakes) {
  const auto& calls = kubernetes_api_calls();
  auto has = [&](const std::string& verb, const std::string& group, const std::string& resource) {
    for (const auto& c : calls)
      if (c.verb == verb && c.api_group == group && c.resource == resource) return true;
    return false;
  };
  EXPECT_EQ(calls.size(), 7u);
  EXPECT_TRUE(has("list", "", "pods"));
  EXPECT_TRUE(has("get", "", "pods"));
  EXPECT_TRUE(has("delete", "", "pods"));
  EXPECT_TRUE(has("list", "apps", "deployments"));
  EXPECT_TRUE(has("get", "apps", "deployments"));
  EXPECT_TRUE(has("patch", "apps", "deployments"));
  EXPECT_TRUE(has("patch", "apps", "deployments/scale"));
}

// Every call the client makes, checked against the verbs the server counted: the declared list
// matches what actually goes over the wire.
TEST_F(ClientTest, DeclaredApiCallsMatchTheRequestsSent) {
  auto k8s = client();
  std::vector<K8sPod> pods;
  std::vector<K8sDeployment> ds;
  K8sPod pod;
  K8sDeployment d;
  ASSERT_TRUE(k8s->list_pods("shop", "", pods).ok);
  ASSERT_TRUE(k8s->get_pod("shop", pods[0].name, pod).ok);
  ASSERT_TRUE(k8s->delete_pod("shop", pods[0].name).ok);
  ASSERT_TRUE(k8s->list_deployments("shop", ds).ok);
  ASSERT_TRUE(k8s->get_deployment("shop", "orders", d).ok);
  ASSERT_TRUE(k8s->scale_deployment("shop", "orders", 3).ok);
  ASSERT_TRUE(k8s->rollout_restart("shop", "orders", FakeCluster::kStart).ok);
  std::string text = metrics_.render();
  for (const auto& call : kubernetes_api_calls()) {
    std::string series = "code=\"200\",resource=\"" + call.resource + "\",verb=\"" + call.verb + "\"";
    EXPECT_NE(text.find(series), std::string::npos) << series << "\n" << text;
  }
}

}  // namespace
}  // namespace selfheal::test
