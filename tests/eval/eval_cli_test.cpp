// `selfheal eval` as a user runs it, on a tiny suite (two short copies of a committed scenario):
// --jobs 2 must give exactly the figures of --jobs 1 (every scenario has its own App and clock),
// --type selects scenarios by fault type, and a bad --filter is refused with the argument named.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>

namespace {

struct CmdResult {
  int status = -1;
  std::string out;
};

CmdResult run(const std::string& args) {
  const char* bin = std::getenv("SELFHEAL_BINARY");
  CmdResult r;
  if (!bin) {
    r.out = "SELFHEAL_BINARY is not set";
    return r;
  }
  std::string cmd = std::string(bin) + " " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// A committed scenario cut to 14 simulated minutes with one fault, so a run takes seconds.
std::string short_scenario(const std::string& fault) {
  std::ifstream in("scenarios/eval/eval-10-cpuspike.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  text = std::regex_replace(text, std::regex("\nduration: [^\n]*"), "\nduration: 14m");
  return text.substr(0, text.find("\nfaults:")) + "\nfaults:\n  - " + fault + "\n";
}

class EvalCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("eval-suite-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "a-cpuspike.yaml") << short_scenario("{type: cpu_spike, target: search, start: 5m, duration: 6m, strength: 1.6}");
    std::ofstream(dir_ / "b-errorburst.yaml") << short_scenario("{type: error_burst, target: payments, start: 5m, duration: 6m, strength: 1.8}");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(EvalCli, JobsGiveTheSameFiguresAsOneThread) {
  CmdResult one = run("eval --json --no-baseline --jobs 1 --suite " + dir_.string());
  CmdResult two = run("eval --json --no-baseline --jobs 2 --suite " + dir_.string());
  ASSERT_EQ(one.status, 0) << one.out;
  ASSERT_EQ(two.status, 0) << two.out;
  auto a = nlohmann::json::parse(one.out), b = nlohmann::json::parse(two.out);
  a.erase("wall_seconds");
  b.erase("wall_seconds");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a["scenarios"], 2);
  EXPECT_EQ(a["overall"]["faults"], 2);
  EXPECT_GT(a["overall"]["recall"].get<double>(), 0.0) << a.dump(2);
}

TEST_F(EvalCli, TypeSelectsScenariosByFaultType) {
  CmdResult r = run("eval --json --no-baseline --type error_burst --suite " + dir_.string());
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["scenarios"], 1);
  EXPECT_TRUE(j["by_type"].contains("error_burst")) << j.dump(2);
  EXPECT_FALSE(j["by_type"].contains("cpu_spike")) << j.dump(2);
}

TEST_F(EvalCli, BadFilterIsRefusedWithTheArgumentNamed) {
  const char* bin = std::getenv("SELFHEAL_BINARY");
  ASSERT_NE(bin, nullptr);
  std::string cmd = std::string(bin) + " eval --filter '(' --suite " + dir_.string() + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int st = pclose(p);
  EXPECT_NE(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
  EXPECT_NE(out.find("--filter"), std::string::npos) << out;
}

}  // namespace
