#include "sim/k8s_api/k8s_api_server.hpp"

#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "core/log.hpp"
#include "sim/k8s_api/k8s_objects.hpp"

namespace selfheal::sim {
namespace {

using k8s::json;
using k8s::parse_label_selector;
using k8s::Selector;
namespace fs = std::filesystem;

constexpr const char* kComponent = "k8s-api";
constexpr const char* kContext = "selfheal-sim";

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1)
    throw std::runtime_error("K8sApiServer: no randomness for the token: " + openssl_errors());
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (auto b : buf) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  if (a.size() != b.size() || a.empty()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string base64(const std::string& in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], tbl[v & 63]};
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {tbl[v >> 18], tbl[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], '='};
  }
  return out;
}

void write_file(const fs::path& path, const std::string& text, fs::perms perms) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("K8sApiServer: cannot write " + path.string());
  out << text;
  out.close();
  if (!out) throw std::runtime_error("K8sApiServer: cannot write " + path.string());
  std::error_code ec;
  fs::permissions(path, perms, ec);
}

// The parts of a request path the API cares about.
struct Target {
  bool api = false;        // a Kubernetes resource path (vs discovery, health, other)
  std::string group;       // "" core, "apps", "sim"
  std::string ns;          // namespace, empty when not namespaced
  std::string resource;    // pods, deployments, events, namespaces, services
  std::string name;
  std::string subresource; // scale, clear-state
  bool valid = true;       // false: the path has the shape of a resource path but is not one
};

bool is_api_path(const std::string& path) {
  for (const char* prefix : {"/api", "/version", "/sim/v1/"})
    if (path.rfind(prefix, 0) == 0) return true;
  return false;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    auto j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

Target parse_target(const std::string& path) {
  Target t;
  auto seg = split_path(path);
  std::size_t i = 0;
  if (seg.size() >= 2 && seg[0] == "api" && seg[1] == "v1") {
    i = 2;
  } else if (seg.size() >= 3 && seg[0] == "apis" && seg[1] == "apps" && seg[2] == "v1") {
    t.group = "apps";
    i = 3;
  } else if (seg.size() >= 2 && seg[0] == "sim" && seg[1] == "v1") {
    t.group = "sim";
    i = 2;
  } else {
    return t;
  }
  if (i == seg.size()) return t;  // a discovery document
  t.api = true;
  std::vector<std::string> rest(seg.begin() + static_cast<long>(i), seg.end());
  if (rest[0] == "namespaces" && rest.size() >= 3) {
    t.ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  t.resource = rest[0];
  if (rest.size() >= 2) t.name = rest[1];
  if (rest.size() >= 3) t.subresource = rest[2];
  if (rest.size() > 3) t.valid = false;
  return t;
}

std::string verb_of(const httplib::Request& req, const Target& t) {
  const auto& m = req.method;
  if (m == "GET") {
    if (!t.name.empty()) return "get";
    auto w = req.get_param_value("watch");
    return (w == "true" || w == "1") ? "watch" : "list";
  }
  if (m == "DELETE") return "delete";
  if (m == "PATCH") return "patch";
  if (m == "PUT") return "update";
  if (m == "POST") return "create";
  return "other";
}

std::string media_type(const httplib::Request& req) {
  std::string ct = req.get_header_value("Content-Type");
  auto semi = ct.find(';');
  if (semi != std::string::npos) ct = ct.substr(0, semi);
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  return ct;
}

bool wants_table(const httplib::Request& req) {
  return req.get_header_value("Accept").find("as=Table") != std::string::npos;
}

void reply(httplib::Response& res, int code, const json& body) {
  res.status = code;
  res.set_content(body.dump(), "application/json");
}

void reply_status(httplib::Response& res, int code, const std::string& reason, const std::string& message,
                  const std::string& name = "", const std::string& group = "", const std::string& kind = "") {
  reply(res, code, k8s::status_json(code, reason, message, name, group, kind));
}

std::string qualified(const std::string& resource, const std::string& group) {
  return group.empty() ? resource : resource + "." + group;
}

json resource_entry(const std::string& name, const std::string& singular, const std::string& kind, bool namespaced,
                    std::vector<std::string> verbs, std::vector<std::string> short_names = {},
                    const std::string& group = "", const std::string& version = "") {
  json r = {{"name", name}, {"singularName", singular}, {"namespaced", namespaced}, {"kind", kind}, {"verbs", verbs}};
  if (!short_names.empty()) r["shortNames"] = short_names;
  if (!group.empty()) r["group"] = group;
  if (!version.empty()) r["version"] = version;
  return r;
}

json group_entry(const std::string& name, const std::string& version) {
  json v = {{"groupVersion", name + "/" + version}, {"version", version}};
  return {{"name", name}, {"versions", json::array({v})}, {"preferredVersion", v}};
}

int control_error_code(ControlError e, std::string& reason) {
  switch (e) {
    case ControlError::NotFound: reason = "NotFound"; return 404;
    case ControlError::Conflict: reason = "Conflict"; return 409;
    case ControlError::Invalid: reason = "Invalid"; return 422;
    case ControlError::None: break;
  }
  reason = "";
  return 200;
}

}  // namespace

struct K8sApiServer::Identity {
  bool authenticated = false;
  bool can_write = false;
  std::string user;
};

K8sApiServer::K8sApiServer(ClusterControl& cluster, K8sApiServerOptions options, MetricsRegistry* metrics)
    : cluster_(cluster), options_(std::move(options)), metrics_(metrics) {
  // The SSL_CTX exists from construction so routes can be mounted before start(); the
  // certificate is installed into it by start().
  http_ = std::make_unique<httplib::SSLServer>([](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    return true;
  });
  token_ = options_.token;

  auto handler = [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); };
  for (const char* pattern : {R"(/api(/.*)?)", R"(/apis(/.*)?)", "/version", R"(/sim/v1/.*)"}) {
    http_->Get(pattern, handler);
    http_->Post(pattern, handler);
    http_->Put(pattern, handler);
    http_->Patch(pattern, handler);
    http_->Delete(pattern, handler);
  }
  for (const char* health : {"/healthz", "/livez", "/readyz"})
    http_->Get(health, [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });

  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/healthz" || req.path == "/livez" || req.path == "/readyz")
      return httplib::Server::HandlerResponse::Unhandled;
    if (!authenticate(req).authenticated) {
      reply_status(res, 401, "Unauthorized", "Unauthorized");
      count(req, res);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http_->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404)
      reply_status(res, 404, "NotFound", "the server could not find the requested resource");
    else if (res.status == 405)
      reply_status(res, 405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
  });
  // API requests are counted by handle() and the auth check, before the answer is sent (so a
  // client that got its answer also sees it counted); the logger, which runs after sending,
  // counts only the other routes (health, routes mounted through http()).
  http_->set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    if (!is_api_path(req.path) && res.status != 401) count(req, res);
  });
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which would let a second server
  // silently share a port that is already taken instead of failing start().
  http_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  http_->set_tcp_nodelay(true);  // small JSON answers: Nagle + delayed ACK would add ~40 ms each
  http_->set_keep_alive_timeout(2);  // stop() waits for idle keep-alive connections at most this long
  http_->set_read_timeout(10);
  http_->set_write_timeout(10);
}

