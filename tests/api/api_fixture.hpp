// A real ApiService on 127.0.0.1:0 over an in-process bus, a SimClock and an in-memory SqliteStore,
// with taps on the topics the API publishes to, and a real HTTP client.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "api/api_service.hpp"
#include "bus/in_process_bus.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/metrics.hpp"
#include "store/sqlite_store.hpp"

namespace selfheal::testing_api {

using json = nlohmann::json;

inline constexpr const char* kToken = "s3cret-token";
inline constexpr TimeMs kStart = 1'790'000'000'000;

class ApiFixture : public ::testing::Test {
 public:
  virtual void configure(Config& c) {}

  void SetUp() override {
    declare_api_config(schema_);
    config_ = std::make_unique<Config>(schema_);
    config_->set("api.listen", "127.0.0.1:0", "test");
    config_->set("api.token", kToken, "test");
    config_->set("api.max_body_bytes", "4096", "test");
    configure(*config_);
    ctx_ = std::make_unique<ServiceContext>(ServiceContext{bus_, clock_, *config_, metrics_, &store_, nullptr, "t1"});
    actions_tap_ = bus_.subscribe(topics::kActions, "test-tap");
    incidents_tap_ = bus_.subscribe(topics::kIncidents, "test-tap");
    api_ = std::make_unique<ApiService>(*config_);
    api_->start(*ctx_);
  }
  void TearDown() override { api_->stop(); }

  // Publishes and lets the API consume, as the executor would.
  template <typename T>
  void feed(std::string_view topic, T event) {
    ASSERT_EQ(bus_.publish(topic, Event(std::move(event))), PublishStatus::Ok);
    while (api_->poll() > 0) {
    }
  }

  std::unique_ptr<httplib::Client> client() {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", api_->port());
    c->set_connection_timeout(5);
    c->set_read_timeout(5);
    return c;
  }
  static httplib::Headers auth(const std::string& token = kToken) {
    return {{"Authorization", "Bearer " + token}};
  }

  // GET that must answer; returns status and parsed body.
  std::pair<int, json> get(const std::string& path, const httplib::Headers& headers = {}) {
    auto res = client()->Get(path.c_str(), headers);
    EXPECT_TRUE(res) << "GET " << path << " got no answer";
    if (!res) return {0, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  std::pair<int, json> post(const std::string& path, const std::string& body = "",
                            const httplib::Headers& headers = auth()) {
    auto res = client()->Post(path.c_str(), headers, body, "application/json");
    EXPECT_TRUE(res) << "POST " << path << " got no answer";
    if (!res) return {0, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }

  std::vector<Event> drain(Subscription& sub) {
    std::vector<Delivery> out;
    sub.poll(out, 1000);
    sub.commit();
    std::vector<Event> events;
    for (auto& d : out) events.push_back(std::move(d.event));
    return events;
  }

  static Incident incident(const std::string& id, std::uint32_t revision, TimeMs opened, const std::string& service,
                           IncidentType type = IncidentType::MemoryLeak, IncidentStatus status = IncidentStatus::Open,
                           Severity severity = Severity::Warning) {
    Incident i;
    i.id = id;
    i.revision = revision;
    i.type = type;
    i.status = status;
    i.severity = severity;
    i.service = service;
    i.namespace_name = "shop";
    i.title = "memory leak in " + service;
    i.opened_at = opened;
    i.updated_at = opened;
    i.evidence.push_back(Evidence{"metric", "memory_used_ratio", "memory 91% of limit", 0.91, 0.42, opened});
    i.timeline.push_back(TimelineEntry{opened, "opened"});
    return i;
  }
  static Anomaly anomaly(const std::string& id, TimeMs ts, const std::string& service, double score) {
    Anomaly a;
    a.id = id;
    a.ts = ts;
    a.service = service;
    a.series = service + ":memory_used_ratio";
    a.signal = "memory_used_ratio";
    a.score = score;
    a.model = "robust_z";
    a.contributions.push_back(Contribution{"memory_used_ratio", 0.9, 0.4, score});
    return a;
  }
  static RemediationAction action(const std::string& id, TimeMs ts, const std::string& incident_id,
                                  const std::string& service, ActionStatus status = ActionStatus::Pending) {
    RemediationAction a;
    a.id = id;
    a.ts = ts;
    a.incident_id = incident_id;
    a.service = service;
    a.kind = ActionKind::DeletePod;
    a.namespace_name = "shop";
    a.target = service + "-5d8f9c7b6a-x2k9p";
    a.playbook = "memory_leak";
    a.status = status;
    a.reason = "memory leak: delete the leaking pod";
    return a;
  }

  ConfigSchema schema_;
  std::unique_ptr<Config> config_;
  MetricsRegistry metrics_;
  InProcessBus bus_{InProcessBus::Options{}, &metrics_};
  SimClock clock_{kStart};
  SqliteStore store_{":memory:"};
  std::unique_ptr<ServiceContext> ctx_;
  std::unique_ptr<Subscription> actions_tap_;
  std::unique_ptr<Subscription> incidents_tap_;
  std::unique_ptr<ApiService> api_;
};

}  // namespace selfheal::testing_api
