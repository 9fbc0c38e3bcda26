#include "remediator/kubernetes/http_kubernetes_client.hpp"

#include <chrono>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <mutex>
#include <stdexcept>

#include "remediator/kubernetes/kube_util.hpp"

namespace selfheal {

namespace {

// Every Kubernetes request the client can send, with the RBAC permission it needs. The client's
// methods reach the API server only through call(Endpoint, ...), and kubernetes_api_calls() is
// derived from this table: the least-privilege Role in deploy/k8s is checked against what the code
// really sends (tests/deploy), not against a list kept by hand beside it.
enum class Endpoint { ListPods, GetPod, DeletePod, ListDeployments, GetDeployment, PatchDeployment, PatchDeploymentScale };

struct EndpointSpec {
  Endpoint endpoint;
  const char* http_method;
  const char* rbac_verb;
  const char* api_group;
  const char* resource;
};

constexpr EndpointSpec kEndpoints[] = {
    {Endpoint::ListPods, "GET", "list", "", "pods"},
    {Endpoint::GetPod, "GET", "get", "", "pods"},
    {Endpoint::DeletePod, "DELETE", "delete", "", "pods"},
    {Endpoint::ListDeployments, "GET", "list", "apps", "deployments"},
    {Endpoint::GetDeployment, "GET", "get", "apps", "deployments"},
    {Endpoint::PatchDeployment, "PATCH", "patch", "apps", "deployments"},
    {Endpoint::PatchDeploymentScale, "PATCH", "patch", "apps", "deployments/scale"},
};

constexpr const EndpointSpec& spec_of(Endpoint e) {
  for (const auto& s : kEndpoints)
    if (s.endpoint == e) return s;
  return kEndpoints[0];  // unreachable: every enumerator has a row (checked below)
}

constexpr bool every_endpoint_has_one_row() {
  int i = 0;
  for (const auto& s : kEndpoints)
    if (static_cast<int>(s.endpoint) != i++) return false;
  return i == static_cast<int>(Endpoint::PatchDeploymentScale) + 1;
}
static_assert(every_endpoint_has_one_row(), "kEndpoints must list every Endpoint once, in order");

}  // namespace

const std::vector<K8sApiCall>& kubernetes_api_calls() {
  static const std::vector<K8sApiCall> calls = [] {
    std::vector<K8sApiCall> out;
    for (const auto& s : kEndpoints) out.push_back({s.rbac_verb, s.api_group, s.resource});
    return out;
  }();
  return calls;
}

namespace {

using nlohmann::json;

struct ParsedUrl {
  std::string scheme, host;
  int port = 0;
  std::string prefix;  // path, without trailing slash
  std::string origin() const { return scheme + "://" + host + ":" + std::to_string(port); }
};

bool parse_url(const std::string& url, ParsedUrl& out) {
  auto sep = url.find("://");
  if (sep == std::string::npos) return false;
  out.scheme = url.substr(0, sep);
  if (out.scheme != "http" && out.scheme != "https") return false;
  std::string rest = url.substr(sep + 3);
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  out.prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) return false;
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') port = authority.substr(close + 2);
  } else {
    auto colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return false;
  if (port.empty()) {
    out.port = out.scheme == "https" ? 443 : 80;
  } else {
    try {
      std::size_t used = 0;
      out.port = std::stoi(port, &used);
      if (used != port.size() || out.port <= 0 || out.port > 65535) return false;
    } catch (const std::exception&) {
      return false;
    }
  }
  return true;
}

std::string openssl_error_text() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out;
}

X509_STORE* ca_store_from_pem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  STACK_OF(X509_INFO)* infos = PEM_X509_INFO_read_bio(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!infos) return nullptr;
  X509_STORE* store = X509_STORE_new();
  int added = 0;
  for (int i = 0; i < sk_X509_INFO_num(infos); ++i) {
    X509_INFO* info = sk_X509_INFO_value(infos, i);
    if (info->x509 && X509_STORE_add_cert(store, info->x509) == 1) ++added;
  }
  sk_X509_INFO_pop_free(infos, X509_INFO_free);
  if (added == 0) {
    X509_STORE_free(store);
    return nullptr;
  }
  return store;
}

