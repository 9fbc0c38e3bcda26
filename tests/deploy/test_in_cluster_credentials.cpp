// In-cluster credentials as a pod really has them: the kubelet mounts the projected service-account
// volume with its atomic writer (files are symlinks through `..data`, which is swapped to a new
// timestamped folder on every rotation), and the API server keeps accepting the old token for a
// while after issuing the new one. A small HTTPS API server here accepts exactly the tokens the
// test says are valid, verifies nothing else, and records which token each request carried.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "remediator/kubernetes/http_kubernetes_client.hpp"
#include "sim/k8s_api/certificates.hpp"

namespace selfheal::deploytest {
namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

// A Kubernetes API server reduced to what token auth needs: GET .../pods answers an empty PodList
// to a currently valid bearer token and a 401 Status to anything else.
class TokenCheckingApiServer {
 public:
  explicit TokenCheckingApiServer(const fs::path& dir) : ca_("token-test-ca") {
    sim::IssuedCertificate cert = ca_.issue_server("127.0.0.1", {"localhost"}, {"127.0.0.1"});
    write_file(dir / "server.crt", cert.cert_pem);
    write_file(dir / "server.key", cert.key_pem);
    server_ = std::make_unique<httplib::SSLServer>((dir / "server.crt").c_str(), (dir / "server.key").c_str());
    server_->Get(R"(/api/v1/namespaces/([a-z0-9-]+)/pods)", [this](const httplib::Request& req, httplib::Response& res) {
      std::string auth = req.get_header_value("Authorization");
      std::string token = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : "";
      std::lock_guard<std::mutex> lock(mu_);
      if (!valid_.count(token)) {
        ++rejected_;
        res.status = 401;
        res.set_content(R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","message":"Unauthorized","code":401})",
                        "application/json");
        return;
      }
      seen_.insert(token);
      last_ = token;
      res.set_content(R"({"kind":"PodList","apiVersion":"v1","items":[]})", "application/json");
    });
    server_->set_tcp_nodelay(true);  // small request/response writes: avoid Nagle + delayed-ACK stalls
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!server_->is_running() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~TokenCheckingApiServer() {
    server_->stop();
    thread_.join();
  }

  int port() const { return port_; }
  const std::string& ca_pem() const { return ca_.cert_pem(); }
  void accept(const std::string& token) {
    std::lock_guard<std::mutex> lock(mu_);
    valid_.insert(token);
  }
  void revoke(const std::string& token) {
    std::lock_guard<std::mutex> lock(mu_);
    valid_.erase(token);
  }
  bool seen(const std::string& token) {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_.count(token) > 0;
  }
  std::string last_token() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }
  int rejected() {
    std::lock_guard<std::mutex> lock(mu_);
    return rejected_;
  }

 private:
  sim::CertificateAuthority ca_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::set<std::string> valid_, seen_;
  std::string last_;
  int rejected_ = 0;
};

// The projected service-account volume as the kubelet's AtomicWriter lays it out:
//   ..2026_11_25_03_00_00.000000001/{token,ca.crt,namespace}   one folder per generation
//   ..data -> ..2026_11_25_03_00_00.000000001                   swapped atomically (rename)
//   token -> ..data/token, ca.crt -> ..data/ca.crt, namespace -> ..data/namespace
class ProjectedServiceAccountVolume {
 public:
  ProjectedServiceAccountVolume(fs::path dir, std::string ca_pem) : dir_(std::move(dir)), ca_pem_(std::move(ca_pem)) {
    fs::create_directories(dir_);
  }

