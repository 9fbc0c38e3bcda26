// The machine's real kubectl (v1.32) against the simulated API server, with the kubeconfig the
// server writes: every command must work as against a real cluster, and the FakeCluster must see
// the change. kubectl runs as a child process with a timeout and only ever talks to 127.0.0.1.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "k8s_test_env.hpp"

namespace selfheal::test {
namespace {

constexpr const char* kKubectl = "/usr/bin/kubectl";

struct ProcessResult {
  int exit_code = -1;  // -1: killed by the timeout
  std::string out, err;
};

// Runs argv with stdout/stderr captured; kills it after `timeout`.
ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    close(out_pipe[0]);
    close(err_pipe[0]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  ProcessResult run;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  bool killed = false;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
    if (poll(fds, 2, static_cast<int>(left.count())) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? run.out : run.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  int status = 0;
  waitpid(pid, &status, 0);
  run.exit_code = killed ? -1 : (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return run;
}

class KubectlTest : public K8sApiTest {
 protected:
  void SetUp() override {
    if (access(kKubectl, X_OK) != 0) GTEST_SKIP() << kKubectl << " is not installed";
    K8sApiTest::SetUp();
    ASSERT_EQ(server_->url().rfind("https://127.0.0.1:", 0), 0u);  // never anything but loopback
  }
  ProcessResult kubectl(std::vector<std::string> args, const std::string& kubeconfig = "") {
    std::vector<std::string> argv{kKubectl, "--kubeconfig", kubeconfig.empty() ? kubeconfig_ : kubeconfig,
                                  "--cache-dir", dir_ + "/kubectl-cache", "--request-timeout=10s"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, std::chrono::seconds(30));
  }
  std::string first_pod(const std::string& app) {
    for (const auto& p : cluster_.pods("shop"))
      if (p.deployment == app) return p.name;
    return "";
  }
};

TEST_F(KubectlTest, GetPodsPrintsTheServerSideTable) {
  ProcessResult r = kubectl({"get", "pods", "-n", "shop"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("NAME"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("READY"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("RESTARTS"), std::string::npos) << r.out;
  for (const auto& p : cluster_.pods("shop")) EXPECT_NE(r.out.find(p.name), std::string::npos) << p.name;
  EXPECT_NE(r.out.find("Running"), std::string::npos);
  r = kubectl({"get", "pods", "-l", "app=orders", "-o", "name"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
}

TEST_F(KubectlTest, GetDeployments) {
  ProcessResult r = kubectl({"get", "deployments"});  // namespace shop from the kubeconfig's context
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("UP-TO-DATE"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("frontend"), std::string::npos);
  EXPECT_NE(r.out.find("2/2"), std::string::npos);
}

TEST_F(KubectlTest, ScaleChangesTheReplicaCount) {
  ProcessResult r = kubectl({"scale", "deployment", "orders", "--replicas=3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("scaled"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("discovery"), std::string::npos) << r.err;  // no discovery complaints
  EXPECT_EQ(cluster_.pod_count("shop", "orders"), 3);
  ASSERT_FALSE(cluster_.log().empty());
  EXPECT_EQ(cluster_.log().back(), "scale shop/orders 3");
}

TEST_F(KubectlTest, RolloutRestartReplacesThePods) {
  std::string before = first_pod("frontend");
  ProcessResult r = kubectl({"rollout", "restart", "deployment", "frontend"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("restarted"), std::string::npos) << r.out;
  ASSERT_FALSE(cluster_.log().empty());
  EXPECT_EQ(cluster_.log().back().rfind("restart shop/frontend at ", 0), 0u) << cluster_.log().back();
  EXPECT_NE(first_pod("frontend"), before);
  EXPECT_FALSE(cluster_.deployments("shop")[0].restarted_at.empty());
}

TEST_F(KubectlTest, DeletePodGetsItReplaced) {
  std::string pod = first_pod("payments");
  ProcessResult r = kubectl({"delete", "pod", pod});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("deleted"), std::string::npos) << r.out;
  ASSERT_FALSE(cluster_.log().empty());
  EXPECT_EQ(cluster_.log().back(), "delete_pod shop/" + pod);
  EXPECT_EQ(cluster_.pod_count("shop", "payments"), 1);
  EXPECT_NE(first_pod("payments"), pod);
}

TEST_F(KubectlTest, BadTokenIsUnauthorized) {
  std::string text = read_text(kubeconfig_);
  auto at = text.find("token: ");
  ASSERT_NE(at, std::string::npos);
  text.replace(at + 7, server_->token().size(), std::string(server_->token().size(), 'f'));
  std::string bad = dir_ + "/bad.kubeconfig";
  write_text(bad, text);
  ProcessResult r = kubectl({"get", "pods"}, bad);
  EXPECT_NE(r.exit_code, 0);
  // kubectl 1.32 words a 401 Status this way (as against a real API server).
  EXPECT_NE(r.err.find("You must be logged in to the server"), std::string::npos) << r.err;
  EXPECT_NE(metrics_.render().find("code=\"401\""), std::string::npos);
  EXPECT_TRUE(cluster_.log().empty());
}

}  // namespace
}  // namespace selfheal::test
