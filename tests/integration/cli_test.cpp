// The selfheal binary as a user runs it: help, refused configuration, and `all --once` on the demo.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace {

struct CmdResult {
  int status = -1;
  std::string output;  // stdout and stderr
};

CmdResult run(const std::string& args) {
  const char* bin = std::getenv("SELFHEAL_BINARY");
  CmdResult r;
  if (!bin) {
    r.output = "SELFHEAL_BINARY is not set";
    return r;
  }
  std::string cmd = std::string(bin) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TEST(Cli, HelpListsEveryServiceOnOneLine) {
  CmdResult r = run("--help");
  EXPECT_EQ(r.status, 0) << r.output;
  for (const char* s : {"log-generator", "metrics-generator", "log-processor", "metrics-processor",
                        "anomaly-detector", "incident-classifier", "rule-engine", "remediator", "api",
                        "cluster-sim"})
    EXPECT_NE(r.output.find(std::string("\n  ") + s + " "), std::string::npos) << s << "\n" << r.output;
}

TEST(Cli, UnknownConfigKeyIsRefusedWithItsPath) {
  std::string path = ::testing::TempDir() + "/bad.yaml";
  std::ofstream(path) << "api:\n  listen: 127.0.0.1:0\n  lissten: 127.0.0.1:1\n";
  CmdResult r = run("all --once --config " + path);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("unknown key 'api.lissten'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bad.yaml line 3"), std::string::npos) << r.output;
}

TEST(Cli, WrongTypeIsRefusedWithItsPath) {
  CmdResult r = run("all --once --set bus.partitions=many");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("key 'bus.partitions': expected an integer"), std::string::npos) << r.output;
}

TEST(Cli, UnknownCommandSaysWhatToDo) {
  CmdResult r = run("frobnicate");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("selfheal --help"), std::string::npos) << r.output;
}

}  // namespace