// The HTTP client of one origin, configured with the credentials' TLS settings.
std::unique_ptr<httplib::ClientImpl> make_transport(const ParsedUrl& url, const KubeCredentials& creds, bool with_client_cert) {
  std::unique_ptr<httplib::ClientImpl> cli;
  if (url.scheme == "https") {
    std::unique_ptr<httplib::SSLClient> ssl;
    if (with_client_cert && !creds.client_cert_data.empty()) {
      BIO* cb = BIO_new_mem_buf(creds.client_cert_data.data(), static_cast<int>(creds.client_cert_data.size()));
      X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
      BIO_free(cb);
      BIO* kb = BIO_new_mem_buf(creds.client_key_data.data(), static_cast<int>(creds.client_key_data.size()));
      EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
      BIO_free(kb);
      if (!cert || !key) {
        X509_free(cert);
        EVP_PKEY_free(key);
        throw std::runtime_error("Kubernetes client: the client certificate or key is not valid PEM: " + openssl_error_text());
      }
      ssl = std::make_unique<httplib::SSLClient>(url.host, url.port, cert, key);
      X509_free(cert);  // the SSL_CTX holds its own references
      EVP_PKEY_free(key);
      if (!ssl->is_valid())
        throw std::runtime_error("Kubernetes client: the client certificate does not match its key: " + openssl_error_text());
    } else {
      ssl = std::make_unique<httplib::SSLClient>(url.host, url.port);
    }
    std::string ca = creds.ca_data;
    if (ca.empty() && !creds.ca_file.empty() && !kube::read_file(creds.ca_file, ca))
      throw std::runtime_error("Kubernetes client: cannot read the CA file " + creds.ca_file);
    if (!ca.empty()) {
      X509_STORE* store = ca_store_from_pem(ca);
      if (!store) throw std::runtime_error("Kubernetes client: the CA bundle holds no valid PEM certificate");
      ssl->set_ca_cert_store(store);  // takes ownership
    }
    ssl->enable_server_certificate_verification(!creds.insecure_skip_tls_verify);
    cli = std::move(ssl);
  } else {
    cli = std::make_unique<httplib::ClientImpl>(url.host, url.port);
  }
  time_t sec = creds.timeout_ms / 1000;
  time_t usec = (creds.timeout_ms % 1000) * 1000;
  cli->set_connection_timeout(sec, usec);
  cli->set_read_timeout(sec, usec);
  cli->set_write_timeout(sec, usec);
  cli->set_keep_alive(true);
  cli->set_tcp_nodelay(true);  // request/response in small writes: avoid Nagle's ~40 ms stalls
  return cli;
}

TimeMs time_field(const json& obj, const char* key) {
  TimeMs t = 0;
  if (obj.contains(key) && obj[key].is_string()) kube::parse_rfc3339(obj[key].get<std::string>(), t);
  return t;
}

std::string str(const json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) && obj[key].is_string() ? obj[key].get<std::string>() : "";
}

long long num(const json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) && obj[key].is_number_integer() ? obj[key].get<long long>() : 0;
}

const json& child(const json& obj, const char* key) {
  static const json empty = json::object();
  return obj.is_object() && obj.contains(key) && obj[key].is_object() ? obj[key] : empty;
}

K8sPod pod_from(const json& j) {
  K8sPod p;
  const json& meta = child(j, "metadata");
  const json& status = child(j, "status");
  p.name = str(meta, "name");
  p.namespace_name = str(meta, "namespace");
  if (meta.contains("labels") && meta["labels"].is_object())
    for (auto& [k, v] : meta["labels"].items())
      if (v.is_string()) p.labels[k] = v.get<std::string>();
  p.terminating = meta.contains("deletionTimestamp") && !meta["deletionTimestamp"].is_null();
  p.phase = str(status, "phase");
  p.start_time = time_field(status, "startTime");
  if (status.contains("conditions") && status["conditions"].is_array())
    for (const auto& c : status["conditions"])
      if (str(c, "type") == "Ready") p.ready = str(c, "status") == "True";
  if (status.contains("containerStatuses") && status["containerStatuses"].is_array()) {
    for (const auto& cs : status["containerStatuses"]) {
      p.restarts += static_cast<int>(num(cs, "restartCount"));
      const json& waiting = child(child(cs, "state"), "waiting");
      if (p.waiting_reason.empty()) p.waiting_reason = str(waiting, "reason");
      const json& terminated = child(child(cs, "lastState"), "terminated");
      if (p.last_termination_reason.empty()) p.last_termination_reason = str(terminated, "reason");
    }
  }
  return p;
}

