// Test helper: a throwaway PostgreSQL 15 server for integration tests (header-only, RAII).
//
//   #include "support/postgres_server.hpp"
//   TEST(MyPg, Works) {
//     selfheal::testing::PostgresServer pg;        // initdb + start on a free 127.0.0.1 port
//     SELFHEAL_REQUIRE_POSTGRES(pg);                // fails (or skips, see below) with the reason
//     ASSERT_TRUE(pg.create_database("t1"));        // optional: one database per test
//     connect with pg.conninfo("t1") / pg.url("t1")  (user postgres, trust auth, no password)
//     pg.psql("select count(*) from incidents", "t1") -> {rc, output} for quick checks
//     pg.stop(); ... pg.start();                    // restart on the SAME port, data kept
//   }                                               // destructor: stop + delete the temp dir
//
// Recipe from ../shared/brief/FACTS.md: initdb refuses root, so as root the data directory is made
// in a temp dir owned by `postgres` and initdb/pg_ctl run through `runuser -u postgres`; as any other
// user they run directly. The server listens on 127.0.0.1 only, its unix socket is in the temp dir
// (never /var/run/postgresql), fsync is off. Data lives in /dev/shm when it has room (see tmp_base()).
// The first server of a machine runs initdb into a cached template
// (<base>/selfheal-pg15-template-<uid>, published by an atomic rename) and every server copies it,
// because initdb costs 1-2 s and each ctest case is its own process.
// A watchdog process stops the server and deletes the temp dir even if the test process is killed
// (timeout, SIGKILL, crash), so no orphaned postgres outlives a failed run.
// If /usr/lib/postgresql/15/bin is missing the error says to run scripts/bootstrap.sh; the test
// FAILS then (CI installs Postgres, so a missing server is a real problem) unless the environment
// sets SELFHEAL_ALLOW_MISSING_POSTGRES=1, which turns it into a skip.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "free_port.hpp"

namespace selfheal::testing {

class PostgresServer {
 public:
  static constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";

  // Empty when the PostgreSQL 15 binaries are installed, else what is missing and how to fix it.
  static std::string missing_reason() {
    for (const char* tool : {"initdb", "pg_ctl", "postgres", "psql"}) {
      std::string path = std::string(kBinDir) + "/" + tool;
      if (::access(path.c_str(), X_OK) != 0)
        return path + " is missing: PostgreSQL 15 is not installed; run scripts/bootstrap.sh";
    }
    if (::geteuid() == 0 && ::getpwnam("postgres") == nullptr)
      return "running as root but there is no `postgres` user to run initdb as; run scripts/bootstrap.sh";
    return "";
  }

  // Makes the data directory and starts the server. Check ok() (or SELFHEAL_REQUIRE_POSTGRES).
  PostgresServer() {
    error_ = missing_reason();
    if (!error_.empty()) {
      missing_ = true;
      return;
    }
    if (!make_dirs()) return;
    start_watchdog();
    if (!init_data_dir()) return;
    // A free port can be taken between probing and binding: try a few.
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_loopback_port();
      if (port_ > 0 && start()) return;
    }
  }
  ~PostgresServer() {
    if (running_) run_as_owner({bin("pg_ctl"), "-D", data_dir(), "-m", "immediate", "-w", "-t", "30", "stop"});
    if (!root_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(root_, ec);
    }
    if (watchdog_fd_ >= 0) {
      ::close(watchdog_fd_);  // the watchdog wakes, finds nothing left to do and exits
      int status = 0;
      ::waitpid(watchdog_pid_, &status, 0);
    }
  }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  bool ok() const { return error_.empty() && running_; }
  bool missing() const { return missing_; }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  std::string data_dir() const { return root_ + "/data"; }
  std::string socket_dir() const { return root_ + "/sock"; }
  std::string log_path() const { return root_ + "/postgres.log"; }
  bool running() const { return running_; }