K8sApiServer::~K8sApiServer() { stop(); }

void K8sApiServer::start() {
  if (running_) return;
  auto colon = options_.listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == options_.listen.size())
    throw std::runtime_error("K8sApiServer: listen address \"" + options_.listen +
                             "\" is not HOST:PORT (e.g. 127.0.0.1:6443, or 127.0.0.1:0 for a free port)");
  host_ = options_.listen.substr(0, colon);
  if (host_.size() >= 2 && host_.front() == '[' && host_.back() == ']') host_ = host_.substr(1, host_.size() - 2);
  int port = 0;
  try {
    std::size_t used = 0;
    port = std::stoi(options_.listen.substr(colon + 1), &used);
    if (used != options_.listen.size() - colon - 1 || port < 0 || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    throw std::runtime_error("K8sApiServer: listen address \"" + options_.listen + "\" has a bad port");
  }
  if (token_.empty()) token_ = random_hex(32);

  // Certificates: a CA, and a server certificate for the listen host plus the loopback names.
  ca_ = std::make_unique<CertificateAuthority>("selfheal-sim-ca");
  std::vector<std::string> ips{"127.0.0.1", "::1"};
  std::vector<std::string> dns{"localhost", "kubernetes", "kubernetes.default"};
  bool host_is_ip = !host_.empty() && (std::isdigit(static_cast<unsigned char>(host_[0])) || host_.find(':') != std::string::npos);
  if (host_is_ip) {
    if (std::find(ips.begin(), ips.end(), host_) == ips.end() && host_ != "0.0.0.0" && host_ != "::") ips.push_back(host_);
  } else if (!host_.empty() && std::find(dns.begin(), dns.end(), host_) == dns.end()) {
    dns.push_back(host_);
  }
  auto server_cert = ca_->issue_server("selfheal-sim-apiserver", dns, ips);

  cert_dir_ = options_.cert_dir;
  if (cert_dir_.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "selfheal-k8s-api-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("K8sApiServer: cannot create a temp dir for certificates in " +
                                                        fs::temp_directory_path().string());
    cert_dir_ = tmpl;
    cert_dir_is_temp_ = true;
  } else {
    std::error_code ec;
    fs::create_directories(cert_dir_, ec);
    if (ec) throw std::runtime_error("K8sApiServer: cannot create cert_dir " + cert_dir_ + ": " + ec.message());
  }
  auto owner_rw = fs::perms::owner_read | fs::perms::owner_write;
  write_file(fs::path(cert_dir_) / "ca.crt", ca_->cert_pem(), owner_rw | fs::perms::group_read | fs::perms::others_read);
  write_file(fs::path(cert_dir_) / "apiserver.crt", server_cert.cert_pem, owner_rw | fs::perms::group_read | fs::perms::others_read);
  write_file(fs::path(cert_dir_) / "apiserver.key", server_cert.key_pem, owner_rw);

  SSL_CTX* ctx = http_->ssl_context();
  if (!ctx || SSL_CTX_use_certificate(ctx, server_cert.cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, server_cert.key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1)
    throw std::runtime_error("K8sApiServer: cannot install the TLS certificate: " + openssl_errors());
  // Client certificates are optional (token users send none) but, when sent, must chain to our CA.
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca_->cert());
  SSL_CTX_add_client_CA(ctx, ca_->cert());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);

  if (port == 0) {
    port_ = http_->bind_to_any_port(host_);
    if (port_ < 0) port_ = 0;
  } else {
    port_ = http_->bind_to_port(host_, port) ? port : 0;
  }
  if (port_ <= 0)
    throw std::runtime_error("K8sApiServer: cannot listen on " + options_.listen +
                             " (address in use or not local?); choose a free port, or port 0 for any free port");
  running_ = true;
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  // listen_after_bind sets is_running only once its accept loop starts; wait for it (bounded).
  for (int i = 0; i < 2000 && !http_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  log::info(kComponent, "Kubernetes API of the simulated cluster on {} (certificates in {})", url(), cert_dir_);
}

