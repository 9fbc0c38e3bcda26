// The simulated API server seen over raw HTTPS: discovery, auth, Status errors, tables, selectors,
// conflicts, media types, watch and request metrics.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/pem.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "k8s_test_env.hpp"
#include "sim/k8s_api/k8s_objects.hpp"

namespace selfheal::test {
namespace {

using nlohmann::json;

class RawApiTest : public K8sApiTest {
 protected:
  // An HTTPS client that trusts the server's CA (the one in the kubeconfig).
  std::unique_ptr<httplib::SSLClient> client() {
    auto port = std::stoi(server_->url().substr(server_->url().rfind(':') + 1));
    auto cli = std::make_unique<httplib::SSLClient>("127.0.0.1", port);
    const std::string& pem = server_->ca_pem();
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, ca);
    X509_free(ca);
    cli->set_ca_cert_store(store);
    cli->enable_server_certificate_verification(true);
    cli->set_connection_timeout(5);
    cli->set_read_timeout(10);
    return cli;
  }
  httplib::Headers auth(const std::string& token = "") {
    return {{"Authorization", "Bearer " + (token.empty() ? server_->token() : token)}};
  }
  static json body_of(const httplib::Result& res) { return json::parse(res->body, nullptr, false); }
  std::string first_pod(const std::string& app) {
    for (const auto& p : cluster_.pods("shop"))
      if (p.deployment == app) return p.name;
    return "";
  }
};

TEST_F(RawApiTest, RejectsMissingAndWrongTokensWith401Status) {
  auto cli = client();
  auto res = cli->Get("/api/v1/namespaces/shop/pods");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  json s = body_of(res);
  EXPECT_EQ(s["kind"], "Status");
  EXPECT_EQ(s["reason"], "Unauthorized");
  EXPECT_EQ(s["code"], 401);
  res = cli->Get("/api/v1/namespaces/shop/pods", auth("not-the-token"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  // Health needs no token, like a real API server's /healthz.
  res = cli->Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(RawApiTest, ServesDiscoveryWithTheScaleSubresource) {
  auto cli = client();
  auto res = cli->Get("/api", auth());
  ASSERT_TRUE(res);
  EXPECT_EQ(body_of(res)["versions"][0], "v1");
  res = cli->Get("/apis", auth());
  ASSERT_TRUE(res);
  json groups = body_of(res)["groups"];
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0]["name"], "apps");
  res = cli->Get("/apis/apps/v1", auth());
  ASSERT_TRUE(res);
  bool has_scale = false;
  json apps = body_of(res);  // a named value: iterating a temporary's member would dangle
  for (const auto& r : apps["resources"])
    if (r["name"] == "deployments/scale") has_scale = r["group"] == "autoscaling" && r["kind"] == "Scale";
  EXPECT_TRUE(has_scale);
  res = cli->Get("/version", auth());
  ASSERT_TRUE(res);
  EXPECT_EQ(body_of(res)["major"], "1");
  res = cli->Get("/apis/batch/v1", auth());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(body_of(res)["reason"], "NotFound");
}

TEST_F(RawApiTest, ListsPodsWithSelectorsAsListOrTable) {
  auto cli = client();
  auto res = cli->Get("/api/v1/namespaces/shop/pods?labelSelector=app%3Dorders", auth());
  ASSERT_TRUE(res);
  json list = body_of(res);
  EXPECT_EQ(list["kind"], "PodList");
  EXPECT_EQ(list["metadata"]["resourceVersion"], std::to_string(cluster_.resource_version()));
  ASSERT_EQ(list["items"].size(), 2u);
  for (const auto& p : list["items"]) EXPECT_EQ(p["metadata"]["labels"]["app"], "orders");

  std::string name = first_pod("payments");
  res = cli->Get("/api/v1/namespaces/shop/pods?fieldSelector=metadata.name%3D" + name, auth());
  ASSERT_TRUE(res);
  ASSERT_EQ(body_of(res)["items"].size(), 1u);
  EXPECT_EQ(body_of(res)["items"][0]["metadata"]["name"], name);

  res = cli->Get("/api/v1/namespaces/shop/pods?fieldSelector=spec.bogus%3Dx", auth());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);

  httplib::Headers table_headers = auth();
  table_headers.emplace("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json");
  res = cli->Get("/api/v1/namespaces/shop/pods?limit=500", table_headers);
  ASSERT_TRUE(res);
  json table = body_of(res);
  EXPECT_EQ(table["kind"], "Table");
  EXPECT_EQ(table["columnDefinitions"][0]["name"], "Name");
  ASSERT_EQ(table["rows"].size(), 5u);
  EXPECT_EQ(table["rows"][0]["cells"][1], "1/1");
  EXPECT_EQ(table["rows"][0]["cells"][2], "Running");
}

TEST_F(RawApiTest, ConflictsOnAStaleResourceVersion) {
  auto cli = client();
  auto res = cli->Get("/apis/apps/v1/namespaces/shop/deployments/orders", auth());
  ASSERT_TRUE(res);
  std::string rv = body_of(res)["metadata"]["resourceVersion"];
  json patch = {{"metadata", {{"resourceVersion", rv}}}, {"spec", {{"replicas", 3}}}};
  res = cli->Patch("/apis/apps/v1/namespaces/shop/deployments/orders", auth(), patch.dump(), "application/merge-patch+json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(body_of(res)["spec"]["replicas"], 3);
  // The same resourceVersion again is now stale.
  patch["spec"]["replicas"] = 1;
  res = cli->Patch("/apis/apps/v1/namespaces/shop/deployments/orders", auth(), patch.dump(), "application/merge-patch+json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 409);
  EXPECT_EQ(body_of(res)["reason"], "Conflict");
  EXPECT_EQ(cluster_.pod_count("shop", "orders"), 3);
}

TEST_F(RawApiTest, RejectsInvalidPatchesWith422AndUnknownMediaTypesWith415) {
  auto cli = client();
  auto res = cli->Patch("/apis/apps/v1/namespaces/shop/deployments/orders/scale", auth(),
                        R"({"spec":{"replicas":-2}})", "application/merge-patch+json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 422);
  json s = body_of(res);
  EXPECT_EQ(s["reason"], "Invalid");
  EXPECT_EQ(s["details"]["causes"][0]["field"], "spec.replicas");
  res = cli->Patch("/apis/apps/v1/namespaces/shop/deployments/orders", auth(), R"({"spec":{"paused":true}})",
                   "application/merge-patch+json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 422);
  res = cli->Patch("/apis/apps/v1/namespaces/shop/deployments/orders", auth(),
                   R"([{"op":"replace","path":"/spec/replicas","value":1}])", "application/json-patch+json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 415);
  EXPECT_EQ(body_of(res)["reason"], "UnsupportedMediaType");
  res = cli->Patch("/apis/apps/v1/namespaces/shop/deployments/orders", auth(), "{not json", "application/merge-patch+json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(cluster_.pod_count("shop", "orders"), 2);  // nothing changed
}

TEST_F(RawApiTest, AnswersUnsupportedMethodsWith405) {
  auto cli = client();
  auto res = cli->Post("/api/v1/namespaces/shop/pods", auth(), "{}", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(body_of(res)["reason"], "MethodNotAllowed");
  res = cli->Delete("/apis/apps/v1/namespaces/shop/deployments/orders", auth());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(cluster_.deployments("shop").size(), 3u);
}

TEST_F(RawApiTest, ReadOnlyTokenGets403OnWrites) {
  auto cli = client();
  auto res = cli->Get("/api/v1/namespaces/shop/pods", auth("viewer-token-0123456789"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  std::string pod = first_pod("orders");
  res = cli->Delete("/api/v1/namespaces/shop/pods/" + pod, auth("viewer-token-0123456789"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);
  EXPECT_EQ(body_of(res)["reason"], "Forbidden");
  EXPECT_NE(body_of(res)["message"].get<std::string>().find("cannot delete resource \"pods\""), std::string::npos);
  EXPECT_TRUE(cluster_.log().empty());
}

TEST_F(RawApiTest, ScaleSubresourceSupportsGetAndPut) {
  auto cli = client();
  auto res = cli->Get("/apis/apps/v1/namespaces/shop/deployments/payments/scale", auth());
  ASSERT_TRUE(res);
  json scale = body_of(res);
  EXPECT_EQ(scale["kind"], "Scale");
  EXPECT_EQ(scale["spec"]["replicas"], 1);
  EXPECT_EQ(scale["status"]["selector"], "app=payments");
  scale["spec"]["replicas"] = 4;
  res = cli->Put("/apis/apps/v1/namespaces/shop/deployments/payments/scale", auth(), scale.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(body_of(res)["spec"]["replicas"], 4);
  EXPECT_EQ(cluster_.pod_count("shop", "payments"), 4);
  // PUT with the resourceVersion it read before the change: conflict.
  scale["spec"]["replicas"] = 2;
  res = cli->Put("/apis/apps/v1/namespaces/shop/deployments/payments/scale", auth(), scale.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 409);
}

TEST_F(RawApiTest, ListsNamespacesAndEvents) {
  auto cli = client();
  auto res = cli->Get("/api/v1/namespaces", auth());
  ASSERT_TRUE(res);
  json names = json::array();
  json namespaces = body_of(res);
  for (const auto& n : namespaces["items"]) names.push_back(n["metadata"]["name"]);
  EXPECT_EQ(names, json({"default", "shop"}));
  res = cli->Get("/api/v1/namespaces/nope", auth());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  cluster_.delete_pod("shop", first_pod("orders"));
  res = cli->Get("/api/v1/namespaces/shop/events", auth());
  ASSERT_TRUE(res);
  json events = body_of(res);
  EXPECT_EQ(events["kind"], "EventList");
  ASSERT_EQ(events["items"].size(), 1u);
  EXPECT_EQ(events["items"][0]["reason"], "Killing");
}

TEST_F(RawApiTest, WatchReportsADeletedPod) {
  std::string pod = first_pod("frontend");
  std::mutex mu;
  std::string seen;
  std::atomic<bool> added{false};
  std::thread watcher([&] {
    auto cli = client();
    httplib::Headers headers = auth();
    headers.emplace("Accept-Encoding", "gzip");  // as kubectl sends: events must not wait in a compressor
    cli->Get("/api/v1/namespaces/shop/pods?watch=true&timeoutSeconds=10&fieldSelector=metadata.name%3D" + pod, headers,
             [&](const char* data, size_t len) {
               std::lock_guard<std::mutex> lock(mu);
               seen.append(data, len);
               if (seen.find("\"ADDED\"") != std::string::npos) added = true;
               return seen.find("DELETED") == std::string::npos;  // stop reading once it came
             });
  });
  // Without a resourceVersion the watch first reports the existing pod as ADDED: once that
  // arrived, the watch is running and the deletion must show up as DELETED.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!added && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(added.load());
  cluster_.delete_pod("shop", pod);
  watcher.join();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_NE(seen.find("\"type\":\"DELETED\""), std::string::npos) << seen;
  EXPECT_NE(seen.find(pod), std::string::npos);
}

TEST_F(RawApiTest, CountsRequestsByVerbResourceAndCode) {
  auto cli = client();
  cli->Get("/api/v1/namespaces/shop/pods", auth());
  cli->Get("/api/v1/namespaces/shop/pods", auth("wrong"));
  std::string text = metrics_.render();
  EXPECT_NE(text.find("# HELP selfheal_k8s_api_requests_total"), std::string::npos);
  EXPECT_NE(text.find(R"(selfheal_k8s_api_requests_total{code="200",resource="pods",verb="list"} 1)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(selfheal_k8s_api_requests_total{code="401",resource="pods",verb="list"} 1)"), std::string::npos)
      << text;
}

TEST(K8sApiServerStart, FailsWithAnActionableMessageWhenThePortIsTaken) {
  FakeCluster cluster;
  sim::K8sApiServerOptions options;
  options.listen = "127.0.0.1:0";
  sim::K8sApiServer first(cluster, options);
  first.start();
  sim::K8sApiServerOptions clash;
  clash.listen = first.url().substr(std::string("https://").size());
  sim::K8sApiServer second(cluster, clash);
  try {
    second.start();
    FAIL() << "second server started on a taken port";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(clash.listen), std::string::npos) << e.what();
  }
  sim::K8sApiServerOptions bad;
  bad.listen = "127.0.0.1";
  sim::K8sApiServer third(cluster, bad);
  EXPECT_THROW(third.start(), std::runtime_error);
}

TEST(LabelSelector, ParsesAndMatchesEqualitySetAndExistenceTerms) {
  sim::k8s::Selector s;
  std::string error;
  ASSERT_TRUE(sim::k8s::parse_label_selector("app in (orders, payments),tier!=db,!canary", s, error)) << error;
  EXPECT_TRUE(s.matches({{"app", "orders"}, {"tier", "web"}}));
  EXPECT_FALSE(s.matches({{"app", "search"}}));
  EXPECT_FALSE(s.matches({{"app", "orders"}, {"tier", "db"}}));
  EXPECT_FALSE(s.matches({{"app", "orders"}, {"canary", "1"}}));
  EXPECT_FALSE(sim::k8s::parse_label_selector("app in orders)", s, error));
  EXPECT_FALSE(sim::k8s::parse_label_selector("a=b,,c=d", s, error));
  EXPECT_NE(error.find("empty term"), std::string::npos);
}

}  // namespace
}  // namespace selfheal::test