K8sDeployment deployment_from(const json& j) {
  K8sDeployment d;
  const json& meta = child(j, "metadata");
  const json& spec = child(j, "spec");
  const json& status = child(j, "status");
  d.name = str(meta, "name");
  d.namespace_name = str(meta, "namespace");
  d.generation = num(meta, "generation");
  d.replicas = static_cast<int>(spec.contains("replicas") ? num(spec, "replicas") : 1);
  d.ready_replicas = static_cast<int>(num(status, "readyReplicas"));
  d.updated_replicas = static_cast<int>(num(status, "updatedReplicas"));
  d.available_replicas = static_cast<int>(num(status, "availableReplicas"));
  d.observed_generation = num(status, "observedGeneration");
  return d;
}

class HttpKubernetesClient final : public KubernetesClient {
 public:
  HttpKubernetesClient(KubeCredentials creds, std::string clear_state_template)
      : creds_(std::move(creds)), clear_state_template_(std::move(clear_state_template)) {
    if (clear_state_template_.empty()) clear_state_template_ = kDefaultClearStateUrlTemplate;
    while (!creds_.server.empty() && creds_.server.back() == '/') creds_.server.pop_back();
    if (!parse_url(creds_.server, server_))
      throw std::runtime_error("Kubernetes client: server \"" + creds_.server + "\" is not an http(s)://host[:port] URL");
    if (creds_.timeout_ms <= 0) creds_.timeout_ms = 10000;
    transport_ = make_transport(server_, creds_, true);
  }

  K8sResult list_pods(const std::string& ns, const std::string& label_selector, std::vector<K8sPod>& out) override {
    out.clear();
    if (auto r = check_name("namespace", ns); !r.message.empty()) return r;
    std::string path = "/api/v1/namespaces/" + ns + "/pods";
    if (!label_selector.empty()) path += "?labelSelector=" + kube::url_encode(label_selector);
    json body;
    K8sResult r = call(Endpoint::ListPods, path, "", "", &body);
    if (!r.ok) return r;
    if (!body.contains("items") || !body["items"].is_array()) return malformed(r, "pod list without items");
    for (const auto& item : body["items"]) out.push_back(pod_from(item));
    return r;
  }

  K8sResult get_pod(const std::string& ns, const std::string& name, K8sPod& out) override {
    if (auto r = check_names(ns, name); !r.message.empty()) return r;
    json body;
    K8sResult r = call(Endpoint::GetPod, "/api/v1/namespaces/" + ns + "/pods/" + name, "", "", &body);
    if (r.ok) out = pod_from(body);
    return r;
  }

  K8sResult delete_pod(const std::string& ns, const std::string& name) override {
    if (auto r = check_names(ns, name); !r.message.empty()) return r;
    return call(Endpoint::DeletePod, "/api/v1/namespaces/" + ns + "/pods/" + name, R"({"propagationPolicy":"Background"})",
                "application/json", nullptr);
  }

  K8sResult list_deployments(const std::string& ns, std::vector<K8sDeployment>& out) override {
    out.clear();
    if (auto r = check_name("namespace", ns); !r.message.empty()) return r;
    json body;
    K8sResult r = call(Endpoint::ListDeployments, "/apis/apps/v1/namespaces/" + ns + "/deployments", "", "", &body);
    if (!r.ok) return r;
    if (!body.contains("items") || !body["items"].is_array()) return malformed(r, "deployment list without items");
    for (const auto& item : body["items"]) out.push_back(deployment_from(item));
    return r;
  }

  K8sResult get_deployment(const std::string& ns, const std::string& name, K8sDeployment& out) override {
    if (auto r = check_names(ns, name); !r.message.empty()) return r;
    json body;
    K8sResult r = call(Endpoint::GetDeployment, "/apis/apps/v1/namespaces/" + ns + "/deployments/" + name, "", "", &body);
    if (r.ok) out = deployment_from(body);
    return r;
  }

