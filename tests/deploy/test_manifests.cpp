// The Kubernetes manifests, offline: every overlay renders with plain `kubectl kustomize`, every
// rendered object validates against the Kubernetes schemas (npm kubernetes-models, run by node),
// the pieces refer to each other correctly (ConfigMaps, Secrets, Services, PDBs, ServiceMonitor),
// the images match the Dockerfile, and every SELFHEAL_ variable names a real configuration key.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>

#include "deploy_test_util.hpp"

namespace selfheal::deploytest {
namespace {

namespace fs = std::filesystem;

class Manifests : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_program("kubectl")) GTEST_SKIP() << "kubectl is not installed (it renders the Kustomize overlays)";
  }

  // Rendered once per test binary: kubectl kustomize takes ~0.1 s per overlay.
  static const Render& rendered(const std::string& dir) {
    static std::map<std::string, Render> cache;
    auto it = cache.find(dir);
    if (it == cache.end()) it = cache.emplace(dir, kustomize(dir)).first;
    return it->second;
  }
};

std::vector<YAML::Node> selfheal_deployments(const std::vector<YAML::Node>& objects) {
  std::vector<YAML::Node> out;
  for (const auto& d : of_kind(objects, "Deployment"))
    if (str(d["metadata"]["labels"], "app.kubernetes.io/name") == "selfheal") out.push_back(d);
  return out;
}

bool selector_matches(const YAML::Node& selector, const YAML::Node& labels) {
  if (!selector || !selector.IsMap() || selector.size() == 0) return false;
  for (const auto& kv : selector)
    if (str(labels, kv.first.as<std::string>()) != kv.second.as<std::string>()) return false;
  return true;
}

TEST_F(Manifests, EveryOverlayRendersWithPlainKubectlKustomize) {
  for (const auto& dir : overlays()) {
    const Render& r = rendered(dir);
    EXPECT_EQ(r.result.rc, 0) << "kubectl kustomize " << dir << ":\n" << r.result.err;
    EXPECT_GT(r.objects.size(), 5u) << dir;
  }
  const Render& base = rendered("deploy/k8s/base");
  EXPECT_EQ(base.result.rc, 0) << base.result.err;
}

