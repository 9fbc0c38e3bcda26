// Helpers for the deployment tests: run a tool (kubectl, node, docker-compose, selfheal) and
// capture what it prints, render a Kustomize directory into YAML objects, and read the facts the
// manifests must agree with (the selfheal services, their config keys, the Dockerfile's stages).
// Tests run from the repo root, so paths here are relative to it.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace selfheal::deploytest {

struct CommandResult {
  int rc = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs argv (no shell interpretation of the arguments) with a time limit; stdout and stderr are
// captured separately through temp files.
inline CommandResult run(const std::vector<std::string>& argv, int timeout_s = 60) {
  static int serial = 0;
  std::string base = (std::filesystem::temp_directory_path() /
                      ("selfheal-deploy-test-" + std::to_string(::getpid()) + "-" + std::to_string(serial++)))
                         .string();
  std::string cmd = "timeout " + std::to_string(timeout_s);
  for (const auto& a : argv) cmd += " " + shell_quote(a);
  cmd += " >" + shell_quote(base + ".out") + " 2>" + shell_quote(base + ".err") + " </dev/null";
  int status = std::system(cmd.c_str());
  CommandResult r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(base + ".out");
  r.err = read_file(base + ".err");
  std::filesystem::remove(base + ".out");
  std::filesystem::remove(base + ".err");
  return r;
}

inline bool have_program(const std::string& name) {
  return run({"sh", "-c", "command -v " + name}, 10).rc == 0;
}

inline std::string selfheal_binary() {
  const char* b = std::getenv("SELFHEAL_BINARY");
  return b ? b : "build/release/bin/selfheal";
}

// Every object of a multi-document YAML text (empty documents dropped).
inline std::vector<YAML::Node> objects_of(const std::string& yaml_text) {
  std::vector<YAML::Node> out;
  for (const auto& doc : YAML::LoadAll(yaml_text))
    if (doc && doc.IsMap()) out.push_back(doc);
  return out;
}

// `kubectl kustomize DIR`; fails the calling test (via the returned rc) when it does not render.
struct Render {
  CommandResult result;
  std::vector<YAML::Node> objects;
};

inline Render kustomize(const std::string& dir) {
  Render r;
  r.result = run({"kubectl", "kustomize", dir});
  if (r.result.rc == 0) r.objects = objects_of(r.result.out);
  return r;
}

// The overlays an operator applies: the kind demo (a kustomization at deploy/, so that it may read
// deploy/grafana and deploy/prometheus), and production.
inline const std::vector<std::string>& overlays() {
  static const std::vector<std::string> dirs = {"deploy", "deploy/k8s/overlays/production"};
  return dirs;
}

inline std::string str(const YAML::Node& n, const std::string& key) {
  return n && n.IsMap() && n[key] && n[key].IsScalar() ? n[key].as<std::string>() : "";
}

inline std::string name_of(const YAML::Node& obj) { return str(obj["metadata"], "name"); }
inline std::string namespace_of(const YAML::Node& obj) { return str(obj["metadata"], "namespace"); }
inline std::string id_of(const YAML::Node& obj) { return str(obj, "kind") + "/" + name_of(obj); }

inline std::vector<YAML::Node> of_kind(const std::vector<YAML::Node>& objects, const std::string& kind) {
  std::vector<YAML::Node> out;
  for (const auto& o : objects)
    if (str(o, "kind") == kind) out.push_back(o);
  return out;
}

// The pod spec of a workload (Deployment, StatefulSet, ...), or an undefined node.
inline YAML::Node pod_spec_of(const YAML::Node& obj) {
  if (obj["spec"] && obj["spec"]["template"] && obj["spec"]["template"]["spec"]) return obj["spec"]["template"]["spec"];
  return YAML::Node();
}

// Every key `selfheal config defaults` declares, flattened to dotted paths ("api.listen").
inline std::set<std::string> config_keys() {
  static std::set<std::string> keys;
  if (!keys.empty()) return keys;
  CommandResult r = run({selfheal_binary(), "config", "defaults"});
  if (r.rc != 0) return keys;
  std::function<void(const YAML::Node&, const std::string&)> walk = [&](const YAML::Node& n, const std::string& path) {
    if (n.IsMap()) {
      for (const auto& kv : n) walk(kv.second, path.empty() ? kv.first.as<std::string>() : path + "." + kv.first.as<std::string>());
    } else {
      keys.insert(path);
    }
  };
  walk(YAML::Load(r.out), "");
  return keys;
}

// api.web_root -> SELFHEAL_API_WEB_ROOT, as src/core/config.cpp maps keys to the environment.
inline std::string env_name_of(const std::string& key) {
  std::string out = "SELFHEAL_";
  for (char c : key) out += (c == '.' || c == '-') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

inline std::set<std::string> config_env_names() {
  std::set<std::string> out;
  for (const auto& k : config_keys()) out.insert(env_name_of(k));
  return out;
}

// `selfheal config check` with exactly these environment variables (and an optional config file):
// the configuration a container would start with is valid, types and all.
inline CommandResult config_check(const std::map<std::string, std::string>& env, const std::string& config_file = "") {
  std::vector<std::string> argv = {"env", "-i", "PATH=/usr/bin:/bin"};
  for (const auto& [k, v] : env) argv.push_back(k + "=" + v);
  argv.push_back(selfheal_binary());
  argv.push_back("config");
  argv.push_back("check");
  if (!config_file.empty()) {
    argv.push_back("--config");
    argv.push_back(config_file);
  }
  return run(argv);
}

// The services `selfheal` can run as their own process: the "Run one service:" section of its help
// text (the command table), in the order listed.
inline std::vector<std::string> selfheal_services() {
  std::vector<std::string> out;
  CommandResult r = run({selfheal_binary(), "--help"});
  std::istringstream in(r.out + r.err);
  std::string line;
  bool in_section = false;
  static const std::regex row(R"(^\s{2,}([a-z][a-z0-9-]+)\s{2,}\S)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (line.rfind("Run one service:", 0) == 0) in_section = true;
    else if (!line.empty() && line[0] != ' ') in_section = false;
    else if (in_section && std::regex_search(line, m, row)) out.push_back(m[1]);
  }
  return out;
}

// The services that make up the product in production: all of them but the simulator's.
inline std::vector<std::string> processing_services() {
  std::vector<std::string> out;
  for (const auto& s : selfheal_services())
    if (s != "cluster-sim" && s != "log-generator" && s != "metrics-generator") out.push_back(s);
  return out;
}

// The Dockerfile's stages (FROM ... AS name) and its SELFHEAL_VERSION build argument.
struct DockerfileFacts {
  std::vector<std::string> stages;
  std::string final_stage;
  std::string version;
};

inline DockerfileFacts dockerfile_facts(const std::string& path = "Dockerfile") {
  DockerfileFacts f;
  std::istringstream in(read_file(path));
  std::string line;
  static const std::regex from(R"(^FROM\s+\S+\s+AS\s+(\S+)\s*$)", std::regex::icase);
  static const std::regex version(R"(^ARG\s+SELFHEAL_VERSION=(\S+)\s*$)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, from)) f.stages.push_back(m[1]);
    if (std::regex_search(line, m, version) && f.version.empty()) f.version = m[1];
  }
  if (!f.stages.empty()) f.final_stage = f.stages.back();
  return f;
}

// The project's version from the top-level CMakeLists.txt (project(selfheal VERSION x.y.z ...)).
inline std::string cmake_project_version() {
  std::smatch m;
  std::string text = read_file("CMakeLists.txt");
  static const std::regex project(R"(project\(selfheal\s+VERSION\s+([0-9.]+))");
  return std::regex_search(text, m, project) ? std::string(m[1]) : "";
}

}  // namespace selfheal::deploytest
