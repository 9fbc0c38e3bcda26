// deploy/compose/docker-compose.yml, checked without an engine: `docker-compose config` accepts it
// (it fails on bad keys), every selfheal service runs as its own container built from the
// Dockerfile's runtime target, Kafka runs in KRaft mode, Prometheus scrapes every selfheal
// container, Grafana is provisioned from deploy/grafana, and every SELFHEAL_ variable is a real key.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>

#include "deploy_test_util.hpp"

namespace selfheal::deploytest {
namespace {

namespace fs = std::filesystem;

constexpr const char* kComposeFile = "deploy/compose/docker-compose.yml";

class Compose : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_program("docker-compose"))
      GTEST_SKIP() << "docker-compose is not installed (scripts/bootstrap.sh installs it)";
    if (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) == "ConfigRejectsABrokenFile")
      return;  // needs no resolved file; docker-compose takes a second or two to start
    static CommandResult config = run({"docker-compose", "-f", kComposeFile, "config"});
    ASSERT_EQ(config.rc, 0) << "docker-compose config:\n" << config.err;
    resolved_ = YAML::Load(config.out);
  }

  YAML::Node service(const std::string& name) { return resolved_["services"][name]; }

  YAML::Node resolved_;  // the file as `docker-compose config` resolves it
};

TEST_F(Compose, ConfigAcceptsTheFileAndEverySelfhealServiceIsItsOwnContainer) {
  std::vector<std::string> services = selfheal_services();
  ASSERT_GE(services.size(), 10u) << "could not read the services from `selfheal --help`";
  DockerfileFacts docker = dockerfile_facts();
  fs::path repo_root = fs::current_path();
  for (const auto& name : services) {
    SCOPED_TRACE(name);
    YAML::Node s = service(name);
    ASSERT_TRUE(s.IsDefined()) << "no compose service " << name;
    ASSERT_TRUE(s["command"].IsSequence());
    EXPECT_EQ(s["command"][0].as<std::string>(), name);
    EXPECT_EQ(str(s["build"], "target"), docker.final_stage);
    EXPECT_EQ(fs::weakly_canonical(str(s["build"], "context")), repo_root);
    EXPECT_EQ(str(s["build"], "dockerfile"), "Dockerfile");
    EXPECT_EQ(str(s, "image"), "selfheal:" + docker.version);
    EXPECT_EQ(str(s["environment"], "SELFHEAL_BUS_KIND"), "kafka");
    EXPECT_EQ(str(s["environment"], "SELFHEAL_KAFKA_BOOTSTRAP_SERVERS"), "kafka:9092");
  }
}

// A misspelt key must make `docker-compose config` fail, or the pass above would mean nothing.
TEST_F(Compose, ConfigRejectsABrokenFile) {
  fs::path broken = fs::temp_directory_path() / ("selfheal-compose-" + std::to_string(::getpid()) + ".yml");
  std::ofstream(broken) << "services:\n  api:\n    image: selfheal:0.1.0\n    comand: [api]\n";
  CommandResult r = run({"docker-compose", "-f", broken.string(), "config"});
  fs::remove(broken);
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("comand"), std::string::npos) << r.err;
}

TEST_F(Compose, KafkaRunsInKraftModeWithPostgresPrometheusAndGrafana) {
  YAML::Node kafka = service("kafka");
  ASSERT_TRUE(kafka.IsDefined());
  EXPECT_NE(str(kafka["environment"], "KAFKA_PROCESS_ROLES").find("controller"), std::string::npos)
      << "Kafka must run in KRaft mode (process.roles includes controller)";
  EXPECT_FALSE(str(kafka["environment"], "KAFKA_CONTROLLER_QUORUM_VOTERS").empty());
  EXPECT_FALSE(service("zookeeper").IsDefined()) << "KRaft mode needs no ZooKeeper";
  for (const char* s : {"postgres", "prometheus", "grafana"}) EXPECT_TRUE(service(s).IsDefined()) << s;
  // Third-party images are pinned.
  for (const auto& kv : resolved_["services"]) {
    std::string image = str(kv.second, "image");
    EXPECT_NE(image.find(':'), std::string::npos) << kv.first << ": " << image;
    EXPECT_EQ(image.find(":latest"), std::string::npos) << kv.first << ": " << image;
  }
  // The api keeps its store in the compose Postgres.
  EXPECT_EQ(str(service("api")["environment"], "SELFHEAL_STORE_BACKEND"), "postgres");
  EXPECT_NE(str(service("api")["environment"], "SELFHEAL_STORE_POSTGRES_URL").find("@postgres:5432/"), std::string::npos);
}

