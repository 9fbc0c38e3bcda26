// The simulated cluster's Kubernetes API: HTTPS with bearer-token (or client-certificate) auth, the
// discovery documents kubectl reads, and the pods/deployments/events/namespaces endpoints the
// remediator and an SRE's kubectl use. Every request becomes a ClusterControl call, so a kubectl
// `scale` or `delete pod` really changes the simulated workload.
//
// Lifecycle: construct, optionally mount extra routes on http(), start() (binds, makes the
// certificates, serves on a background thread), stop() (or the destructor). Threading: handlers
// run on httplib's worker threads and only call the thread-safe ClusterControl and the metrics
// registry; url()/token()/write_kubeconfig() are safe after start().
#pragma once

#include <httplib.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "core/metrics.hpp"
#include "sim/cluster_control.hpp"
#include "sim/k8s_api/certificates.hpp"

namespace selfheal::sim {

struct K8sApiServerOptions {
  std::string listen = "127.0.0.1:6443";  // host:port; port 0 picks a free port
  std::string token;                      // empty: generate a random one
  std::string cert_dir;                   // empty: a temp dir (removed by stop())
  // A second bearer token that may read but not change anything (403 on writes). Empty: none.
  std::string read_only_token;
};

class K8sApiServer {
 public:
  K8sApiServer(ClusterControl& cluster, K8sApiServerOptions options, MetricsRegistry* metrics = nullptr);
  ~K8sApiServer();
  K8sApiServer(const K8sApiServer&) = delete;
  K8sApiServer& operator=(const K8sApiServer&) = delete;

  void start();  // throws std::runtime_error naming the address or the file that failed
  void stop();   // idempotent

  std::string url() const;  // https://HOST:PORT with the real port
  const std::string& token() const { return token_; }
  // A kubeconfig (cluster selfheal-sim with the CA inline, user with the token, context
  // selfheal-sim, namespace shop). Throws std::runtime_error if the file cannot be written.
  void write_kubeconfig(const std::string& path) const;
  // Same, but the user authenticates with a fresh client certificate (CN=user, O=group) instead
  // of the token. Certificates in group "system:masters" may write; others may only read.
  void write_client_cert_kubeconfig(const std::string& path, const std::string& user,
                                    const std::string& group = "system:masters") const;
  const std::string& ca_pem() const;  // after start()

  // The underlying server, to mount extra routes (e.g. /chaos). Routes are matched in the order
  // they are added; the API's own routes only claim /api, /apis, /version, /sim/v1 and health
  // paths. Every route except /healthz, /livez and /readyz requires the same authentication.
  httplib::SSLServer& http() { return *http_; }

 private:
  struct Identity;
  Identity authenticate(const httplib::Request& req) const;
  void handle(const httplib::Request& req, httplib::Response& res);
  void count(const httplib::Request& req, const httplib::Response& res);

  ClusterControl& cluster_;
  K8sApiServerOptions options_;
  MetricsRegistry* metrics_;
  std::string token_;
  std::string host_;
  int port_ = 0;
  std::string cert_dir_;
  bool cert_dir_is_temp_ = false;
  std::unique_ptr<CertificateAuthority> ca_;
  std::unique_ptr<httplib::SSLServer> http_;
  std::thread thread_;
  std::atomic<bool> running_{false};
};

}  // namespace selfheal::sim
