// KubernetesClient over the real Kubernetes REST API (HTTPS, bearer token or client certificate,
// CA verification), plus the two ways to get credentials: a kubeconfig file, or the in-cluster
// service account. The same code talks to cluster-sim's API server and to any real cluster.
//
// Threading: the client serializes its calls with a mutex (one connection, kept alive); calls
// block for at most the configured timeouts. Credentials structs are plain values.
#pragma once

#include <memory>
#include <string>

#include "remediator/kubernetes_client.hpp"

namespace selfheal {

struct KubeCredentials {
  std::string server;      // https://host:port[/path prefix]
  std::string token;       // a bearer token given inline
  std::string token_file;  // or a file holding it, re-read whenever the file changes (rotation)
  std::string ca_file;     // PEM bundle to verify the server with
  std::string ca_data;     // or the PEM text itself
  std::string client_cert_data, client_key_data;  // PEM, for client-certificate auth
  bool insecure_skip_tls_verify = false;
  std::string default_namespace = "default";
  int timeout_ms = 10000;  // connect, read and write timeout of every call
};

// Reads a kubeconfig (YAML): the context `context`, or current-context when empty. Files named in
// it (certificate-authority, client-certificate, client-key) are read relative to the kubeconfig's
// folder; tokenFile is kept as a path so rotation is picked up. Throws std::runtime_error naming
// the file and the field when something is missing or malformed, or uses an auth method this
// client does not implement (exec, auth-provider, username/password).
KubeCredentials load_kubeconfig(const std::string& path, const std::string& context = "");

// The pod's own service account: KUBERNETES_SERVICE_HOST/PORT, SA_DIR/token (as token_file, so a
// rotated token is picked up), SA_DIR/ca.crt and SA_DIR/namespace. Throws std::runtime_error
// naming what is missing.
KubeCredentials load_in_cluster_credentials(
    const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

inline constexpr const char* kDefaultClearStateUrlTemplate =
    "{server}/sim/v1/namespaces/{namespace}/services/{service}/clear-state";

// `clear_state_url_template` may use {server}, {namespace} and {service}; empty means the default
// above. The bearer token is sent with clear-state calls only when the URL is on the API server
// itself (credentials never leak to another host). Throws std::runtime_error when the server URL,
// the CA or the client certificate cannot be used.
std::unique_ptr<KubernetesClient> make_http_kubernetes_client(KubeCredentials creds,
                                                              std::string clear_state_url_template = kDefaultClearStateUrlTemplate);

}  // namespace selfheal