TEST_F(Compose, PrometheusScrapesEverySelfhealContainer) {
  // The config file Prometheus mounts, and the admin address of each selfheal container.
  // Lay the files out as the container sees them (its bind mounts under /etc/prometheus), so that
  // promtool also finds the rule files the config names.
  fs::path etc = fs::temp_directory_path() / ("selfheal-compose-prometheus-" + std::to_string(::getpid()));
  fs::create_directories(etc);
  std::string config_file;
  for (const auto& v : service("prometheus")["volumes"]) {
    std::string spec = v.IsScalar() ? v.as<std::string>() : str(v, "source") + ":" + str(v, "target");
    std::string source = spec.substr(0, spec.find(':'));
    std::string target = spec.substr(spec.find(':') + 1);
    target = target.substr(0, target.find(':'));
    if (target.rfind("/etc/prometheus/", 0) != 0) continue;
    ASSERT_TRUE(fs::exists(source)) << "prometheus mounts " << source << ", which does not exist";
    fs::copy(source, etc / target.substr(16), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    if (target == "/etc/prometheus/prometheus.yml") config_file = source;
  }
  ASSERT_FALSE(config_file.empty()) << "prometheus mounts no /etc/prometheus/prometheus.yml";
  if (have_program("promtool")) {
    CommandResult check = run({"promtool", "check", "config", (etc / "prometheus.yml").string()});
    EXPECT_EQ(check.rc, 0) << check.out << check.err;
  }
  fs::remove_all(etc);
  std::set<std::string> targets;
  for (const auto& job : YAML::LoadFile(config_file)["scrape_configs"])
    for (const auto& sc : job["static_configs"])
      for (const auto& t : sc["targets"]) targets.insert(t.as<std::string>());
  for (const auto& name : selfheal_services()) {
    YAML::Node s = service(name);
    std::string listen = str(s["environment"], "SELFHEAL_ADMIN_LISTEN");
    std::string port = listen.substr(listen.rfind(':') + 1);
    // A container sharing another's network (network_mode: service:X) is reached at X's name.
    std::string mode = str(s, "network_mode");
    std::string host = mode.rfind("service:", 0) == 0 ? mode.substr(8) : name;
    EXPECT_TRUE(targets.count(host + ":" + port)) << name << " (admin " << listen << ") is not scraped at " << host << ":"
                                                  << port;
  }
}

TEST_F(Compose, GrafanaIsProvisionedFromDeployGrafana) {
  std::set<std::string> mounted;
  for (const auto& v : service("grafana")["volumes"]) {
    std::string spec = v.IsScalar() ? v.as<std::string>() : str(v, "source") + ":" + str(v, "target");
    mounted.insert(fs::weakly_canonical(spec.substr(0, spec.find(':'))).string());
  }
  EXPECT_TRUE(mounted.count(fs::weakly_canonical("deploy/grafana/provisioning").string()))
      << ::testing::PrintToString(mounted);
  EXPECT_TRUE(mounted.count(fs::weakly_canonical("deploy/grafana/dashboards").string()))
      << ::testing::PrintToString(mounted);
  // Every ${VARIABLE} the provisioned datasources use is set on the Grafana container.
  static const std::regex variable(R"(\$\{([A-Z0-9_]+)\})");
  for (const auto& entry : fs::directory_iterator("deploy/grafana/provisioning/datasources")) {
    std::string text = std::regex_replace(read_file(entry.path().string()), std::regex("(^|\n)\\s*#[^\n]*"), "$1");
    for (std::sregex_iterator it(text.begin(), text.end(), variable), end; it != end; ++it)
      EXPECT_TRUE(service("grafana")["environment"][(*it)[1].str()].IsDefined())
          << entry.path() << " uses ${" << (*it)[1] << "}, which the grafana service does not set";
  }
}

TEST_F(Compose, EveryEnvironmentVariableNamesARealConfigKey) {
  std::set<std::string> env_names = config_env_names();
  ASSERT_FALSE(env_names.empty()) << "`" << selfheal_binary() << " config defaults` failed";
  int checked = 0;
  for (const auto& kv : resolved_["services"]) {
    // Only selfheal's own containers: Grafana's datasources use SELFHEAL_-prefixed variables too.
    if (str(kv.second, "image").rfind("selfheal:", 0) != 0) continue;
    for (const auto& e : kv.second["environment"]) {
      std::string name = e.first.as<std::string>();
      if (name.rfind("SELFHEAL_", 0) != 0) continue;
      ++checked;
      EXPECT_TRUE(env_names.count(name)) << kv.first << ": " << name << " is no configuration key (the binary would ignore it)";
    }
  }
  EXPECT_GT(checked, 10);
}

// Each selfheal container's configuration as it would start passes `selfheal config check`: its
// command names no --config, so the embedded defaults plus the container's environment.
TEST_F(Compose, EverySelfhealContainerStartsWithAValidConfiguration) {
  int checked = 0;
  for (const auto& kv : resolved_["services"]) {
    if (str(kv.second, "image").rfind("selfheal:", 0) != 0) continue;
    std::map<std::string, std::string> env;
    for (const auto& e : kv.second["environment"]) env[e.first.as<std::string>()] = e.second.as<std::string>();
    for (const auto& arg : kv.second["command"]) ASSERT_NE(arg.as<std::string>(), "--config") << kv.first;
    CommandResult check = config_check(env);
    EXPECT_EQ(check.rc, 0) << kv.first << ": " << check.out << check.err;
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

}  // namespace
}  // namespace selfheal::deploytest
