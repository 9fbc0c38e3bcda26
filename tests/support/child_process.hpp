// Test helper: runs a program as a child process with its stdout and stderr captured to files, so
// integration tests can start real selfheal processes, read their first lines, signal and reap them.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace selfheal::testing {

class ChildProcess {
 public:
  // `log_path`: where stdout+stderr go. With `stdin_pipe`, write_line() feeds the child's stdin.
  ChildProcess(std::vector<std::string> argv, std::string log_path, bool stdin_pipe = false)
      : log_path_(std::move(log_path)) {
    int in[2] = {-1, -1};
    if (stdin_pipe && ::pipe(in) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log_path_.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      if (stdin_pipe) {
        ::dup2(in[0], STDIN_FILENO);
        ::close(in[1]);
      } else {
        int null = ::open("/dev/null", O_RDONLY);
        ::dup2(null, STDIN_FILENO);
      }
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      std::perror("execv");
      ::_exit(127);
    }
    if (stdin_pipe) {
      ::close(in[0]);
      stdin_fd_ = in[1];
    }
  }
  ~ChildProcess() { stop(SIGKILL); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running() {
    if (pid_ <= 0 || exited_) return false;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      exited_ = true;
      status_ = st;
      return false;
    }
    return true;
  }
  void write_line(const std::string& line) {
    std::string l = line + "\n";
    if (stdin_fd_ >= 0) (void)!::write(stdin_fd_, l.data(), l.size());
  }
  // Sends `sig` and waits for the exit; returns the exit status (or -signal).
  int stop(int sig = SIGTERM, std::chrono::milliseconds grace = std::chrono::seconds(20)) {
    if (pid_ <= 0) return -1;
    if (!exited_) {
      ::kill(pid_, sig);
      auto deadline = std::chrono::steady_clock::now() + grace;
      while (running() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the child's exit
      if (running()) {
        ::kill(pid_, SIGKILL);
        int st = 0;
        ::waitpid(pid_, &st, 0);
        exited_ = true;
        status_ = st;
      }
    }
    if (stdin_fd_ >= 0) ::close(stdin_fd_), stdin_fd_ = -1;
    pid_ = -1;
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : -WTERMSIG(status_);
  }
  std::string output() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // Waits until the output contains `needle`; returns the line holding it, or "" on timeout.
  std::string wait_for_output(const std::string& needle, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::string out = output();
      auto pos = out.find(needle);
      if (pos != std::string::npos) {
        auto start = out.rfind('\n', pos);
        auto end = out.find('\n', pos);
        start = start == std::string::npos ? 0 : start + 1;
        if (end != std::string::npos) return out.substr(start, end - start);
      }
      if (!running()) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return "";
  }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

}  // namespace selfheal::testing
