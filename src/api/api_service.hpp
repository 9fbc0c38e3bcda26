// The api service: the single writer that persists anomalies, incidents, actions and action results
// from the bus into the store, and the REST gateway (/api/v1, cpp-httplib) that serves them, takes
// operator decisions (acknowledge, resolve, approve, reject, manual actions) and streams new events
// (Server-Sent Events). Routes, auth and config keys: src/api/README.md.
//
// Threading: poll()/handle() run on the executor thread; HTTP handlers run on httplib's worker
// threads. They share only thread-safe things: the store, the bus, the event stream, metrics and
// atomics; operator mutations are serialised by one mutex so that two approvals of the same action
// cannot both pass the "still pending" check.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "api/event_stream.hpp"
#include "api/response_cache.hpp"
#include "api/series_store.hpp"
#include "runtime/event_service.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace selfheal {

class ConfigSchema;
class Config;
class Store;

void declare_api_config(ConfigSchema& schema);

class ApiService final : public EventService {
 public:
  explicit ApiService(const Config& config);
  ~ApiService() override;

  std::string_view name() const override { return "api"; }
  // Subscribes, opens an in-memory store when the process has none, binds api.listen and serves.
  void start(ServiceContext& ctx) override;
  void stop() override;
  bool ready() const override { return serving_.load(); }
  // Base URL, e.g. "http://127.0.0.1:8080" (the REST API is under /api/v1).
  std::string endpoint() const override;

  int port() const { return port_; }
  Store& store() { return *store_; }
  std::size_t stream_clients() const { return stream_clients_.load(); }

 protected:
  void handle(const Delivery& d) override;

 private:
  struct Settings {
    std::string listen;
    std::string token;
    bool read_requires_token = false;
    std::size_t max_body_bytes = 65536;
    std::size_t max_page_size = 1000;
    std::size_t sse_max_clients = 16;
    std::int64_t sse_heartbeat_ms = 5000;
    std::size_t threads = 8;
    std::size_t series_points = 720;
    std::size_t series_services = 256;
  };
  class Routes;  // the handlers, in api_service.cpp
  friend class Routes;

  Settings settings_;
  Store* store_ = nullptr;
  std::unique_ptr<Store> own_store_;  // when the process runs without one (store.backend = none)
  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<Routes> routes_;
  std::thread thread_;
  std::string host_;
  int port_ = 0;
  std::atomic<bool> serving_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> stream_clients_{0};
  EventStream stream_;
  std::mutex mutation_mu_;
  std::unique_ptr<SeriesStore> series_;          // charts: resource windows and anomaly scores
  std::unique_ptr<ResponseCache> list_cache_;    // serialized incident-list pages
};

}  // namespace selfheal