void K8sApiServer::stop() {
  if (!running_.exchange(false)) return;
  http_->stop();
  if (thread_.joinable()) thread_.join();
  if (cert_dir_is_temp_) {
    std::error_code ec;
    fs::remove_all(cert_dir_, ec);
    cert_dir_is_temp_ = false;
  }
}

std::string K8sApiServer::url() const {
  std::string host = host_.empty() || host_ == "0.0.0.0" ? "127.0.0.1" : host_;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "https://" + host + ":" + std::to_string(port_);
}

const std::string& K8sApiServer::ca_pem() const {
  static const std::string empty;
  return ca_ ? ca_->cert_pem() : empty;
}

namespace {
std::string kubeconfig_text(const std::string& server, const std::string& ca_pem, const std::string& user_name,
                            const std::string& user_fields) {
  return "apiVersion: v1\nkind: Config\n"
         "clusters:\n- name: selfheal-sim\n  cluster:\n    server: " + server +
         "\n    certificate-authority-data: " + base64(ca_pem) +
         "\nusers:\n- name: " + user_name + "\n  user:\n" + user_fields +
         "contexts:\n- name: " + kContext + "\n  context:\n    cluster: selfheal-sim\n    user: " + user_name +
         "\n    namespace: shop\ncurrent-context: " + kContext + "\n";
}

void write_private_file(const std::string& path, const std::string& text) {
  fs::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
  write_file(p, text, fs::perms::owner_read | fs::perms::owner_write);
}
}  // namespace

void K8sApiServer::write_kubeconfig(const std::string& path) const {
  if (!ca_) throw std::runtime_error("K8sApiServer: write_kubeconfig(" + path + ") before start()");
  write_private_file(path, kubeconfig_text(url(), ca_->cert_pem(), "selfheal-sim-admin", "    token: " + token_ + "\n"));
}

void K8sApiServer::write_client_cert_kubeconfig(const std::string& path, const std::string& user,
                                                const std::string& group) const {
  if (!ca_) throw std::runtime_error("K8sApiServer: write_client_cert_kubeconfig(" + path + ") before start()");
  auto cert = ca_->issue_client(user, group);
  write_private_file(path, kubeconfig_text(url(), ca_->cert_pem(), user,
                                           "    client-certificate-data: " + base64(cert.cert_pem) +
                                               "\n    client-key-data: " + base64(cert.key_pem) + "\n"));
}

K8sApiServer::Identity K8sApiServer::authenticate(const httplib::Request& req) const {
  Identity id;
  std::string auth = req.get_header_value("Authorization");
  if (auth.rfind("Bearer ", 0) == 0) {
    std::string presented = auth.substr(7);
    if (constant_time_equal(presented, token_)) return {true, true, "selfheal-sim-admin"};
    if (constant_time_equal(presented, options_.read_only_token)) return {true, false, "selfheal-sim-viewer"};
    return id;  // a wrong token is a failure even if a certificate was also presented
  }
  if (req.ssl) {
    X509* peer = SSL_get0_peer_certificate(req.ssl);
    if (peer && SSL_get_verify_result(req.ssl) == X509_V_OK) {
      char cn[256] = {0}, org[256] = {0};
      X509_NAME* subject = X509_get_subject_name(peer);
      X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof cn);
      X509_NAME_get_text_by_NID(subject, NID_organizationName, org, sizeof org);
      return {true, std::string(org) == "system:masters", cn};
    }
  }
  return id;
}