  void write_generation(const std::string& token) {
    std::string generation = "..2026_11_25_03_00_00." + std::to_string(++generation_);
    fs::create_directory(dir_ / generation);
    write_file(dir_ / generation / "token", token);
    write_file(dir_ / generation / "ca.crt", ca_pem_);
    write_file(dir_ / generation / "namespace", "shop");
    fs::create_symlink(generation, dir_ / "..data_tmp");
    fs::rename(dir_ / "..data_tmp", dir_ / "..data");  // the atomic swap
    if (!previous_.empty()) fs::remove_all(dir_ / previous_);
    previous_ = generation;
    for (const char* f : {"token", "ca.crt", "namespace"})
      if (!fs::is_symlink(dir_ / f)) fs::create_symlink(fs::path("..data") / f, dir_ / f);
  }

  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
  std::string ca_pem_;
  int generation_ = 0;
  std::string previous_;
};

class InClusterCredentials : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("selfheal-sa-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    server_ = std::make_unique<TokenCheckingApiServer>(dir_);
    volume_ = std::make_unique<ProjectedServiceAccountVolume>(dir_ / "serviceaccount", server_->ca_pem());
    setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", std::to_string(server_->port()).c_str(), 1);
  }
  void TearDown() override {
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    server_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path dir_;
  std::unique_ptr<TokenCheckingApiServer> server_;
  std::unique_ptr<ProjectedServiceAccountVolume> volume_;
};

TEST_F(InClusterCredentials, StandardPathIsTheDefaultAndErrorsNameIt) {
  unsetenv("KUBERNETES_SERVICE_HOST");
  try {
    load_in_cluster_credentials();
    FAIL() << "no KUBERNETES_SERVICE_HOST, yet credentials loaded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("KUBERNETES_SERVICE_HOST"), std::string::npos) << e.what();
  }
  setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
  if (fs::exists("/var/run/secrets/kubernetes.io/serviceaccount/token")) GTEST_SKIP() << "running in a pod";
  try {
    load_in_cluster_credentials();
    FAIL() << "credentials loaded from a service-account folder that does not exist";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/var/run/secrets/kubernetes.io/serviceaccount/token"), std::string::npos)
        << e.what();
  }
}

TEST_F(InClusterCredentials, UsesTheMountedTokenAndCaAndFollowsARotation) {
  server_->accept("token-generation-1");
  volume_->write_generation("token-generation-1");
  KubeCredentials creds = load_in_cluster_credentials(volume_->dir().string());
  EXPECT_EQ(creds.server, "https://127.0.0.1:" + std::to_string(server_->port()));
  EXPECT_EQ(creds.default_namespace, "shop");
  EXPECT_FALSE(creds.insecure_skip_tls_verify);  // the server is verified against the mounted ca.crt
  auto k8s = make_http_kubernetes_client(creds);
  std::vector<K8sPod> pods;
  K8sResult r = k8s->list_pods("shop", "", pods);
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(server_->last_token(), "token-generation-1");

  // The kubelet rotates: the API server issues the new token, the volume swaps to it, and the old
  // one is revoked later. The same client (no restart) must switch to the new token.
  server_->accept("token-generation-2");
  volume_->write_generation("token-generation-2");
  server_->revoke("token-generation-1");
  r = k8s->list_pods("shop", "", pods);
  ASSERT_TRUE(r.ok) << r.status << " " << r.message;
  EXPECT_EQ(server_->last_token(), "token-generation-2");
  EXPECT_EQ(server_->rejected(), 0);

  // A token the server no longer accepts is reported as Kubernetes says it (401 Unauthorized).
  volume_->write_generation("token-generation-3-never-issued");
  r = k8s->list_pods("shop", "", pods);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.reason, "Unauthorized");
}

// Rotations while a client keeps calling: no request fails, every new token is used, and old
// tokens are revoked as soon as the new one has been seen, as a short token lifetime would.
TEST_F(InClusterCredentials, RotationsDuringSteadyTrafficNeverFailARequest) {
  server_->accept("rotating-token-0");
  volume_->write_generation("rotating-token-0");
  auto k8s = make_http_kubernetes_client(load_in_cluster_credentials(volume_->dir().string()));
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, failures{0};
  std::string first_failure;
  std::thread traffic([&] {
    std::vector<K8sPod> pods;
    while (!stop.load()) {
      K8sResult r = k8s->list_pods("shop", "", pods);
      if (!r.ok && failures.fetch_add(1) == 0) first_failure = std::to_string(r.status) + " " + r.message;
      calls.fetch_add(1);
    }
  });
  constexpr int kRotations = 15;
  bool all_seen = true;
  std::chrono::steady_clock::duration slowest_pickup{};
  auto started = std::chrono::steady_clock::now();
  for (int i = 1; i <= kRotations && all_seen; ++i) {
    std::string token = "rotating-token-" + std::to_string(i);
    server_->accept(token);
    volume_->write_generation(token);
    auto swapped = std::chrono::steady_clock::now();
    auto deadline = swapped + std::chrono::seconds(10);
    while (!server_->seen(token) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    all_seen = server_->seen(token);
    slowest_pickup = std::max(slowest_pickup, std::chrono::steady_clock::now() - swapped);
    server_->revoke("rotating-token-" + std::to_string(i - 1));
  }
  stop = true;
  traffic.join();
  auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  std::printf("%d rotations, %d requests in %lld ms, slowest pickup of a new token %lld ms\n", kRotations, calls.load(),
              static_cast<long long>(elapsed_ms),
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(slowest_pickup).count()));
  EXPECT_TRUE(all_seen) << "a rotated token was not picked up within 10 s";
  EXPECT_EQ(failures.load(), 0) << "first failure: " << first_failure;
  EXPECT_EQ(server_->rejected(), 0);
  EXPECT_GT(calls.load(), kRotations);
}

}  // namespace
}  // namespace selfheal::deploytest
