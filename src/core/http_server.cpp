#include "core/http_server.hpp"

#include <httplib.h>

#include <stdexcept>

#include "core/metrics.hpp"

namespace selfheal {

bool parse_listen_address(const std::string& listen, std::string& host, int& port, std::string& error) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    error = "expected HOST:PORT such as 127.0.0.1:8080, got \"" + listen + "\"";
    return false;
  }
  host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  try {
    std::size_t used = 0;
    port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || port < 0 || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    error = "port must be a number from 0 to 65535 in \"" + listen + "\"";
    return false;
  }
  return true;
}

AdminServer::AdminServer(std::string listen, MetricsRegistry& metrics)
    : listen_(std::move(listen)), metrics_(metrics), server_(std::make_unique<httplib::Server>()) {
  server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  server_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    std::string body;
    bool ready = true;
    for (const auto& [name, probe] : probes_) {
      bool ok = probe();
      ready = ready && ok;
      body += name + (ok ? " ready\n" : " not ready\n");
    }
    res.status = ready ? 200 : 503;
    res.set_content(body.empty() ? "ready\n" : body, "text/plain");
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::add_readiness_probe(std::string name, std::function<bool()> probe) {
  probes_.emplace_back(std::move(name), std::move(probe));
}

void AdminServer::start() {
  std::string error;
  if (!parse_listen_address(listen_, host_, port_, error))
    throw std::runtime_error("admin listen address: " + error);
  if (port_ == 0) {
    port_ = server_->bind_to_any_port(host_);
  } else if (!server_->bind_to_port(host_, port_)) {
    port_ = -1;
  }
  if (port_ < 0)
    throw std::runtime_error("cannot listen on " + listen_ +
                             ": the port is in use or the address is not local; choose another with --set");
  // The socket already listens after bind, so clients may connect before the accept loop runs.
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

void AdminServer::stop() {
  if (thread_.joinable()) {
    // stop() only interrupts a running accept loop; wait for it to have started.
    for (int i = 0; i < 1000 && !server_->is_running(); ++i) std::this_thread::yield();
    server_->stop();
    thread_.join();
  }
}

std::string AdminServer::url() const { return "http://" + host_ + ":" + std::to_string(port_); }

}  // namespace selfheal