void K8sApiServer::count(const httplib::Request& req, const httplib::Response& res) {
  if (!metrics_) return;
  Target t = parse_target(req.path);
  std::string resource = t.api ? t.resource + (t.subresource.empty() ? "" : "/" + t.subresource)
                               : (req.path.rfind("/api", 0) == 0 || req.path == "/version" ? "discovery" : "other");
  metrics_
      ->counter("selfheal_k8s_api_requests_total",
                "Requests served by the simulated cluster's Kubernetes API, by verb, resource and HTTP code",
                {{"verb", t.api ? verb_of(req, t) : req.method}, {"resource", resource}, {"code", std::to_string(res.status)}})
      .inc();
}

namespace {

// Everything the dispatcher needs about one request; keeps handle() readable.
class RequestContext {
 public:
  RequestContext(ClusterControl& cluster, const httplib::Request& req, httplib::Response& res,
                 const std::atomic<bool>& running)
      : cluster_(cluster), req_(req), res_(res), running_(running) {}

  void discovery(const std::string& path, const std::string& server_url) {
    if (path == "/version") {
      reply(res_, 200,
            {{"major", "1"}, {"minor", "32"}, {"gitVersion", "v1.32.0-selfheal-sim"}, {"gitCommit", "selfheal"},
             {"gitTreeState", "clean"}, {"buildDate", "2026-01-01T00:00:00Z"}, {"goVersion", "go1.23"},
             {"compiler", "gc"}, {"platform", "linux/amd64"}});
    } else if (path == "/api" || path == "/api/") {
      std::string addr = server_url.substr(server_url.find("://") + 3);
      reply(res_, 200,
            {{"kind", "APIVersions"}, {"versions", json::array({"v1"})},
             {"serverAddressByClientCIDRs", json::array({{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", addr}}})}});
    } else if (path == "/apis" || path == "/apis/") {
      reply(res_, 200, {{"kind", "APIGroupList"}, {"apiVersion", "v1"},
                        // autoscaling/v1 is not listed: it would serve no resource of its own (Scale is a
                        // subresource of apps/v1 deployments), and kubectl reports an empty group as a
                        // discovery error.
                        {"groups", json::array({group_entry("apps", "v1")})}});
    } else if (path == "/apis/apps") {
      json g = group_entry("apps", "v1");
      g["kind"] = "APIGroup";
      g["apiVersion"] = "v1";
      reply(res_, 200, g);
    } else if (path == "/apis/autoscaling") {
      json g = group_entry("autoscaling", "v1");
      g["kind"] = "APIGroup";
      g["apiVersion"] = "v1";
      reply(res_, 200, g);
    } else if (path == "/api/v1") {
      reply(res_, 200,
            {{"kind", "APIResourceList"}, {"apiVersion", "v1"}, {"groupVersion", "v1"},
             {"resources", json::array({resource_entry("namespaces", "namespace", "Namespace", false, {"get", "list"}, {"ns"}),
                                        resource_entry("pods", "pod", "Pod", true, {"delete", "get", "list", "watch"}, {"po"}),
                                        resource_entry("events", "event", "Event", true, {"get", "list"}, {"ev"})})}});
    } else if (path == "/apis/apps/v1") {
      reply(res_, 200,
            {{"kind", "APIResourceList"}, {"apiVersion", "v1"}, {"groupVersion", "apps/v1"},
             {"resources", json::array({resource_entry("deployments", "deployment", "Deployment", true,
                                                       {"get", "list", "patch", "watch"}, {"deploy"}),
                                        resource_entry("deployments/scale", "", "Scale", true, {"get", "patch", "update"},
                                                       {}, "autoscaling", "v1")})}});
    } else if (path == "/apis/autoscaling/v1") {
      reply(res_, 200, {{"kind", "APIResourceList"}, {"apiVersion", "v1"}, {"groupVersion", "autoscaling/v1"},
                        {"resources", json::array()}});
    } else {
      reply_status(res_, 404, "NotFound", "the server could not find the requested resource");
    }
  }

  void resource(const Target& t, bool can_write, const std::string& user) {
    std::string verb = verb_of(req_, t);
    const std::string group = t.group;
    if (!t.valid) return not_found_path();
    bool write = verb == "delete" || verb == "patch" || verb == "update" || verb == "create";
    if (write && !can_write) {
      std::string res = t.resource + (t.subresource.empty() ? "" : "/" + t.subresource);
      return reply_status(res_, 403, "Forbidden",
                          qualified(t.resource, group) + " \"" + t.name + "\" is forbidden: User \"" + user +
                              "\" cannot " + verb + " resource \"" + res + "\" in API group \"" + group +
                              "\" in the namespace \"" + t.ns + "\"",
                          t.name, group, t.resource);
    }
    if (group == "sim") return sim_hook(t);
    if (group.empty() && t.resource == "namespaces") return namespaces(t, verb);
    if (group.empty() && t.resource == "pods") return pods(t, verb);
    if (group.empty() && t.resource == "events") return events(t, verb);
    if (group == "apps" && t.resource == "deployments") return deployments(t, verb);
    not_found_path();
  }

 private:
  void not_found_path() { reply_status(res_, 404, "NotFound", "the server could not find the requested resource"); }

  void method_not_allowed() {
    reply_status(res_, 405, "MethodNotAllowed",
                 "the server does not allow this method on the requested resource");
  }

  TimeMs now_for_ages(TimeMs newest) const {
    TimeMs now = cluster_.now();
    return now > 0 ? now : newest;
  }

  bool selectors(Selector& labels, Selector& fields) {
    std::string error;
    if (!parse_label_selector(req_.get_param_value("labelSelector"), labels, error)) {
      reply_status(res_, 400, "BadRequest", "unable to parse requirement: " + error);
      return false;
    }
    if (!parse_label_selector(req_.get_param_value("fieldSelector"), fields, error)) {
      reply_status(res_, 400, "BadRequest", "invalid field selector: " + error);
      return false;
    }
    return true;
  }

  bool check_fields(const Selector& fields, const std::vector<std::string>& supported) {
    for (const auto& term : fields.terms) {
      bool ok = std::find(supported.begin(), supported.end(), term.key) != supported.end() &&
                (term.op == Selector::Term::Op::Equals || term.op == Selector::Term::Op::NotEquals);
      if (!ok) {
        reply_status(res_, 400, "BadRequest", "field label not supported: " + term.key);
        return false;
      }
    }
    return true;
  }

  void namespaces(const Target& t, const std::string& verb) {
    auto names = cluster_.namespaces();
    std::sort(names.begin(), names.end());
    // /api/v1/namespaces/NAME parses as ns-less resource "namespaces" with name NAME.
    std::uint64_t rv = cluster_.resource_version();
    if (verb == "get") {
      if (std::find(names.begin(), names.end(), t.name) == names.end())
        return reply_status(res_, 404, "NotFound", "namespaces \"" + t.name + "\" not found", t.name, "", "namespaces");
      return reply(res_, 200, k8s::namespace_json(t.name, rv));
    }
    if (verb == "list") {
      if (wants_table(req_)) return reply(res_, 200, k8s::namespace_table(names, rv));
      json items = json::array();
      for (const auto& n : names) items.push_back(k8s::namespace_json(n, rv));
      return reply(res_, 200, k8s::list_json("NamespaceList", "v1", rv, items));
    }
    method_not_allowed();
  }

  std::vector<PodView> matching_pods(const Target& t, const Selector& labels, const Selector& fields) {
    std::vector<PodView> out;
    for (auto& p : cluster_.pods(t.ns)) {
      std::map<std::string, std::string> f{{"metadata.name", p.name},
                                           {"metadata.namespace", p.namespace_name},
                                           {"status.phase", p.phase},
                                           {"spec.nodeName", p.node}};
      if (labels.matches(k8s::pod_labels(p)) && fields.matches(f)) out.push_back(std::move(p));
    }
    std::sort(out.begin(), out.end(),
              [](const PodView& a, const PodView& b) { return std::tie(a.namespace_name, a.name) < std::tie(b.namespace_name, b.name); });
    return out;
  }

  void pods(const Target& t, const std::string& verb) {
    if (!t.subresource.empty()) return not_found_path();
    if (verb == "list" || verb == "watch") {
      Selector labels, fields;
      if (!selectors(labels, fields) ||
          !check_fields(fields, {"metadata.name", "metadata.namespace", "status.phase", "spec.nodeName"}))
        return;
      std::uint64_t rv = cluster_.resource_version();
      auto pods = matching_pods(t, labels, fields);
      if (verb == "watch") return watch_pods(t, labels, fields);
      if (wants_table(req_)) {
        TimeMs newest = 0;
        for (const auto& p : pods) newest = std::max(newest, std::max(p.created_at, p.started_at));
        return reply(res_, 200, k8s::pod_table(pods, now_for_ages(newest), rv));
      }
      json items = json::array();
      for (const auto& p : pods) items.push_back(k8s::pod_json(p));
      return reply(res_, 200, k8s::list_json("PodList", "v1", rv, items));
    }
    if (t.ns.empty() || t.name.empty()) return method_not_allowed();
    auto found = find_pod(t.ns, t.name);
    if (verb == "get") {
      if (!found) return pod_not_found(t.name);
      if (wants_table(req_)) {
        return reply(res_, 200, k8s::pod_table({*found}, now_for_ages(std::max(found->created_at, found->started_at)),
                                               found->resource_version));
      }
      return reply(res_, 200, k8s::pod_json(*found));
    }
    if (verb == "delete") {
      if (!found) return pod_not_found(t.name);
      auto result = cluster_.delete_pod(t.ns, t.name);
      if (!result.ok()) return control_failure(result, t.name, "", "pods");
      found->terminating = true;
      return reply(res_, 200, k8s::pod_json(*found));
    }
    method_not_allowed();
  }

  std::optional<PodView> find_pod(const std::string& ns, const std::string& name) {
    for (auto& p : cluster_.pods(ns))
      if (p.name == name) return p;
    return std::nullopt;
  }

  void pod_not_found(const std::string& name) {
    reply_status(res_, 404, "NotFound", "pods \"" + name + "\" not found", name, "", "pods");
  }

  // A watch by polling the cluster every 100 ms: ADDED/MODIFIED/DELETED events, until
  // timeoutSeconds (default 60, at most 300) or the server stops. kubectl uses it to wait for a
  // deleted pod to disappear.
  void watch_pods(const Target& t, const Selector& labels, const Selector& fields) {
    long timeout_s = 60;
    try {
      if (req_.has_param("timeoutSeconds")) timeout_s = std::clamp(std::stol(req_.get_param_value("timeoutSeconds")), 1L, 300L);
    } catch (const std::exception&) {
      return reply_status(res_, 400, "BadRequest", "timeoutSeconds: not an integer");
    }
    // Without a resourceVersion a watch starts with ADDED for every existing object (as the real
    // API server does); with one, the client is in sync and only changes are sent.
    auto known = std::make_shared<std::map<std::string, PodView>>();
    if (req_.has_param("resourceVersion") && req_.get_param_value("resourceVersion") != "0")
      for (auto& p : matching_pods(t, labels, fields)) (*known)[p.namespace_name + "/" + p.name] = p;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    // Captured by value: the provider outlives this RequestContext.
    ClusterControl* cluster = &cluster_;
    const std::atomic<bool>* running = &running_;
    std::string ns = t.ns;
    Selector label_sel = labels, field_sel = fields;
    res_.status = 200;
    // The content type keeps httplib from gzip-compressing the stream (its compressor would hold
    // events back until the watch ends); client-go accepts the parameter.
    res_.set_chunked_content_provider(
        "application/json;stream=watch",
        [cluster, running, ns, label_sel, field_sel, known, deadline](std::size_t, httplib::DataSink& sink) {
          if (!sink.is_writable()) return false;  // the client went away
          if (!*running || std::chrono::steady_clock::now() >= deadline) {
            sink.done();
            return true;
          }
          std::map<std::string, PodView> now;
          for (auto& p : cluster->pods(ns)) {
            std::map<std::string, std::string> f{{"metadata.name", p.name},
                                                 {"metadata.namespace", p.namespace_name},
                                                 {"status.phase", p.phase},
                                                 {"spec.nodeName", p.node}};
            if (label_sel.matches(k8s::pod_labels(p)) && field_sel.matches(f)) now[p.namespace_name + "/" + p.name] = p;
          }
          std::string out;
          for (const auto& [key, pod] : *known)
            if (!now.count(key)) out += json{{"type", "DELETED"}, {"object", k8s::pod_json(pod)}}.dump() + "\n";
          for (const auto& [key, pod] : now) {
            auto it = known->find(key);
            if (it == known->end())
              out += json{{"type", "ADDED"}, {"object", k8s::pod_json(pod)}}.dump() + "\n";
            else if (it->second.resource_version != pod.resource_version || it->second.terminating != pod.terminating)
              out += json{{"type", "MODIFIED"}, {"object", k8s::pod_json(pod)}}.dump() + "\n";
          }
          *known = std::move(now);
          if (!out.empty() && !sink.write(out.data(), out.size())) return false;
          if (out.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
          return true;
        });
  }

  void events(const Target& t, const std::string& verb) {
    if (verb != "list") return method_not_allowed();
    auto evs = cluster_.events(t.ns);
    std::uint64_t rv = cluster_.resource_version();
    std::sort(evs.begin(), evs.end(), [](const ClusterEvent& a, const ClusterEvent& b) {
      return std::tie(a.last_ts, a.namespace_name, a.name) < std::tie(b.last_ts, b.namespace_name, b.name);
    });
    if (wants_table(req_)) {
      TimeMs newest = evs.empty() ? 0 : evs.back().last_ts;
      return reply(res_, 200, k8s::event_table(evs, now_for_ages(newest), rv));
    }
    json items = json::array();
    for (const auto& e : evs) items.push_back(k8s::event_json(e));
    reply(res_, 200, k8s::list_json("EventList", "v1", rv, items));
  }

  std::optional<DeploymentView> find_deployment(const std::string& ns, const std::string& name) {
    for (auto& d : cluster_.deployments(ns))
      if (d.name == name) return d;
    return std::nullopt;
  }

  void deployment_not_found(const std::string& name) {
    reply_status(res_, 404, "NotFound", "deployments.apps \"" + name + "\" not found", name, "apps", "deployments");
  }

  void control_failure(const ControlResult& r, const std::string& name, const std::string& group,
                       const std::string& kind) {
    std::string reason;
    int code = control_error_code(r.error, reason);
    std::string message = r.message;
    if (message.empty()) message = qualified(kind, group) + " \"" + name + "\": " + reason;
    if (r.error == ControlError::Conflict && r.message.empty())
      message = "Operation cannot be fulfilled on " + qualified(kind, group) + " \"" + name +
                "\": the object has been modified; please apply your changes to the latest version and try again";
    reply_status(res_, code, reason, message, name, group, kind);
  }

  // Parses a patch body into a DeploymentPatch. `scale`: the body is a Scale (only spec.replicas).
  // Returns false after replying with the error.
  bool read_patch(const std::string& name, bool scale, bool full_object, DeploymentPatch& out) {
    std::string mt = media_type(req_);
    if (full_object) {
      if (mt != "application/json" && !mt.empty()) {
        reply_status(res_, 415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json");
        return false;
      }
    } else if (mt != "application/merge-patch+json" && mt != "application/strategic-merge-patch+json") {
      reply_status(res_, 415, "UnsupportedMediaType",
                   "the body of the request was in an unknown format - accepted media types include: "
                   "application/merge-patch+json, application/strategic-merge-patch+json (the simulated cluster "
                   "does not implement " + (mt.empty() ? std::string("an empty Content-Type") : mt) + ")");
      return false;
    }
    json body = json::parse(req_.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      reply_status(res_, 400, "BadRequest", "the request body is not a JSON object");
      return false;
    }
    std::string kind = scale ? "Scale.autoscaling" : "Deployment.apps";
    auto invalid = [&](const std::string& field, const std::string& problem) {
      json s = k8s::status_json(422, "Invalid", kind + " \"" + name + "\" is invalid: " + field + ": " + problem, name,
                                scale ? "autoscaling" : "apps", scale ? "Scale" : "Deployment");
      s["details"]["causes"] = json::array({{{"reason", "FieldValueInvalid"}, {"message", problem}, {"field", field}}});
      reply(res_, 422, s);
      return false;
    };
    for (auto& [key, value] : body.items()) {
      if (key == "metadata") {
        if (!value.is_object()) return invalid("metadata", "must be an object");
        for (auto& [mk, mv] : value.items()) {
          if (mk == "resourceVersion") {
            if (mv.is_null()) continue;
            std::string rv = mv.is_string() ? mv.get<std::string>() : "";
            char* end = nullptr;
            unsigned long long v = std::strtoull(rv.c_str(), &end, 10);
            if (rv.empty() || *end != '\0') return invalid("metadata.resourceVersion", "Invalid value: must be a decimal string");
            out.expected_resource_version = v;
          } else if (mk == "name" || mk == "namespace") {
            if (!mv.is_string() || (mk == "name" && mv.get<std::string>() != name))
              return invalid("metadata." + mk, "Invalid value: does not match the object in the URL");
          } else if (mk == "creationTimestamp" || mk == "uid" || mk == "generation" || mk == "labels" ||
                     mk == "annotations") {
            if (!full_object) return invalid("metadata." + mk, "Forbidden: the simulated cluster cannot change this field");
          } else if (!full_object) {
            return invalid("metadata." + mk, "Forbidden: the simulated cluster cannot change this field");
          }
        }
      } else if (key == "spec") {
        if (!value.is_object()) return invalid("spec", "must be an object");
        for (auto& [sk, sv] : value.items()) {
          if (sk == "replicas") {
            if (!sv.is_number_integer()) return invalid("spec.replicas", "Invalid value: " + sv.dump() + ": must be an integer");
            auto r = sv.get<long long>();
            if (r < 0) return invalid("spec.replicas", "Invalid value: " + std::to_string(r) + ": must be greater than or equal to 0");
            if (r > 10000) return invalid("spec.replicas", "Invalid value: " + std::to_string(r) + ": must be at most 10000");
            out.replicas = static_cast<int>(r);
          } else if (sk == "template" && !scale) {
            const json* ann = nullptr;
            if (sv.is_object() && sv.size() == 1 && sv.contains("metadata") && sv["metadata"].is_object() &&
                sv["metadata"].size() == 1 && sv["metadata"].contains("annotations") &&
                sv["metadata"]["annotations"].is_object())
              ann = &sv["metadata"]["annotations"];
            if (!ann) return invalid("spec.template", "Forbidden: only the kubectl.kubernetes.io/restartedAt annotation can be changed");
            for (auto& [ak, av] : ann->items()) {
              if (ak != "kubectl.kubernetes.io/restartedAt" || !av.is_string())
                return invalid("spec.template.metadata.annotations[" + ak + "]",
                               "Forbidden: only kubectl.kubernetes.io/restartedAt (a string) can be changed");
              out.restarted_at = av.get<std::string>();
            }
          } else {
            return invalid("spec." + sk, "Forbidden: the simulated cluster cannot change this field");
          }
        }
      } else if (key == "status" || key == "kind" || key == "apiVersion") {
        if (!full_object && key == "status") return invalid("status", "Forbidden: status is set by the cluster");
      } else {
        return invalid(key, "Forbidden: unknown field");
      }
    }
    if (full_object && !out.replicas) return invalid("spec.replicas", "Required value");
    return true;
  }

  void deployments(const Target& t, const std::string& verb) {
    if (verb == "list") {
      if (!t.subresource.empty()) return not_found_path();
      Selector labels, fields;
      if (!selectors(labels, fields) || !check_fields(fields, {"metadata.name", "metadata.namespace"})) return;
      std::uint64_t rv = cluster_.resource_version();
      std::vector<DeploymentView> ds;
      for (auto& d : cluster_.deployments(t.ns)) {
        std::map<std::string, std::string> f{{"metadata.name", d.name}, {"metadata.namespace", d.namespace_name}};
        if (labels.matches({{"app", d.name}}) && fields.matches(f)) ds.push_back(std::move(d));
      }
      std::sort(ds.begin(), ds.end(), [](const DeploymentView& a, const DeploymentView& b) {
        return std::tie(a.namespace_name, a.name) < std::tie(b.namespace_name, b.name);
      });
      if (wants_table(req_)) {
        TimeMs newest = 0;
        for (const auto& d : ds) newest = std::max(newest, d.created_at);
        return reply(res_, 200, k8s::deployment_table(ds, now_for_ages(newest), rv));
      }
      json items = json::array();
      for (const auto& d : ds) items.push_back(k8s::deployment_json(d));
      return reply(res_, 200, k8s::list_json("DeploymentList", "apps/v1", rv, items));
    }
    if (verb == "watch") return method_not_allowed();
    if (t.ns.empty() || t.name.empty()) return method_not_allowed();
    bool scale = t.subresource == "scale";
    if (!t.subresource.empty() && !scale) return not_found_path();
    auto found = find_deployment(t.ns, t.name);
    if (!found) return deployment_not_found(t.name);
    if (verb == "get") {
      if (scale) return reply(res_, 200, k8s::scale_json(*found));
      if (wants_table(req_))
        return reply(res_, 200, k8s::deployment_table({*found}, now_for_ages(found->created_at), found->resource_version));
      return reply(res_, 200, k8s::deployment_json(*found));
    }
    if (verb == "patch" || (verb == "update" && scale)) {
      DeploymentPatch patch;
      if (!read_patch(t.name, scale, verb == "update", patch)) return;
      auto result = cluster_.patch_deployment(t.ns, t.name, patch);
      if (!result.ok()) return control_failure(result, t.name, "apps", "deployments");
      auto updated = find_deployment(t.ns, t.name);
      if (!updated) return deployment_not_found(t.name);
      return reply(res_, 200, scale ? k8s::scale_json(*updated) : k8s::deployment_json(*updated));
    }
    method_not_allowed();
  }

  void sim_hook(const Target& t) {
    if (t.resource != "services" || t.ns.empty() || t.name.empty() || t.subresource != "clear-state")
      return not_found_path();
    if (req_.method != "POST") return method_not_allowed();
    auto result = cluster_.clear_state(t.ns, t.name);
    if (!result.ok()) return control_failure(result, t.name, "", "services");
    reply_status(res_, 200, "", "cleared the state of service \"" + t.name + "\" in namespace \"" + t.ns + "\"", t.name,
                 "", "services");
  }

  ClusterControl& cluster_;
  const httplib::Request& req_;
  httplib::Response& res_;
  const std::atomic<bool>& running_;
};

}  // namespace

void K8sApiServer::handle(const httplib::Request& req, httplib::Response& res) {
  try {
    Target t = parse_target(req.path);
    RequestContext ctx(cluster_, req, res, running_);
    if (!t.api) {
      if (req.method != "GET")
        reply_status(res, 405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
      else
        ctx.discovery(req.path, url());
    } else {
      Identity id = authenticate(req);
      ctx.resource(t, id.can_write, id.user);
    }
  } catch (const std::exception& e) {
    log::error(kComponent, "{} {}: {}", req.method, req.path, e.what());
    reply_status(res, 500, "InternalError", std::string("internal error: ") + e.what());
  }
  count(req, res);
}

}  // namespace selfheal::sim
