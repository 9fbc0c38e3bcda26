// Kubeconfig and in-cluster credential loading for HttpKubernetesClient.
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "remediator/kubernetes/http_kubernetes_client.hpp"
#include "remediator/kubernetes/kube_util.hpp"

namespace selfheal {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void bad(const std::string& file, const std::string& field, const std::string& problem) {
  throw std::runtime_error("kubeconfig " + file + ": " + field + ": " + problem);
}

std::string scalar(const YAML::Node& node, const std::string& key, const std::string& file, const std::string& where) {
  const YAML::Node v = node[key];
  if (!v) return "";
  if (!v.IsScalar()) bad(file, where + "." + key, "must be a string");
  return v.as<std::string>();
}

// Finds the entry called `name` in a kubeconfig list (clusters, users, contexts).
YAML::Node named_entry(const YAML::Node& root, const std::string& list, const std::string& inner,
                       const std::string& name, const std::string& file) {
  const YAML::Node entries = root[list];
  if (!entries) bad(file, list, "missing");
  if (!entries.IsSequence()) bad(file, list, "must be a list");
  std::string known;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const YAML::Node e = entries[i];
    if (!e.IsMap() || !e["name"] || !e["name"].IsScalar())
      bad(file, list + "[" + std::to_string(i) + "].name", "missing");
    std::string n = e["name"].as<std::string>();
    if (n == name) {
      const YAML::Node body = e[inner];
      if (!body || !body.IsMap())
        bad(file, list + "[" + std::to_string(i) + "]." + inner, "missing or not a map");
      return body;
    }
    known += (known.empty() ? "" : ", ") + n;
  }
  bad(file, list, "no entry named \"" + name + "\" (have: " + (known.empty() ? "none" : known) + ")");
}

std::string resolve(const std::string& file, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(file).parent_path() / path).string();
}

std::string read_named_file(const std::string& file, const std::string& field, const std::string& path) {
  std::string text;
  if (!kube::read_file(path, text)) bad(file, field, "cannot read " + path);
  return text;
}

std::string decode_field(const std::string& file, const std::string& field, const std::string& b64) {
  std::string out;
  if (!kube::base64_decode(b64, out)) bad(file, field, "not valid base64");
  return out;
}

}  // namespace

KubeCredentials load_kubeconfig(const std::string& path, const std::string& context) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw std::runtime_error("kubeconfig " + path + ": cannot open the file (write one with `selfheal cluster-sim "
                             "--kubeconfig-out PATH`, or set remediator.kubeconfig)");
  } catch (const YAML::Exception& e) {
    throw std::runtime_error("kubeconfig " + path + ": not valid YAML: " + e.what());
  }
  if (!root.IsMap()) bad(path, "(document)", "must be a YAML map");

  std::string ctx_name = context;
  if (ctx_name.empty()) ctx_name = scalar(root, "current-context", path, "");
  if (ctx_name.empty()) bad(path, "current-context", "missing and no context was given");
  const YAML::Node ctx = named_entry(root, "contexts", "context", ctx_name, path);
  std::string cluster_name = scalar(ctx, "cluster", path, "contexts[" + ctx_name + "].context");
  std::string user_name = scalar(ctx, "user", path, "contexts[" + ctx_name + "].context");
  if (cluster_name.empty()) bad(path, "contexts[" + ctx_name + "].context.cluster", "missing");

  KubeCredentials creds;
  std::string ns = scalar(ctx, "namespace", path, "contexts[" + ctx_name + "].context");
  if (!ns.empty()) creds.default_namespace = ns;

  const YAML::Node cluster = named_entry(root, "clusters", "cluster", cluster_name, path);
  std::string where = "clusters[" + cluster_name + "].cluster";
  creds.server = scalar(cluster, "server", path, where);
  if (creds.server.empty()) bad(path, where + ".server", "missing");
  if (creds.server.rfind("https://", 0) != 0 && creds.server.rfind("http://", 0) != 0)
    bad(path, where + ".server", "\"" + creds.server + "\" is not an http(s) URL");
  if (auto v = scalar(cluster, "certificate-authority-data", path, where); !v.empty())
    creds.ca_data = decode_field(path, where + ".certificate-authority-data", v);
  else if (auto f = scalar(cluster, "certificate-authority", path, where); !f.empty())
    creds.ca_data = read_named_file(path, where + ".certificate-authority", resolve(path, f));
  if (auto v = scalar(cluster, "insecure-skip-tls-verify", path, where); !v.empty()) {
    if (v != "true" && v != "false") bad(path, where + ".insecure-skip-tls-verify", "must be true or false");
    creds.insecure_skip_tls_verify = v == "true";
  }

  if (!user_name.empty()) {
    const YAML::Node user = named_entry(root, "users", "user", user_name, path);
    where = "users[" + user_name + "].user";
    for (const char* unsupported : {"exec", "auth-provider", "username", "password"})
      if (user[unsupported])
        bad(path, where + "." + unsupported,
            "not supported by selfheal's client; use a token, tokenFile or client certificate (e.g. a "
            "service-account token)");
    creds.token = scalar(user, "token", path, where);
    if (auto f = scalar(user, "tokenFile", path, where); !f.empty()) {
      creds.token_file = resolve(path, f);
      std::string probe;
      if (!kube::read_file(creds.token_file, probe)) bad(path, where + ".tokenFile", "cannot read " + creds.token_file);
    }
    if (auto v = scalar(user, "client-certificate-data", path, where); !v.empty())
      creds.client_cert_data = decode_field(path, where + ".client-certificate-data", v);
    else if (auto f = scalar(user, "client-certificate", path, where); !f.empty())
      creds.client_cert_data = read_named_file(path, where + ".client-certificate", resolve(path, f));
    if (auto v = scalar(user, "client-key-data", path, where); !v.empty())
      creds.client_key_data = decode_field(path, where + ".client-key-data", v);
    else if (auto f = scalar(user, "client-key", path, where); !f.empty())
      creds.client_key_data = read_named_file(path, where + ".client-key", resolve(path, f));
    if (creds.client_cert_data.empty() != creds.client_key_data.empty())
      bad(path, where + (creds.client_cert_data.empty() ? ".client-certificate" : ".client-key"),
          "missing (a client certificate needs both the certificate and its key)");
  }
  return creds;
}

KubeCredentials load_in_cluster_credentials(const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port)
    throw std::runtime_error(
        "in-cluster credentials: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set (not running in a pod? "
        "set remediator.in_cluster=false and remediator.kubeconfig instead)");
  KubeCredentials creds;
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6 service address
  creds.server = "https://" + h + ":" + port;
  creds.token_file = (fs::path(sa_dir) / "token").string();
  std::string probe;
  if (!kube::read_file(creds.token_file, probe))
    throw std::runtime_error("in-cluster credentials: cannot read the service-account token " + creds.token_file +
                             " (is automountServiceAccountToken disabled?)");
  std::string ca = (fs::path(sa_dir) / "ca.crt").string();
  if (!kube::read_file(ca, creds.ca_data))
    throw std::runtime_error("in-cluster credentials: cannot read the cluster CA " + ca);
  creds.ca_file = ca;
  std::string ns;
  if (kube::read_file((fs::path(sa_dir) / "namespace").string(), ns)) {
    ns = kube::trim(ns);
    if (!ns.empty()) creds.default_namespace = ns;
  }
  return creds;
}

}  // namespace selfheal