  // libpq keyword/value conninfo and the same as a postgresql:// URL.
  std::string conninfo(const std::string& dbname = "postgres") const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + dbname +
           " connect_timeout=5";
  }
  std::string url(const std::string& dbname = "postgres") const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + dbname;
  }

  // Starts (or restarts after stop()) the server on the same port with the same data.
  bool start() {
    if (running_) return true;
    std::string options = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " + socket_dir() +
                          " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100";
    auto [rc, out] = run_as_owner({bin("pg_ctl"), "-D", data_dir(), "-l", log_path(), "-w", "-t", "60", "-o",
                                   options, "start"});
    if (rc != 0) {
      error_ = "pg_ctl start failed (rc " + std::to_string(rc) + "): " + out + "\nserver log:\n" + tail(log_path());
      return false;
    }
    running_ = true;
    error_.clear();
    return true;
  }
  // Fast shutdown (clients are disconnected; data kept). Returns false if pg_ctl failed.
  bool stop() {
    if (!running_) return true;
    auto [rc, out] = run_as_owner({bin("pg_ctl"), "-D", data_dir(), "-m", "fast", "-w", "-t", "60", "stop"});
    if (rc != 0) {
      error_ = "pg_ctl stop failed: " + out;
      return false;
    }
    running_ = false;
    return true;
  }

  // Runs SQL through psql (unaligned, tuples only, stop on the first error). Returns {rc, output}.
  std::pair<int, std::string> psql(const std::string& sql, const std::string& dbname = "postgres") const {
    return run({bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                std::to_string(port_), "-U", "postgres", "-d", dbname, "-c", sql});
  }
  // psql output with the trailing newline removed: handy for `select count(*) ...`.
  std::string query_value(const std::string& sql, const std::string& dbname = "postgres") const {
    auto [rc, out] = psql(sql, dbname);
    if (rc != 0) return "ERROR: " + out;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }
  bool create_database(const std::string& dbname) const {
    return psql("CREATE DATABASE \"" + dbname + "\"").first == 0;
  }

 private:
  static std::string bin(const char* tool) { return std::string(kBinDir) + "/" + tool; }
  static bool as_root() { return ::geteuid() == 0; }
  // Where data directories go: SELFHEAL_PG_TMPDIR if set; else /dev/shm when it is a writable
  // tmpfs with room (a server's files are ~40 MB; on a busy disk copying and CREATE DATABASE take
  // seconds, in memory a tenth of that); else TMPDIR or /tmp.
  static std::string tmp_base() {
    if (const char* t = std::getenv("SELFHEAL_PG_TMPDIR"); t != nullptr && *t != '\0') return t;
    struct statvfs fs {};
    if (::access("/dev/shm", W_OK | X_OK) == 0 && ::statvfs("/dev/shm", &fs) == 0 &&
        static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize) > 1024.0 * 1024 * 1024)
      return "/dev/shm";
    const char* t = std::getenv("TMPDIR");
    return (t != nullptr && *t != '\0') ? t : "/tmp";
  }

  bool make_dirs() {
    std::string pattern = tmp_base() + "/selfheal-pg-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      error_ = "mkdtemp " + pattern + " failed";
      return false;
    }
    root_ = buf.data();
    ::chmod(root_.c_str(), 0700);
    ::mkdir(socket_dir().c_str(), 0700);
    if (as_root()) {
      struct passwd* pw = ::getpwnam("postgres");
      if (::chown(root_.c_str(), pw->pw_uid, pw->pw_gid) != 0 ||
          ::chown(socket_dir().c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        error_ = "cannot chown " + root_ + " to postgres";
        return false;
      }
    }
    return true;
  }

  // A test killed by a signal or a timeout runs no destructor. So a detached shell waits on a pipe
  // whose only writer is this process: when the process dies, for whatever reason, the pipe closes
  // and the shell stops the server and deletes the temp dir. (The write end is close-on-exec, so
  // programs the test starts do not keep it open.)
  void start_watchdog() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    std::string stop = "'" + bin("pg_ctl") + "' -D '" + data_dir() + "' -m immediate -w -t 30 stop";
    if (as_root()) stop = "/sbin/runuser -u postgres -- " + stop;
    const std::string script = "read _unused; if [ -f '" + data_dir() + "/postmaster.pid' ]; then " + stop +
                               "; fi; rm -rf '" + root_ + "'";
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setsid();  // a Ctrl-C to the test's process group must not kill the watchdog first
      ::dup2(fds[0], STDIN_FILENO);
      int null = ::open("/dev/null", O_WRONLY);
      if (null >= 0) ::dup2(null, STDOUT_FILENO), ::dup2(null, STDERR_FILENO);
      ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[0]);
    if (pid < 0) {
      ::close(fds[1]);
      return;
    }
    watchdog_fd_ = fds[1];
    watchdog_pid_ = pid;
  }

  // Copies the cached initdb template into data_dir(), making the template first if needed.
  bool init_data_dir() {
    std::string tmpl = tmp_base() + "/selfheal-pg15-template-" + std::to_string(::geteuid());
    if (::access((tmpl + "/data/PG_VERSION").c_str(), R_OK) != 0) {
      // Build it beside the final name and publish with rename(): concurrent tests never see half a
      // template; the loser of a race just deletes its copy.
      std::string building = root_ + "/template";
      ::mkdir(building.c_str(), 0700);
      chown_to_postgres(building);
      auto [rc, out] = run_as_owner({bin("initdb"), "-D", building + "/data", "-U", "postgres", "--auth=trust",
                                     "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"});
      if (rc != 0) {
        error_ = "initdb failed (rc " + std::to_string(rc) + "): " + out;
        return false;
      }
      if (::rename(building.c_str(), tmpl.c_str()) != 0) {
        std::error_code ec;
        std::filesystem::remove_all(building, ec);
      }
    }
    auto [rc, out] = run({"/bin/cp", "-a", tmpl + "/data", data_dir()});
    if (rc != 0) {
      error_ = "copying the initdb template " + tmpl + " failed: " + out;
      return false;
    }
    return true;
  }

  void chown_to_postgres(const std::string& path) const {
    if (!as_root()) return;
    struct passwd* pw = ::getpwnam("postgres");
    if (pw != nullptr) (void)!::chown(path.c_str(), pw->pw_uid, pw->pw_gid);
  }

  std::pair<int, std::string> run_as_owner(std::vector<std::string> argv) const {
    if (as_root()) argv.insert(argv.begin(), {"/sbin/runuser", "-u", "postgres", "--"});
    return run(argv);
  }

  // fork/exec with stdout+stderr captured (no shell: paths and SQL are passed as they are).
  std::pair<int, std::string> run(const std::vector<std::string>& argv) const {
    // Unique per call: tests may run psql from several threads at once.
    static std::atomic<unsigned> calls{0};
    std::string out_path = (root_.empty() ? tmp_base() : root_) + "/cmd-" + std::to_string(::getpid()) + "-" +
                           std::to_string(calls++) + ".out";
    pid_t pid = ::fork();
    if (pid < 0) return {-1, "fork failed"};
    if (pid == 0) {
      int fd = ::open(out_path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
      int null = ::open("/dev/null", O_RDONLY);
      if (fd >= 0) ::dup2(fd, STDOUT_FILENO), ::dup2(fd, STDERR_FILENO);
      if (null >= 0) ::dup2(null, STDIN_FILENO);
      // Run from a directory postgres can read: runuser keeps the cwd and initdb complains otherwise.
      if (::chdir(root_.empty() ? "/" : root_.c_str()) != 0) (void)!::chdir("/");
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      std::perror("execv");
      ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
    }
    std::string out = slurp(out_path);
    ::unlink(out_path.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
  }

  static std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static std::string tail(const std::string& path, std::size_t max_chars = 2000) {
    std::string s = slurp(path);
    return s.size() > max_chars ? s.substr(s.size() - max_chars) : s;
  }

  std::string root_;
  std::string error_;
  int port_ = -1;
  bool running_ = false;
  bool missing_ = false;
  int watchdog_fd_ = -1;
  pid_t watchdog_pid_ = -1;
};

}  // namespace selfheal::testing

// In a GoogleTest body: stop the test with the harness's reason if the server did not come up.
#define SELFHEAL_REQUIRE_POSTGRES(server)                                                      \
  do {                                                                                         \
    if (!(server).ok()) {                                                                      \
      const char* allow_missing = std::getenv("SELFHEAL_ALLOW_MISSING_POSTGRES");              \
      if ((server).missing() && allow_missing != nullptr && std::string(allow_missing) == "1") \
        GTEST_SKIP() << (server).error();                                                      \
      FAIL() << "PostgreSQL test server: " << (server).error();                                \
    }                                                                                          \
  } while (0)
