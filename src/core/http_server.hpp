// The admin HTTP endpoint every service process has: /healthz, /readyz and /metrics, plus whatever
// routes services mount on it (model reload, chaos). Runs its own thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace selfheal {

class MetricsRegistry;

// "127.0.0.1:8080" -> host, port. Returns false with `error` set when malformed.
bool parse_listen_address(const std::string& listen, std::string& host, int& port, std::string& error);

class AdminServer {
 public:
  AdminServer(std::string listen, MetricsRegistry& metrics);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Readiness is the AND of every probe added; health is "the process answers".
  void add_readiness_probe(std::string name, std::function<bool()> probe);
  httplib::Server& http() { return *server_; }

  // Binds and starts serving; throws std::runtime_error naming the address on failure.
  void start();
  void stop();
  int port() const { return port_; }
  std::string url() const;

 private:
  std::string listen_;
  std::string host_;
  int port_ = 0;
  MetricsRegistry& metrics_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::vector<std::pair<std::string, std::function<bool()>>> probes_;
};

}  // namespace selfheal