  K8sResult scale_deployment(const std::string& ns, const std::string& name, int replicas) override {
    if (auto r = check_names(ns, name); !r.message.empty()) return r;
    json patch = {{"spec", {{"replicas", replicas}}}};
    return call(Endpoint::PatchDeploymentScale, "/apis/apps/v1/namespaces/" + ns + "/deployments/" + name + "/scale", patch.dump(),
                "application/merge-patch+json", nullptr);
  }

  K8sResult rollout_restart(const std::string& ns, const std::string& name, TimeMs at) override {
    if (auto r = check_names(ns, name); !r.message.empty()) return r;
    json patch = {{"spec",
                   {{"template",
                     {{"metadata", {{"annotations", {{"kubectl.kubernetes.io/restartedAt", kube::format_rfc3339(at)}}}}}}}}}};
    return call(Endpoint::PatchDeployment, "/apis/apps/v1/namespaces/" + ns + "/deployments/" + name + "?fieldManager=selfheal-remediator",
                patch.dump(), "application/strategic-merge-patch+json", nullptr);
  }

  K8sResult clear_state(const std::string& ns, const std::string& service) override {
    if (auto r = check_names(ns, service); !r.message.empty()) return r;
    std::string url = clear_state_template_;
    replace_all(url, "{server}", creds_.server);
    replace_all(url, "{namespace}", ns);
    replace_all(url, "{service}", service);
    ParsedUrl target;
    if (!parse_url(url, target)) {
      K8sResult r;
      r.reason = "Invalid";
      r.message = "clear-state URL \"" + url + "\" (from remediator.clear_state_url) is not an http(s) URL";
      return r;
    }
    std::string path = target.prefix.empty() ? "/" : target.prefix;
    if (target.origin() == server_.origin()) return send("POST", path.substr(server_.prefix.size()), "{}", "application/json", nullptr);
    // Another host (the service's own admin port): no cluster credentials are sent there.
    try {
      KubeCredentials plain = creds_;
      plain.token.clear();
      plain.token_file.clear();
      auto cli = make_transport(target, plain, false);
      auto res = cli->Post(path, httplib::Headers{{"User-Agent", "selfheal-remediator"}}, "{}", "application/json");
      return interpret(res, target.origin(), nullptr);
    } catch (const std::exception& e) {
      K8sResult r;
      r.message = e.what();
      return r;
    }
  }

 private:
  static void replace_all(std::string& s, const std::string& from, const std::string& to) {
    for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
  }

  static K8sResult check_name(const char* what, const std::string& value) {
    K8sResult r;
    if (!kube::valid_object_name(value)) {
      r.reason = "Invalid";
      r.message = std::string("invalid ") + what + " name \"" + value +
                  "\": must be lowercase letters, digits, '-' or '.', starting and ending with a letter or digit";
    }
    return r;
  }

  static K8sResult check_names(const std::string& ns, const std::string& name) {
    if (auto r = check_name("namespace", ns); !r.message.empty()) return r;
    return check_name("object", name);
  }

  static K8sResult malformed(K8sResult r, const std::string& what) {
    r.ok = false;
    r.reason = "BadResponse";
    r.message = "malformed answer from the API server: " + what;
    return r;
  }

