// `selfheal chaos`: injects a fault into a running cluster-sim through POST /chaos/faults, found via
// the kubeconfig cluster-sim wrote (HTTPS + bearer token) or an explicit --url (e.g. the admin port).
#include <httplib.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <map>
#include <string>

#include "sim/chaos.hpp"
#include "core/clock.hpp"

namespace selfheal::sim {
namespace {

constexpr const char* kUsage =
    "usage: selfheal chaos inject <fault> --service NAME [--duration 10m] [--strength 1]\n"
    "                             [--dependency NAME] [--kubeconfig PATH | --url URL]\n"
    "faults: memory_leak cpu_spike db_latency error_burst crash_loop traffic_surge stuck_state dependency_outage\n"
    "Default target: the kubeconfig ./data/kubeconfig that cluster-sim writes.\n";

int fail(const std::string& msg) {
  std::fprintf(stderr, "selfheal chaos: %s\n", msg.c_str());
  return 2;
}

// The server and token of the kubeconfig's current context (or its first cluster and user).
bool read_kubeconfig(const std::string& path, std::string& server, std::string& token, std::string& error) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const std::exception& e) {
    error = "cannot read kubeconfig '" + path + "': " + e.what();
    return false;
  }
  std::string cluster_name, user_name;
  const std::string current = root["current-context"] ? root["current-context"].as<std::string>("") : "";
  for (const auto& c : root["contexts"])
    if (c["name"].as<std::string>("") == current || cluster_name.empty()) {
      cluster_name = c["context"]["cluster"].as<std::string>("");
      user_name = c["context"]["user"].as<std::string>("");
    }
  for (const auto& c : root["clusters"])
    if (server.empty() || c["name"].as<std::string>("") == cluster_name) server = c["cluster"]["server"].as<std::string>("");
  for (const auto& u : root["users"])
    if (token.empty() || u["name"].as<std::string>("") == user_name) token = u["user"]["token"].as<std::string>("");
  if (server.empty()) {
    error = "kubeconfig '" + path + "' names no cluster server";
    return false;
  }
  return true;
}

}  // namespace

int chaos_main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] != "inject") return fail("unknown action '" + args[0] + "'; use inject\n" + kUsage);
  if (args.size() < 2 || args[1].rfind("--", 0) == 0) return fail("inject needs a fault type\n" + std::string(kUsage));
  FaultSpec f;
  f.type = args[1];
  f.duration_ms = 10 * 60 * 1000;
  std::string kubeconfig = "./data/kubeconfig", url;
  std::map<std::string, std::string*> options = {{"--service", &f.target}, {"--kubeconfig", &kubeconfig}, {"--url", &url},
                                                 {"--dependency", &f.dependency}};
  for (std::size_t i = 2; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (i + 1 >= args.size()) return fail(a + " needs a value");
    const std::string& v = args[++i];
    if (auto it = options.find(a); it != options.end()) {
      *it->second = v;
    } else if (a == "--duration") {
      if (!parse_duration_ms(v, f.duration_ms) || f.duration_ms <= 0) return fail("--duration: expected e.g. 90s or 10m, got '" + v + "'");
    } else if (a == "--strength") {
      try {
        f.strength = std::stod(v);
      } catch (...) {
        return fail("--strength: expected a number, got '" + v + "'");
      }
    } else {
      return fail("unknown option '" + a + "'\n" + kUsage);
    }
  }
  if (f.target.empty()) return fail("--service is required");
  FaultSpec check;
  if (std::string err = parse_chaos_request(chaos_request_json(f), check); !err.empty()) return fail(err);

  std::string token, error;
  if (url.empty() && !read_kubeconfig(kubeconfig, url, token, error)) return fail(error);
  httplib::Client client(url);
  client.enable_server_certificate_verification(false);  // cluster-sim's certificate is self-signed
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  auto res = client.Post("/chaos/faults", headers, chaos_request_json(f), "application/json");
  if (!res) return fail("cannot reach cluster-sim at " + url + ": " + httplib::to_string(res.error()));
  if (res->status != 201) return fail("cluster-sim refused (" + std::to_string(res->status) + "): " + res->body);
  std::printf("%s\n", res->body.c_str());
  return 0;
}

}  // namespace selfheal::sim