TEST_F(Manifests, RenderedObjectsValidateAgainstTheKubernetesSchemas) {
  if (!fs::exists("tests/deploy/node_modules/kubernetes-models"))
    GTEST_SKIP() << "tests/deploy/node_modules is missing: run scripts/bootstrap.sh (npm install in tests/deploy)";
  if (!have_program("node")) GTEST_SKIP() << "node is not installed";
  fs::path dir = fs::temp_directory_path() / ("selfheal-manifests-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<std::string> argv = {"node", "tests/deploy/validate-manifests.mjs"};
  for (const auto& overlay : overlays()) {
    const Render& r = rendered(overlay);
    ASSERT_EQ(r.result.rc, 0) << r.result.err;
    std::string file = (dir / (std::to_string(argv.size()) + ".yaml")).string();
    std::ofstream(file) << r.result.out;
    argv.push_back(file);
  }
  CommandResult v = run(argv, 120);
  fs::remove_all(dir);
  EXPECT_EQ(v.rc, 0) << v.out << v.err;
  EXPECT_NE(v.out.find(", 0 invalid"), std::string::npos) << v.out << v.err;
}

// The schema check itself must reject a broken object, or a pass above would mean nothing.
TEST_F(Manifests, SchemaValidationRejectsABrokenObject) {
  if (!fs::exists("tests/deploy/node_modules/kubernetes-models"))
    GTEST_SKIP() << "tests/deploy/node_modules is missing: run scripts/bootstrap.sh (npm install in tests/deploy)";
  fs::path file = fs::temp_directory_path() / ("selfheal-broken-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(file) << "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: broken}\n"
                         "spec: {replicas: two, template: {spec: {containers: [{name: c}]}}}\n"
                         "---\napiVersion: example.com/v1\nkind: Unknown\nmetadata: {name: x}\n";
  CommandResult v = run({"node", "tests/deploy/validate-manifests.mjs", file.string()});
  fs::remove(file);
  EXPECT_EQ(v.rc, 1) << v.out << v.err;
  EXPECT_NE(v.out.find("Deployment/broken"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("replicas"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("no schema for example.com/v1 Unknown"), std::string::npos) << v.out;
}

TEST_F(Manifests, ProductionRunsEveryProcessingServiceWithProbesLimitsAndABudget) {
  const Render& r = rendered("deploy/k8s/overlays/production");
  ASSERT_EQ(r.result.rc, 0) << r.result.err;
  std::vector<std::string> services = processing_services();
  ASSERT_GE(services.size(), 7u) << "could not read the services from `selfheal --help`";
  auto deployments = selfheal_deployments(r.objects);
  auto pdbs = of_kind(r.objects, "PodDisruptionBudget");
  for (const auto& service : services) {
    SCOPED_TRACE(service);
    const YAML::Node* found = nullptr;
    for (const auto& d : deployments)
      if (name_of(d) == service) found = &d;
    ASSERT_NE(found, nullptr) << "no Deployment for " << service;
    const YAML::Node& d = *found;
    YAML::Node container = pod_spec_of(d)["containers"][0];
    EXPECT_EQ(container["args"][0].as<std::string>(), service);
    EXPECT_EQ(str(container["readinessProbe"]["httpGet"], "path"), "/readyz");
    EXPECT_EQ(str(container["livenessProbe"]["httpGet"], "path"), "/healthz");
    for (const char* kind : {"requests", "limits"})
      for (const char* resource : {"cpu", "memory"})
        EXPECT_FALSE(str(container["resources"][kind], resource).empty()) << kind << "." << resource;
    int budgets = 0;
    for (const auto& p : pdbs)
      if (namespace_of(p) == namespace_of(d) && selector_matches(p["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"]))
        ++budgets;
    EXPECT_EQ(budgets, 1) << "PodDisruptionBudgets selecting " << service;
  }
  // Nothing of the simulator runs in production.
  for (const auto& d : deployments)
    EXPECT_NE(std::find(services.begin(), services.end(), name_of(d)), services.end()) << id_of(d);

  // Prometheus: a ServiceMonitor selecting the admin Service, whose port it names, and the plain
  // scrape config as a ConfigMap.
  auto monitors = of_kind(r.objects, "ServiceMonitor");
  ASSERT_EQ(monitors.size(), 1u);
  bool selects_admin_service = false;
  for (const auto& s : of_kind(r.objects, "Service"))
    if (selector_matches(monitors[0]["spec"]["selector"]["matchLabels"], s["metadata"]["labels"]))
      for (const auto& port : s["spec"]["ports"])
        selects_admin_service |= str(port, "name") == str(monitors[0]["spec"]["endpoints"][0], "port");
  EXPECT_TRUE(selects_admin_service) << "the ServiceMonitor selects no Service with its endpoint's port";
  bool scrape_config = false;
  for (const auto& cm : of_kind(r.objects, "ConfigMap"))
    for (const auto& kv : cm["data"])
      scrape_config |= kv.second.as<std::string>().find("kubernetes_sd_configs") != std::string::npos;
  EXPECT_TRUE(scrape_config) << "no ConfigMap holds a Prometheus scrape config";
}

TEST_F(Manifests, ProductionTalksToExternalKafkaAndPostgres) {
  const Render& r = rendered("deploy/k8s/overlays/production");
  ASSERT_EQ(r.result.rc, 0) << r.result.err;
  std::string config;
  for (const auto& cm : of_kind(r.objects, "ConfigMap"))
    if (name_of(cm).rfind("selfheal-config", 0) == 0) config = cm["data"]["selfheal.yaml"].as<std::string>();
  ASSERT_FALSE(config.empty()) << "no selfheal-config ConfigMap";
  YAML::Node c = YAML::Load(config);
  EXPECT_EQ(str(c["bus"], "kind"), "kafka");
  EXPECT_FALSE(str(c["kafka"], "bootstrap_servers").empty());
  EXPECT_EQ(str(c["store"], "backend"), "postgres");
  EXPECT_EQ(str(c["clock"], "mode"), "system");
  // The config file uses real keys only (the binary refuses unknown keys at start).
  std::set<std::string> keys = config_keys();
  ASSERT_FALSE(keys.empty()) << "`selfheal config defaults` failed";
  std::function<void(const YAML::Node&, const std::string&)> walk = [&](const YAML::Node& n, const std::string& path) {
    if (n.IsMap() && !keys.count(path))
      for (const auto& kv : n) walk(kv.second, path.empty() ? kv.first.as<std::string>() : path + "." + kv.first.as<std::string>());
    else
      EXPECT_TRUE(keys.count(path)) << "selfheal.yaml of the production overlay: unknown key " << path;
  };
  walk(c, "");
  // The Postgres URL (with its password) comes from a Secret, only into the api.
  for (const auto& d : selfheal_deployments(r.objects)) {
    bool has_url = false;
    for (const auto& e : pod_spec_of(d)["containers"][0]["env"])
      if (str(e, "name") == "SELFHEAL_STORE_POSTGRES_URL") has_url = e["valueFrom"]["secretKeyRef"].IsDefined();
    EXPECT_EQ(has_url, name_of(d) == "api") << id_of(d);
  }
}

TEST_F(Manifests, KindRunsAllInOneWithPrometheusAndProvisionedGrafana) {
  const Render& r = rendered("deploy");
  ASSERT_EQ(r.result.rc, 0) << r.result.err;
  auto deployments = selfheal_deployments(r.objects);
  ASSERT_EQ(deployments.size(), 1u) << "the kind demo runs selfheal in one pod";
  YAML::Node container = pod_spec_of(deployments[0])["containers"][0];
  EXPECT_EQ(container["args"][0].as<std::string>(), "all");
  EXPECT_EQ(str(container["readinessProbe"]["httpGet"], "path"), "/readyz");
  EXPECT_EQ(str(container["livenessProbe"]["httpGet"], "path"), "/healthz");
  std::set<std::string> names;
  for (const auto& d : of_kind(r.objects, "Deployment")) names.insert(name_of(d));
  EXPECT_TRUE(names.count("prometheus"));
  EXPECT_TRUE(names.count("grafana"));
  // The demo's remediator talks to the simulated cluster inside the pod: no API access is granted.
  EXPECT_TRUE(of_kind(r.objects, "Role").empty());
  EXPECT_TRUE(of_kind(r.objects, "RoleBinding").empty());

  // Grafana is provisioned with every dashboard and datasource file of deploy/grafana.
  std::map<std::string, std::set<std::string>> configmap_keys;
  for (const auto& cm : of_kind(r.objects, "ConfigMap"))
    for (const auto& kv : cm["data"]) configmap_keys[name_of(cm)].insert(kv.first.as<std::string>());
  std::set<std::string> provisioned;
  for (const auto& d : of_kind(r.objects, "Deployment")) {
    if (name_of(d) != "grafana") continue;
    for (const auto& v : pod_spec_of(d)["volumes"])
      if (v["configMap"])
        for (const auto& key : configmap_keys[str(v["configMap"], "name")]) provisioned.insert(key);
  }
  ASSERT_TRUE(fs::exists("deploy/grafana")) << "deploy/grafana is missing";
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator("deploy/grafana")) {
    std::string ext = entry.path().extension().string();
    if (!entry.is_regular_file() || (ext != ".json" && ext != ".yaml" && ext != ".yml")) continue;
    ++files;
    EXPECT_TRUE(provisioned.count(entry.path().filename().string()))
        << entry.path() << " is not mounted into Grafana (list it in deploy/kustomization.yaml)";
  }
  EXPECT_GT(files, 0);

  // Every ${VARIABLE} the provisioned datasources use is set on the Grafana container.
  std::set<std::string> grafana_env;
  for (const auto& d : of_kind(r.objects, "Deployment"))
    if (name_of(d) == "grafana")
      for (const auto& e : pod_spec_of(d)["containers"][0]["env"]) grafana_env.insert(str(e, "name"));
  static const std::regex variable(R"(\$\{([A-Z0-9_]+)\})");
  for (const auto& entry : fs::directory_iterator("deploy/grafana/provisioning/datasources")) {
    std::string text = std::regex_replace(read_file(entry.path().string()), std::regex("(^|\n)\\s*#[^\n]*"), "$1");
    for (std::sregex_iterator it(text.begin(), text.end(), variable), end; it != end; ++it)
      EXPECT_TRUE(grafana_env.count((*it)[1].str())) << entry.path() << " uses ${" << (*it)[1] << "}, which Grafana's pod does not set";
  }
}

// ConfigMaps, Secrets and ServiceAccounts that pods name exist in the same render and namespace;
// every Service selects some pod.
TEST_F(Manifests, ReferencesResolveWithinEachRender) {
  for (const auto& dir : overlays()) {
    SCOPED_TRACE(dir);
    const Render& r = rendered(dir);
    ASSERT_EQ(r.result.rc, 0) << r.result.err;
    std::set<std::string> present;
    for (const auto& o : r.objects) present.insert(namespace_of(o) + "/" + id_of(o));
    for (const auto& d : of_kind(r.objects, "Deployment")) {
      std::string ns = namespace_of(d);
      YAML::Node spec = pod_spec_of(d);
      if (spec["serviceAccountName"])
        EXPECT_TRUE(present.count(ns + "/ServiceAccount/" + str(spec, "serviceAccountName"))) << id_of(d);
      for (const auto& v : spec["volumes"]) {
        if (v["configMap"]) EXPECT_TRUE(present.count(ns + "/ConfigMap/" + str(v["configMap"], "name"))) << id_of(d) << " " << v;
        if (v["secret"]) EXPECT_TRUE(present.count(ns + "/Secret/" + str(v["secret"], "secretName"))) << id_of(d);
      }
      for (const auto& c : spec["containers"])
        for (const auto& e : c["env"])
          if (e["valueFrom"] && e["valueFrom"]["secretKeyRef"] && !e["valueFrom"]["secretKeyRef"]["optional"])
            EXPECT_TRUE(present.count(ns + "/Secret/" + str(e["valueFrom"]["secretKeyRef"], "name")))
                << id_of(d) << " " << str(e, "name");
    }
    for (const auto& s : of_kind(r.objects, "Service")) {
      bool selects = false;
      for (const auto& d : of_kind(r.objects, "Deployment"))
        selects |= namespace_of(d) == namespace_of(s) && selector_matches(s["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"]);
      EXPECT_TRUE(selects) << id_of(s) << " selects no pod";
    }
  }
}

TEST_F(Manifests, EveryEnvironmentVariableNamesARealConfigKey) {
  std::set<std::string> env_names = config_env_names();
  ASSERT_FALSE(env_names.empty()) << "`" << selfheal_binary() << " config defaults` failed";
  std::vector<std::string> listed = selfheal_services();
  std::set<std::string> services(listed.begin(), listed.end());
  for (const auto& dir : overlays()) {
    const Render& r = rendered(dir);
    ASSERT_EQ(r.result.rc, 0) << r.result.err;
    for (const auto& d : selfheal_deployments(r.objects)) {
      YAML::Node c = pod_spec_of(d)["containers"][0];
      std::string command = c["args"][0].as<std::string>();
      EXPECT_TRUE(command == "all" || services.count(command)) << id_of(d) << ": `selfheal " << command << "` is no service";
      for (const auto& e : c["env"]) {
        std::string name = str(e, "name");
        if (name.rfind("SELFHEAL_", 0) == 0)
          EXPECT_TRUE(env_names.count(name)) << dir << " " << id_of(d) << ": " << name << " is no configuration key "
                                             << "(the binary would ignore it)";
      }
    }
  }
}

// Each selfheal pod's configuration as it would start: the mounted selfheal.yaml plus the pod's
// environment (values from Secrets stand in as placeholders), through `selfheal config check`.
TEST_F(Manifests, EverySelfhealPodStartsWithAValidConfiguration) {
  fs::path dir = fs::temp_directory_path() / ("selfheal-pod-config-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  int checked = 0;
  for (const auto& overlay : overlays()) {
    const Render& r = rendered(overlay);
    ASSERT_EQ(r.result.rc, 0) << r.result.err;
    std::map<std::string, YAML::Node> configmaps;
    for (const auto& cm : of_kind(r.objects, "ConfigMap")) configmaps[name_of(cm)] = cm;
    for (const auto& d : selfheal_deployments(r.objects)) {
      SCOPED_TRACE(overlay + " " + id_of(d));
      YAML::Node spec = pod_spec_of(d);
      YAML::Node c = spec["containers"][0];
      std::map<std::string, std::string> env;
      for (const auto& e : c["env"])
        env[str(e, "name")] = e["value"] ? e["value"].as<std::string>() : "from-a-secret";
      // --config PATH in the args: the ConfigMap mounted at PATH's folder.
      std::string config_file;
      for (std::size_t i = 0; i + 1 < c["args"].size(); ++i) {
        if (c["args"][i].as<std::string>() != "--config") continue;
        fs::path wanted = c["args"][i + 1].as<std::string>();
        for (const auto& m : c["volumeMounts"])
          if (str(m, "mountPath") == wanted.parent_path().string())
            for (const auto& v : spec["volumes"])
              if (str(v, "name") == str(m, "name") && v["configMap"]) {
                YAML::Node cm = configmaps[str(v["configMap"], "name")];
                ASSERT_TRUE(cm["data"][wanted.filename().string()]) << "the ConfigMap has no " << wanted.filename();
                config_file = (dir / (std::to_string(checked) + ".yaml")).string();
                std::ofstream(config_file) << cm["data"][wanted.filename().string()].as<std::string>();
              }
        ASSERT_FALSE(config_file.empty()) << "--config " << wanted << " is not mounted from a ConfigMap";
      }
      CommandResult check = config_check(env, config_file);
      EXPECT_EQ(check.rc, 0) << check.out << check.err;
      ++checked;
    }
  }
  fs::remove_all(dir);
  EXPECT_GE(checked, 8);
}

TEST_F(Manifests, ImagesMatchTheDockerfileTargetsAndTheProjectVersion) {
  DockerfileFacts docker = dockerfile_facts();
  ASSERT_EQ(docker.final_stage, "selfheal") << "the Dockerfile's runtime stage";
  ASSERT_FALSE(docker.version.empty()) << "Dockerfile: no ARG SELFHEAL_VERSION=...";
  EXPECT_EQ(docker.version, cmake_project_version()) << "Dockerfile's SELFHEAL_VERSION vs CMakeLists.txt";
  for (const auto& dir : overlays()) {
    const Render& r = rendered(dir);
    ASSERT_EQ(r.result.rc, 0) << r.result.err;
    int selfheal_images = 0;
    for (const auto& d : of_kind(r.objects, "Deployment"))
      for (const auto& c : pod_spec_of(d)["containers"]) {
        std::string image = str(c, "image");
        auto colon = image.rfind(':');
        ASSERT_NE(colon, std::string::npos) << id_of(d) << ": image " << image << " has no tag";
        std::string repo = image.substr(0, colon), tag = image.substr(colon + 1);
        EXPECT_NE(tag, "latest") << id_of(d) << ": pin a version, not latest";
        std::string base = repo.substr(repo.rfind('/') == std::string::npos ? 0 : repo.rfind('/') + 1);
        if (base != "selfheal") continue;
        ++selfheal_images;
        EXPECT_NE(std::find(docker.stages.begin(), docker.stages.end(), base), docker.stages.end())
            << image << " names no Dockerfile target";
        EXPECT_EQ(tag, docker.version) << id_of(d) << " in " << dir;
      }
    EXPECT_GT(selfheal_images, 0) << dir;
  }
}

// The runtime stage installs the package of every shared library the binary links directly (their
// own dependencies come with them through apt). There is no Docker engine here, so this is how a
// missing runtime package (say libpq5 once the Postgres store links libpq) is caught before a build.
TEST(Dockerfile, RuntimeStageInstallsEveryLibraryTheBinaryLinks) {
  std::string binary = selfheal_binary();
  ASSERT_TRUE(fs::exists(binary)) << binary;
  CommandResult needed = run({"readelf", "-d", binary});
  CommandResult ldd = run({"ldd", binary});
  ASSERT_EQ(needed.rc, 0) << needed.err;
  ASSERT_EQ(ldd.rc, 0) << ldd.err;
  std::map<std::string, std::string> path_of;  // soname -> resolved path
  static const std::regex resolved(R"(^\s*(\S+) => (/\S+))");
  static const std::regex needed_row(R"(\(NEEDED\)\s+Shared library: \[([^\]]+)\])");
  std::smatch m;
  std::istringstream ldd_lines(ldd.out);
  for (std::string line; std::getline(ldd_lines, line);)
    if (std::regex_search(line, m, resolved)) path_of[m[1]] = m[2];
  std::string dockerfile = read_file("Dockerfile");
  std::string runtime = dockerfile.substr(dockerfile.find("AS selfheal"));
  const std::set<std::string> in_base_image = {"libc6", "libstdc++6", "libgcc-s1"};  // debian:12-slim has them
  std::vector<std::string> sonames;
  std::istringstream needed_lines(needed.out);
  for (std::string line; std::getline(needed_lines, line);)
    if (std::regex_search(line, m, needed_row)) sonames.push_back(m[1]);
  // One dpkg -S for all of them ("package:arch: /path" per line); paths as ldd resolved them and
  // canonical, since Debian 12 packages own /usr/lib/... while ldd may say /lib/...
  std::vector<std::string> query = {"dpkg", "-S"};
  for (const auto& soname : sonames) {
    ASSERT_TRUE(path_of.count(soname)) << soname << " does not resolve:\n" << ldd.out;
    query.push_back(path_of[soname]);
    query.push_back(fs::canonical(path_of[soname]).string());
  }
  CommandResult owners = run(query);
  std::map<std::string, std::string> package_of;  // canonical path -> package
  static const std::regex owner_row(R"(^([^:\s]+)(:[^:\s]+)?: (/\S+)$)");
  std::istringstream owner_lines(owners.out);
  for (std::string line; std::getline(owner_lines, line);)
    if (std::regex_search(line, m, owner_row)) package_of[m[3]] = m[1];
  int libraries = 0;
  for (const auto& soname : sonames) {
    std::string path = package_of.count(path_of[soname]) ? path_of[soname] : fs::canonical(path_of[soname]).string();
    ASSERT_TRUE(package_of.count(path)) << "no Debian package owns " << path << ":\n" << owners.out << owners.err;
    const std::string& package = package_of[path];
    ++libraries;
    if (in_base_image.count(package)) continue;
    // Sanitizer runtimes: the ASan+UBSan test build links them, the image's release build does not.
    if (std::regex_match(package, std::regex("lib(a|ub|t|l|hwa)san[0-9]*"))) continue;
    std::string escaped = std::regex_replace(package, std::regex(R"([.+])"), R"(\$&)");
    EXPECT_TRUE(std::regex_search(runtime, std::regex("[ \\t]" + escaped + "([ \\t\\\\]|$)")))
        << soname << " comes from " << package << ", which the Dockerfile's runtime stage does not install";
  }
  EXPECT_GT(libraries, 5);
}

}  // namespace
}  // namespace selfheal::deploytest