  // The bearer token, re-read from token_file whenever the file changes (Kubernetes rotates
  // projected service-account tokens by swapping the file).
  bool current_token(std::string& token, std::string& error) {
    if (creds_.token_file.empty()) {
      token = creds_.token;
      return true;
    }
    struct stat st{};
    if (::stat(creds_.token_file.c_str(), &st) != 0) {
      error = "cannot read the token file " + creds_.token_file;
      return false;
    }
    FileStamp stamp{st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
    // Also re-read once a minute whatever the stamp says (as client-go does): a same-size rewrite
    // within the file system's timestamp granularity would otherwise go unnoticed.
    const auto now = std::chrono::steady_clock::now();
    if (!token_loaded_ || !(stamp == token_stamp_) || now - token_read_at_ > kTokenRereadPeriod) {
      std::string text;
      if (!kube::read_file(creds_.token_file, text)) {
        error = "cannot read the token file " + creds_.token_file;
        return false;
      }
      file_token_ = kube::trim(text);
      token_stamp_ = stamp;
      token_read_at_ = now;
      token_loaded_ = true;
    }
    token = file_token_;
    return true;
  }

  // A Kubernetes API request: the HTTP method comes from the endpoint's row in kEndpoints.
  K8sResult call(Endpoint endpoint, const std::string& path, const std::string& body, const std::string& content_type,
                 json* out) {
    return send(spec_of(endpoint).http_method, path, body, content_type, out);
  }

  // Any request to the API server with the cluster credentials. Only call() and the clear-state
  // hook (a simulator route, not a Kubernetes resource) use it.
  K8sResult send(const std::string& method, const std::string& path, const std::string& body,
                 const std::string& content_type, json* out) {
    std::lock_guard<std::mutex> lock(mu_);
    K8sResult r;
    std::string token, error;
    if (!current_token(token, error)) {
      r.reason = "Unauthorized";
      r.message = error;
      return r;
    }
    httplib::Headers headers{{"Accept", "application/json"}, {"User-Agent", "selfheal-remediator"}};
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    std::string full = server_.prefix + path;
    // A kept-alive connection idle for a while may have been closed by the server (its keep-alive
    // timeout); reusing it would wait a whole read timeout. Reconnect instead: a handshake is cheap.
    const auto now = std::chrono::steady_clock::now();
    if (now - last_call_ > std::chrono::seconds(1)) transport_->stop();
    last_call_ = now;
    httplib::Result res{nullptr, httplib::Error::Unknown};
    if (method == "GET") res = transport_->Get(full, headers);
    else if (method == "DELETE") res = transport_->Delete(full, headers, body, content_type);
    else if (method == "PATCH") res = transport_->Patch(full, headers, body, content_type);
    else if (method == "POST") res = transport_->Post(full, headers, body, content_type);
    return interpret(res, creds_.server, out);
  }

  K8sResult interpret(httplib::Result& res, const std::string& server, json* out) {
    K8sResult r;
    if (!res) {
      r.reason = "Unreachable";
      r.message = "no answer from " + server + ": " + httplib::to_string(res.error()) +
                  (res.error() == httplib::Error::SSLServerVerification
                       ? " (the server certificate is not signed by the configured CA, or does not name this host)"
                       : "") +
                  " (timeout " + std::to_string(creds_.timeout_ms) + " ms)";
      return r;
    }
    r.status = res->status;
    json body = json::parse(res->body, nullptr, false);
    if (res->status >= 200 && res->status < 300) {
      r.ok = true;
      if (out) {
        if (body.is_discarded() || !body.is_object()) return malformed(r, "the body is not a JSON object");
        *out = std::move(body);
      }
      return r;
    }
    if (!body.is_discarded() && body.is_object() && str(body, "kind") == "Status") {
      r.reason = str(body, "reason");
      r.message = str(body, "message");
    } else {
      r.message = "HTTP " + std::to_string(res->status) + " from " + server + ": " + res->body.substr(0, 200);
    }
    return r;
  }

  struct FileStamp {
    ino_t inode;
    off_t size;
    time_t mtime_s;
    long mtime_ns;
    bool operator==(const FileStamp&) const = default;
  };

  std::mutex mu_;
  KubeCredentials creds_;
  std::string clear_state_template_;
  ParsedUrl server_;
  std::unique_ptr<httplib::ClientImpl> transport_;
  std::chrono::steady_clock::time_point last_call_{};
  static constexpr std::chrono::seconds kTokenRereadPeriod{60};
  bool token_loaded_ = false;
  FileStamp token_stamp_{};
  std::chrono::steady_clock::time_point token_read_at_{};
  std::string file_token_;
};

}  // namespace

std::unique_ptr<KubernetesClient> make_http_kubernetes_client(KubeCredentials creds, std::string clear_state_url_template) {
  return std::make_unique<HttpKubernetesClient>(std::move(creds), std::move(clear_state_url_template));
}

}  // namespace selfheal
