// The REST API over real HTTP: persistence from the bus, every route, filters, pagination, auth,
// errors, operator decisions published on the bus, and the live event stream.
#include <atomic>
#include <cmath>
#include <thread>

#include "api/openapi.hpp"
#include "api/response_cache.hpp"
#include "api/series_store.hpp"
#include "api_fixture.hpp"

namespace selfheal::testing_api {
namespace {

class Api : public ApiFixture {};

TEST_F(Api, PersistsBusEventsAndServesAnIncidentWithItsEvidenceAnomaliesAndActions) {
  feed(topics::kAnomalies, anomaly("an-1", kStart + 1000, "orders", 0.97));
  feed(topics::kAnomalies, anomaly("an-2", kStart + 2000, "payments", 0.91));
  Incident i = incident("inc-1", 1, kStart + 1500, "orders");
  i.anomaly_ids = {"an-1"};
  feed(topics::kIncidents, i);
  i.revision = 2;
  i.status = IncidentStatus::Mitigating;
  i.timeline.push_back(TimelineEntry{kStart + 3000, "deleting the leaking pod"});
  feed(topics::kIncidents, i);
  feed(topics::kIncidents, incident("inc-1", 1, kStart + 1500, "orders"));  // stale duplicate
  feed(topics::kActions, action("act-1", kStart + 2500, "inc-1", "orders", ActionStatus::Succeeded));
  ActionResult r;
  r.id = "res-1";
  r.ts = kStart + 4000;
  r.action_id = "act-1";
  r.incident_id = "inc-1";
  r.service = "orders";
  r.status = ActionStatus::Verified;
  r.detail = "memory back to 41%";
  feed(topics::kActions, r);

  auto [status, body] = get("/api/v1/incidents/inc-1");
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["incident"]["revision"], 2);
  EXPECT_EQ(body["incident"]["status"], "mitigating");
  EXPECT_EQ(body["incident"]["evidence"][0]["text"], "memory 91% of limit");
  ASSERT_EQ(body["incident"]["timeline"].size(), 2u);
  ASSERT_EQ(body["anomalies"].size(), 1u);
  EXPECT_EQ(body["anomalies"][0]["id"], "an-1");
  ASSERT_EQ(body["actions"].size(), 1u);
  EXPECT_EQ(body["actions"][0]["status"], "succeeded");
  ASSERT_EQ(body["action_results"].size(), 1u);
  EXPECT_EQ(body["action_results"][0]["detail"], "memory back to 41%");
  EXPECT_TRUE(body["acknowledgement"].is_null());

  auto [s2, action_detail] = get("/api/v1/actions/act-1");
  ASSERT_EQ(s2, 200);
  EXPECT_EQ(action_detail["results"][0]["status"], "verified");
  EXPECT_EQ(store_.count_anomalies({}), 2u);
}

TEST_F(Api, IncidentListFiltersAndPaginatesNewestFirst) {
  for (int k = 0; k < 12; ++k)
    feed(topics::kIncidents,
         incident("inc-" + std::to_string(k), 1, kStart + 60'000 * k, k % 2 ? "orders" : "payments",
                  k < 6 ? IncidentType::MemoryLeak : IncidentType::CpuSaturation,
                  k % 3 == 0 ? IncidentStatus::Resolved : IncidentStatus::Open));
  auto [s, page] = get("/api/v1/incidents?limit=5&offset=5");
  ASSERT_EQ(s, 200) << page.dump();
  EXPECT_EQ(page["total"], 12);
  EXPECT_EQ(page["limit"], 5);
  EXPECT_EQ(page["offset"], 5);
  ASSERT_EQ(page["items"].size(), 5u);
  EXPECT_EQ(page["items"][0]["id"], "inc-6");
  EXPECT_EQ(page["items"][4]["id"], "inc-2");

  auto [s2, filtered] = get("/api/v1/incidents?service=orders&type=cpu_saturation&status=open");
  ASSERT_EQ(s2, 200);
  // orders = odd k; cpu = k >= 6; open = k % 3 != 0 -> 7, 11
  ASSERT_EQ(filtered["total"], 2);
  EXPECT_EQ(filtered["items"][0]["id"], "inc-11");
  EXPECT_EQ(filtered["items"][1]["id"], "inc-7");

  const std::string from = format_iso8601(kStart + 60'000 * 2);
  auto [s3, ranged] = get("/api/v1/incidents?from=" + from + "&to=" + std::to_string(kStart + 60'000 * 4));
  ASSERT_EQ(s3, 200) << ranged.dump();
  EXPECT_EQ(ranged["total"], 3);
}

TEST_F(Api, AnomalyAndActionListsFilter) {
  feed(topics::kAnomalies, anomaly("an-1", kStart + 1000, "orders", 0.5));
  feed(topics::kAnomalies, anomaly("an-2", kStart + 2000, "orders", 0.95));
  feed(topics::kAnomalies, anomaly("an-3", kStart + 3000, "payments", 0.99));
  auto [s, body] = get("/api/v1/anomalies?service=orders&min_score=0.9");
  ASSERT_EQ(s, 200);
  ASSERT_EQ(body["total"], 1);
  EXPECT_EQ(body["items"][0]["id"], "an-2");
  auto [s2, timed] = get("/api/v1/anomalies?from=" + std::to_string(kStart + 2000) + "&limit=1");
  EXPECT_EQ(timed["total"], 2);
  ASSERT_EQ(timed["items"].size(), 1u);
  EXPECT_EQ(timed["items"][0]["id"], "an-3");

  feed(topics::kActions, action("act-1", kStart + 100, "inc-1", "orders"));
  feed(topics::kActions, action("act-2", kStart + 200, "inc-2", "payments", ActionStatus::Skipped));
  auto [s3, pending] = get("/api/v1/actions?status=pending");
  ASSERT_EQ(pending["total"], 1);
  EXPECT_EQ(pending["items"][0]["id"], "act-1");
  auto [s4, by_incident] = get("/api/v1/actions?incident=inc-2&service=payments");
  ASSERT_EQ(by_incident["total"], 1);
  EXPECT_EQ(by_incident["items"][0]["status"], "skipped");
}

TEST_F(Api, BadQueryValuesAre400sNamingTheParameter) {
  struct Case {
    std::string query;
    std::string names;
  };
  for (const Case& c : std::vector<Case>{{"/api/v1/incidents?limit=abc", "'limit'"},
                                         {"/api/v1/incidents?limit=0", "'limit'"},
                                         {"/api/v1/incidents?limit=5000", "'limit'"},
                                         {"/api/v1/incidents?offset=-1", "'offset'"},
                                         {"/api/v1/incidents?status=sleeping", "'status'"},
                                         {"/api/v1/incidents?type=gremlins", "'type'"},
                                         {"/api/v1/incidents?from=yesterday", "'from'"},
                                         {"/api/v1/incidents?from=2000&to=1000", "'from'"},
                                         {"/api/v1/incidents?colour=red", "'colour'"},
                                         {"/api/v1/incidents?limit=1&limit=2", "'limit'"},
                                         {"/api/v1/anomalies?min_score=2", "'min_score'"},
                                         {"/api/v1/actions?status=done", "'status'"},
                                         {"/api/v1/events?types=logs", "'types'"}}) {
    auto [status, body] = get(c.query);
    EXPECT_EQ(status, 400) << c.query;
    EXPECT_EQ(body["error"]["code"], "invalid_parameter") << c.query;
    EXPECT_NE(body["error"]["message"].get<std::string>().find(c.names), std::string::npos)
        << c.query << " -> " << body.dump();
  }
}

TEST_F(Api, UnknownRoutesAndMissingResourcesAreJson404s) {
  auto [s1, b1] = get("/api/v1/nothing-here");
  EXPECT_EQ(s1, 404);
  EXPECT_EQ(b1["error"]["code"], "not_found");
  EXPECT_NE(b1["error"]["message"].get<std::string>().find("/api/v1/nothing-here"), std::string::npos);
  auto [s2, b2] = get("/api/v1/incidents/inc-404");
  EXPECT_EQ(s2, 404);
  EXPECT_NE(b2["error"]["message"].get<std::string>().find("inc-404"), std::string::npos);
  auto [s3, b3] = post("/api/v1/actions/act-404/approve");
  EXPECT_EQ(s3, 404);
  EXPECT_EQ(b3["error"]["code"], "not_found");
}

TEST_F(Api, MutatingRoutesNeedTheBearerToken) {
  feed(topics::kActions, action("act-1", kStart, "inc-1", "orders"));
  auto [s1, b1] = post("/api/v1/actions/act-1/approve", "", {});
  EXPECT_EQ(s1, 401);
  EXPECT_EQ(b1["error"]["code"], "unauthorized");
  auto [s2, b2] = post("/api/v1/actions/act-1/approve", "", auth("wrong-token!"));
  EXPECT_EQ(s2, 401);
  auto [s3, b3] = post("/api/v1/actions/act-1/approve", "", {{"Authorization", "Basic czNjcmV0"}});
  EXPECT_EQ(s3, 401);
  auto [s4, b4] = post("/api/v1/actions/act-1/approve", "", auth(std::string(kToken) + "x"));
  EXPECT_EQ(s4, 401);
  EXPECT_TRUE(drain(*actions_tap_).size() == 1) << "nothing but the original action was published";
  // Reads stay open by default.
  EXPECT_EQ(get("/api/v1/actions").first, 200);
  auto [s5, b5] = post("/api/v1/actions/act-1/approve");
  EXPECT_EQ(s5, 202) << b5.dump();
}

TEST_F(Api, ApproveAndRejectPublishTheDecisionWithTheSameId) {
  feed(topics::kActions, action("act-1", kStart, "inc-1", "orders"));
  feed(topics::kActions, action("act-2", kStart, "inc-1", "orders"));
  drain(*actions_tap_);
  clock_.advance(5000);
  auto [s1, approved] = post("/api/v1/actions/act-1/approve", R"({"by":"alice","note":"go"})");
  ASSERT_EQ(s1, 202) << approved.dump();
  EXPECT_EQ(approved["status"], "approved");
  auto [s2, rejected] = post("/api/v1/actions/act-2/reject");
  ASSERT_EQ(s2, 202);

  auto events = drain(*actions_tap_);
  ASSERT_EQ(events.size(), 2u);
  const auto& a1 = std::get<RemediationAction>(events[0]);
  EXPECT_EQ(a1.id, "act-1");
  EXPECT_EQ(a1.status, ActionStatus::Approved);
  EXPECT_EQ(a1.kind, ActionKind::DeletePod);
  EXPECT_EQ(a1.target, "orders-5d8f9c7b6a-x2k9p");
  EXPECT_EQ(a1.ts, kStart + 5000);
  EXPECT_NE(a1.reason.find("alice"), std::string::npos);
  const auto& a2 = std::get<RemediationAction>(events[1]);
  EXPECT_EQ(a2.id, "act-2");
  EXPECT_EQ(a2.status, ActionStatus::Rejected);

  // Decided actions cannot be decided again.
  auto [s3, conflict] = post("/api/v1/actions/act-1/reject");
  EXPECT_EQ(s3, 409);
  EXPECT_EQ(conflict["error"]["code"], "conflict");
  EXPECT_TRUE(drain(*actions_tap_).empty());
  auto [s4, body] = post("/api/v1/actions/act-2/approve", R"({"by": 7})");
  EXPECT_EQ(s4, 400);
  EXPECT_NE(body["error"]["message"].get<std::string>().find("'by'"), std::string::npos);
}

TEST_F(Api, ManualActionIsPublishedPendingForTheGuardrails) {
  auto [s, body] = post("/api/v1/actions",
                        R"({"service":"orders","kind":"scale_deployment","target":"orders","replicas":3,"incident_id":"inc-9"})");
  ASSERT_EQ(s, 202) << body.dump();
  auto events = drain(*actions_tap_);
  ASSERT_EQ(events.size(), 1u);
  const auto& a = std::get<RemediationAction>(events[0]);
  EXPECT_EQ(a.status, ActionStatus::Pending);
  EXPECT_EQ(a.reason, "manual request");
  EXPECT_EQ(a.kind, ActionKind::ScaleDeployment);
  EXPECT_EQ(a.replicas, 3);
  EXPECT_EQ(a.namespace_name, "shop");
  EXPECT_EQ(a.id, body["id"]);

  struct Case {
    std::string body;
    std::string names;
  };
  for (const Case& c : std::vector<Case>{{R"({"kind":"delete_pod","target":"x"})", "'service'"},
                                         {R"({"service":"orders"})", "'kind'"},
                                         {R"({"service":"orders","kind":"reboot_node","target":"x"})", "'kind'"},
                                         {R"({"service":"orders","kind":"delete_pod"})", "'target'"},
                                         {R"({"service":"orders","kind":"scale_deployment","target":"orders"})", "'replicas'"},
                                         {R"({"service":"orders","kind":"scale_deployment","target":"orders","replicas":-1})", "'replicas'"},
                                         {R"({"service":"orders","kind":"notify_only","dry_run":"yes"})", "'dry_run'"},
                                         {R"({"service":"orders","kind":"notify_only","colour":"red"})", "'colour'"},
                                         {R"([1,2])", "JSON object"},
                                         {R"({"service":)", "not valid JSON"},
                                         {"", "got nothing"}}) {
    auto [status, err] = post("/api/v1/actions", c.body);
    EXPECT_EQ(status, 400) << c.body;
    EXPECT_NE(err["error"]["message"].get<std::string>().find(c.names), std::string::npos)
        << c.body << " -> " << err.dump();
  }
  EXPECT_TRUE(drain(*actions_tap_).empty()) << "refused requests publish nothing";
}

TEST_F(Api, AcknowledgeAndResolve) {
  feed(topics::kIncidents, incident("inc-1", 3, kStart, "orders"));
  drain(*incidents_tap_);
  clock_.advance(60'000);
  auto [s1, ack] = post("/api/v1/incidents/inc-1/acknowledge", R"({"by":"alice","note":"on it"})");
  ASSERT_EQ(s1, 200) << ack.dump();
  EXPECT_EQ(ack["by"], "alice");
  EXPECT_EQ(ack["ts"], kStart + 60'000);
  auto [s2, detail] = get("/api/v1/incidents/inc-1");
  EXPECT_EQ(detail["acknowledgement"]["note"], "on it");

  auto [s3, resolved] = post("/api/v1/incidents/inc-1/resolve", R"({"note":"fixed by hand"})");
  ASSERT_EQ(s3, 200) << resolved.dump();
  EXPECT_EQ(resolved["status"], "resolved");
  EXPECT_EQ(resolved["revision"], 4);
  auto events = drain(*incidents_tap_);
  ASSERT_EQ(events.size(), 1u);
  const auto& i = std::get<Incident>(events[0]);
  EXPECT_EQ(i.status, IncidentStatus::Resolved);
  EXPECT_EQ(i.resolved_at, kStart + 60'000);
  EXPECT_NE(i.timeline.back().text.find("fixed by hand"), std::string::npos);
  EXPECT_EQ(get("/api/v1/incidents?status=resolved").second["total"], 1);

  EXPECT_EQ(post("/api/v1/incidents/inc-1/resolve").first, 409);
  EXPECT_EQ(post("/api/v1/incidents/inc-2/acknowledge").first, 404);
}

TEST_F(Api, OversizedBodiesAreRefusedWith413) {
  feed(topics::kActions, action("act-1", kStart, "inc-1", "orders"));
  std::string big = R"({"note":")" + std::string(8000, 'x') + R"("})";
  auto [status, body] = post("/api/v1/actions/act-1/approve", big);
  EXPECT_EQ(status, 413);
  EXPECT_EQ(body["error"]["code"], "payload_too_large");
  EXPECT_TRUE(drain(*actions_tap_).size() == 1);
  // Right at the limit (the fixture's api.max_body_bytes = 4096) the body is read and judged.
  std::string at_limit = R"({"note":")";
  at_limit += std::string(4096 - at_limit.size() - 2, 'y') + R"("})";
  ASSERT_EQ(at_limit.size(), 4096u);
  auto [s2, b2] = post("/api/v1/actions/act-1/approve", at_limit);
  EXPECT_EQ(s2, 400) << "a 4096-byte body is within the limit: refused for its note, not its size";
  EXPECT_NE(b2["error"]["message"].get<std::string>().find("'note'"), std::string::npos) << b2.dump();
  EXPECT_EQ(post("/api/v1/actions/act-1/approve", at_limit + " ").first, 413);
}

TEST_F(Api, ServicesSummariseHealthFromIncidentsAndActions) {
  feed(topics::kIncidents, incident("inc-1", 1, kStart, "orders", IncidentType::MemoryLeak, IncidentStatus::Open,
                                    Severity::Critical));
  feed(topics::kIncidents, incident("inc-2", 1, kStart, "payments", IncidentType::CpuSaturation,
                                    IncidentStatus::Resolved));
  feed(topics::kIncidents, incident("inc-3", 1, kStart, "search", IncidentType::CpuSaturation));
  feed(topics::kActions, action("act-1", kStart + 10, "inc-1", "orders", ActionStatus::Executing));
  auto [s, body] = get("/api/v1/services");
  ASSERT_EQ(s, 200);
  ASSERT_EQ(body["items"].size(), 3u);
  EXPECT_EQ(body["items"][0]["service"], "orders");
  EXPECT_EQ(body["items"][0]["health"], "critical");
  EXPECT_EQ(body["items"][0]["open_incidents"], 1);
  EXPECT_EQ(body["items"][0]["last_action"]["id"], "act-1");
  EXPECT_EQ(body["items"][1]["service"], "payments");
  EXPECT_EQ(body["items"][1]["health"], "healthy");
  EXPECT_TRUE(body["items"][1]["last_action"].is_null());
  EXPECT_EQ(body["items"][2]["health"], "degraded");

  auto [s2, models] = get("/api/v1/models");
  ASSERT_EQ(s2, 200);
  EXPECT_TRUE(models["items"].is_array());
}

TEST_F(Api, ModelsAreTheOnesThatProducedAnomalies) {
  Anomaly a1 = anomaly("an-1", kStart, "orders", 0.9);
  a1.model_version = "1.0.0";
  feed(topics::kAnomalies, a1);
  a1.id = "an-2";
  a1.ts = kStart + 10'000;
  feed(topics::kAnomalies, a1);
  Anomaly r = anomaly("an-3", kStart + 5'000, "payments", 1.0);
  r.source = AnomalySource::Rule;
  r.model = "HighErrorRatio";
  r.model_version = "defaults-1";
  feed(topics::kAnomalies, r);
  auto [status, body] = get("/api/v1/models");
  ASSERT_EQ(status, 200);
  ASSERT_EQ(body["items"].size(), 2u) << body.dump();
  EXPECT_EQ(body["items"][0]["source"], "model");
  EXPECT_EQ(body["items"][0]["name"], "robust_z");
  EXPECT_EQ(body["items"][0]["version"], "1.0.0");
  EXPECT_EQ(body["items"][0]["anomalies"], 2);
  EXPECT_EQ(body["items"][0]["last_seen"], kStart + 10'000);
  EXPECT_EQ(body["items"][1]["source"], "rule");
  EXPECT_EQ(body["items"][1]["name"], "HighErrorRatio");
}

TEST_F(Api, EventStreamDeliversANewIncident) {
  std::atomic<bool> got{false};
  std::string received;
  std::thread reader([&] {
    auto c = client();
    c->set_read_timeout(10);
    c->Get("/api/v1/events?types=incident", [&](const char* data, std::size_t n) {
      received.append(data, n);
      if (received.find("event: incident") != std::string::npos &&
          received.find("\n\n", received.find("event: incident")) != std::string::npos) {
        got = true;
        return false;
      }
      return true;
    });
  });
  // The stream must be open before the incident arrives (it delivers new events only).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (api_->stream_clients() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(api_->stream_clients(), 1u);  // (no ASSERT: the reader thread must still be joined)
  feed(topics::kAnomalies, anomaly("an-1", kStart, "orders", 0.9));  // filtered out by types=incident
  feed(topics::kIncidents, incident("inc-42", 1, kStart, "orders"));
  reader.join();
  ASSERT_TRUE(got.load()) << received;
  // The slot is given back once the client has gone.
  const auto released = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (api_->stream_clients() != 0 && std::chrono::steady_clock::now() < released)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(api_->stream_clients(), 0u);
  EXPECT_EQ(received.find("event: anomaly"), std::string::npos);
  const auto data = received.find("data: ", received.find("event: incident"));
  ASSERT_NE(data, std::string::npos);
  json envelope = json::parse(received.substr(data + 6, received.find('\n', data) - data - 6));
  EXPECT_EQ(envelope["type"], "incident");
  EXPECT_EQ(envelope["data"]["id"], "inc-42");
}

FeatureWindow service_window(const std::string& service, TimeMs end, double cpu, double memory) {
  FeatureWindow w;
  w.id = service + "-" + std::to_string(end);
  w.start = end - 60'000;
  w.end = end;
  w.service = service;
  w.set("cpu_utilization_mean", cpu);
  w.set("cpu_utilization_max", cpu + 0.1);
  w.set("memory_utilization_max", memory);
  w.set("latency_p95_s", 0.05);
  w.set("error_ratio", 0.002);
  w.set("requests_per_s", 120);
  return w;
}

TEST_F(Api, ServiceMetricsServeTheRecentServiceWindowsFromTheFeaturesTopic) {
  for (int k = 0; k < 5; ++k)
    feed(topics::kFeatures, service_window("orders", kStart + k * 10'000, 0.1 * k, 0.5 + 0.01 * k));
  FeatureWindow pod_window = service_window("orders", kStart + 50'000, 0.9, 0.9);
  pod_window.pod = "orders-abc";  // per-pod windows are not the service's series
  feed(topics::kFeatures, pod_window);
  FeatureWindow logs = service_window("orders", kStart + 60'000, 0.9, 0.9);
  logs.source = FeatureSource::Logs;
  feed(topics::kFeatures, logs);
  feed(topics::kFeatures, service_window("orders", kStart + 40'000, 0.7, 0.7));  // redelivered: replaces

  auto [status, body] = get("/api/v1/services/orders/metrics");
  ASSERT_EQ(status, 200) << body.dump();
  ASSERT_EQ(body["points"].size(), 5u) << body.dump();
  EXPECT_EQ(body["points"][0]["ts"], kStart);
  EXPECT_EQ(body["points"][4]["ts"], kStart + 40'000);
  EXPECT_DOUBLE_EQ(body["points"][4]["cpu_utilization_mean"].get<double>(), 0.7);
  EXPECT_DOUBLE_EQ(body["points"][2]["memory_utilization_max"].get<double>(), 0.52);
  EXPECT_DOUBLE_EQ(body["points"][1]["latency_p95_s"].get<double>(), 0.05);
  EXPECT_TRUE(body["points"][0]["memory_bytes_max"].is_null()) << "absent features are null";

  auto [s2, ranged] = get("/api/v1/services/orders/metrics?from=" + std::to_string(kStart + 10'000) +
                          "&to=" + std::to_string(kStart + 20'000));
  ASSERT_EQ(s2, 200);
  ASSERT_EQ(ranged["points"].size(), 2u);
  EXPECT_EQ(ranged["points"][1]["ts"], kStart + 20'000);

  auto [s3, missing] = get("/api/v1/services/nobody/metrics");
  EXPECT_EQ(s3, 404);
  EXPECT_NE(missing["error"]["message"].get<std::string>().find("nobody"), std::string::npos);
  EXPECT_EQ(get("/api/v1/services/orders/metrics?step=5").first, 400) << "unknown parameter";
}

TEST(SeriesStore, StaysBoundedInPointsAndServices) {
  SeriesStore series(3, 2);
  for (int k = 0; k < 10; ++k) {
    FeatureWindow w = service_window("a", 1000 * (k + 1), 0.5, 0.5);
    EXPECT_TRUE(series.add_window(w));
  }
  auto points = series.resources("a", 0, 1'000'000);
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(points.front().ts, 8000);
  EXPECT_TRUE(series.add_window(service_window("b", 1000, 0.5, 0.5)));
  EXPECT_FALSE(series.add_window(service_window("c", 1000, 0.5, 0.5))) << "a third service is over the bound";
  EXPECT_FALSE(series.knows("c"));
  EXPECT_EQ(series.dropped_services(), 1u);
}

TEST_F(Api, AnomalyScoresAreTheHighestScorePerServiceAndStep) {
  feed(topics::kAnomalies, anomaly("an-1", kStart + 1'000, "orders", 0.5));
  feed(topics::kAnomalies, anomaly("an-2", kStart + 20'000, "orders", 0.9));
  feed(topics::kAnomalies, anomaly("an-3", kStart + 70'000, "orders", 0.6));
  feed(topics::kAnomalies, anomaly("an-4", kStart + 5'000, "payments", 0.7));
  const std::string range = "from=" + std::to_string(kStart) + "&to=" + std::to_string(kStart + 120'000);
  auto [status, body] = get("/api/v1/anomalies/scores?step=60000&" + range);
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["step"], 60000);
  ASSERT_EQ(body["series"].size(), 2u);
  EXPECT_EQ(body["series"][0]["service"], "orders");
  ASSERT_EQ(body["series"][0]["points"].size(), 2u);
  EXPECT_EQ(body["series"][0]["points"][0]["ts"], kStart);
  EXPECT_DOUBLE_EQ(body["series"][0]["points"][0]["score"].get<double>(), 0.9);
  EXPECT_EQ(body["series"][0]["points"][0]["signal"], "memory_used_ratio");
  EXPECT_EQ(body["series"][0]["points"][1]["ts"], kStart + 60'000);
  EXPECT_EQ(body["series"][1]["service"], "payments");

  auto [s2, one] = get("/api/v1/anomalies/scores?service=payments&" + range);
  ASSERT_EQ(s2, 200);
  ASSERT_EQ(one["series"].size(), 1u);
  EXPECT_EQ(one["series"][0]["service"], "payments");

  // Default range: the hour before the newest point.
  auto [s3, recent] = get("/api/v1/anomalies/scores");
  ASSERT_EQ(s3, 200);
  EXPECT_EQ(recent["to"], kStart + 70'000);
  EXPECT_EQ(recent["from"], kStart + 70'000 - 3'600'000);

  auto [s4, too_fine] = get("/api/v1/anomalies/scores?step=1000&from=0&to=" + std::to_string(kStart));
  EXPECT_EQ(s4, 400);
  EXPECT_NE(too_fine["error"]["message"].get<std::string>().find("'step'"), std::string::npos);
}

TEST_F(Api, AnomalyScoresStartWithWhatTheStoreRemembers) {
  // A restarted API: the store already has anomalies the new process never saw on the bus.
  api_->stop();
  store_.put_anomaly(anomaly("old-1", kStart, "orders", 0.8));
  api_ = std::make_unique<ApiService>(*config_);
  api_->start(*ctx_);
  auto [status, body] = get("/api/v1/anomalies/scores");
  ASSERT_EQ(status, 200);
  ASSERT_EQ(body["series"].size(), 1u) << body.dump();
  EXPECT_DOUBLE_EQ(body["series"][0]["points"][0]["score"].get<double>(), 0.8);
}

TEST_F(Api, IncidentListIsCachedUntilAnIncidentChangesWithETags) {
  feed(topics::kIncidents, incident("inc-1", 1, kStart, "orders"));
  auto c = client();
  auto first = c->Get("/api/v1/incidents");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200);
  const std::string etag = first->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(json::parse(first->body)["total"], 1);

  auto same = c->Get("/api/v1/incidents", {{"If-None-Match", etag}});
  ASSERT_TRUE(same);
  EXPECT_EQ(same->status, 304);
  EXPECT_TRUE(same->body.empty());
  auto weak = c->Get("/api/v1/incidents", {{"If-None-Match", "\"other\", W/" + etag}});
  ASSERT_TRUE(weak);
  EXPECT_EQ(weak->status, 304);
  auto other_query = c->Get("/api/v1/incidents?limit=5", {{"If-None-Match", etag}});
  ASSERT_TRUE(other_query);
  EXPECT_EQ(other_query->status, 200) << "another query has another tag";

  // A new revision from the bus, and an operator resolution, each change the answer at once.
  Incident next = incident("inc-1", 2, kStart, "orders", IncidentType::MemoryLeak, IncidentStatus::Mitigating);
  feed(topics::kIncidents, next);
  auto changed = c->Get("/api/v1/incidents", {{"If-None-Match", etag}});
  ASSERT_TRUE(changed);
  ASSERT_EQ(changed->status, 200);
  EXPECT_NE(changed->get_header_value("ETag"), etag);
  EXPECT_EQ(json::parse(changed->body)["items"][0]["status"], "mitigating");
  ASSERT_EQ(post("/api/v1/incidents/inc-1/resolve").first, 200);
  EXPECT_EQ(json::parse(c->Get("/api/v1/incidents")->body)["items"][0]["status"], "resolved");
  feed(topics::kIncidents, incident("inc-2", 1, kStart + 1, "payments"));
  EXPECT_EQ(json::parse(c->Get("/api/v1/incidents")->body)["total"], 2);

  // Two queries whose parameters would read the same if joined naively have their own answers.
  feed(topics::kIncidents, incident("inc-3", 1, kStart + 2, "x"));
  EXPECT_EQ(json::parse(c->Get("/api/v1/incidents?service=x&status=open")->body)["total"], 1);
  EXPECT_EQ(json::parse(c->Get("/api/v1/incidents?service=x%26status%3Dopen")->body)["total"], 0);
}

TEST(ResponseCache, AnAnswerComputedBeforeAChangeIsNeverServedAfterIt) {
  ResponseCache cache(2, "e");
  const auto g0 = cache.generation();
  cache.invalidate();  // a write lands while a reader was computing from generation g0
  cache.put("q", g0, "stale");
  EXPECT_EQ(cache.find("q"), nullptr);
  cache.put("q", cache.generation(), "fresh");
  ASSERT_NE(cache.find("q"), nullptr);
  EXPECT_EQ(cache.find("q")->body, "fresh");
  cache.put("q", g0, "late stale");  // an older answer does not replace a newer one
  EXPECT_EQ(cache.find("q")->body, "fresh");
  cache.put("r", cache.generation(), "x");
  cache.put("s", cache.generation(), "y");  // over capacity: cleared, then kept
  EXPECT_LE(cache.size(), 2u);
  EXPECT_NE(cache.etag_for("q", 1), cache.etag_for("q", 2));
  EXPECT_NE(cache.etag_for("q", 1), cache.etag_for("r", 1));
}

TEST(ResponseCache, ConcurrentMissesOfOneKeyComputeItOnce) {
  ResponseCache cache(8, "e");
  constexpr int kReaders = 6;
  std::atomic<int> computations{0};
  std::vector<std::string> bodies(kReaders);
  std::vector<std::thread> readers;
  for (int k = 0; k < kReaders; ++k)
    readers.emplace_back([&, k] {
      bodies[k] = cache.get_or_compute("q", [&] {
                           ++computations;
                           // Hold the computation until every other reader waits for it.
                           const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
                           while (cache.waiting() < kReaders - 1 && std::chrono::steady_clock::now() < deadline)
                             std::this_thread::yield();
                           return std::string("page");
                         })->body;
    });
  for (auto& t : readers) t.join();
  EXPECT_EQ(computations.load(), 1);
  for (const auto& b : bodies) EXPECT_EQ(b, "page");
  // A failed computation lets the next caller try.
  cache.invalidate();
  EXPECT_THROW(cache.get_or_compute("q", []() -> std::string { throw std::runtime_error("store down"); }),
               std::runtime_error);
  EXPECT_EQ(cache.get_or_compute("q", [] { return std::string("again"); })->body, "again");
}

TEST_F(Api, OneKeepAliveConnectionServesManyRequests) {
  // httplib's default closes a connection after 5 requests; the dashboard and the load target
  // rely on reuse.
  httplib::Client c("127.0.0.1", api_->port());
  c.set_keep_alive(true);
  int sockets_seen = 0;
  c.set_socket_options([&](socket_t) { ++sockets_seen; });
  for (int k = 0; k < 50; ++k) {
    auto res = c.Get("/api/v1/incidents");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
  }
  EXPECT_EQ(sockets_seen, 1);
}

TEST_F(Api, HealthzAnswersWithoutAToken) {
  auto [status, body] = get("/healthz");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body["status"], "ok");
}

class ApiWithoutToken : public ApiFixture {
  void configure(Config& c) override { c.set("api.token", "", "test"); }
};

TEST_F(ApiWithoutToken, MutationsAreDisabledUntilATokenIsSet) {
  feed(topics::kActions, action("act-1", kStart, "inc-1", "orders"));
  auto [status, body] = post("/api/v1/actions/act-1/approve", "", auth("anything"));
  EXPECT_EQ(status, 403);
  EXPECT_NE(body["error"]["message"].get<std::string>().find("api.token"), std::string::npos);
  EXPECT_EQ(get("/api/v1/incidents").first, 200);
}

class ApiWithProtectedReads : public ApiFixture {
  void configure(Config& c) override { c.set("api.read_requires_token", "true", "test"); }
};

// Every GET of the OpenAPI document, with its path parameters filled with things that exist.
std::vector<std::string> every_read_url() {
  std::vector<std::string> urls;
  json doc = json::parse(openapi_document());
  for (const auto& [path, ops] : doc["paths"].items()) {
    if (!ops.contains("get") || path == "/events" || path == "/openapi.json" || path == "/healthz") continue;
    std::string url = "/api/v1" + path;
    if (auto p = url.find("{id}"); p != std::string::npos) url.replace(p, 4, path.rfind("/actions", 0) == 0 ? "act-1" : "inc-1");
    if (auto p = url.find("{name}"); p != std::string::npos) url.replace(p, 6, "orders");
    urls.push_back(url);
  }
  return urls;
}

void feed_one_of_each(ApiFixture& f) {
  f.feed(topics::kIncidents, ApiFixture::incident("inc-1", 1, kStart, "orders"));
  f.feed(topics::kActions, ApiFixture::action("act-1", kStart, "inc-1", "orders"));
}

TEST_F(Api, EveryReadRouteIsOpenByDefault) {
  feed_one_of_each(*this);
  const auto urls = every_read_url();
  EXPECT_GE(urls.size(), 9u);
  for (const std::string& url : urls) EXPECT_EQ(get(url).first, 200) << url;
}

TEST_F(ApiWithProtectedReads, EveryReadRouteNeedsTheToken) {
  feed_one_of_each(*this);
  for (const std::string& url : every_read_url()) {
    auto [status, body] = get(url);
    EXPECT_EQ(status, 401) << url;
    EXPECT_EQ(body["error"]["code"], "unauthorized") << url;
    EXPECT_EQ(get(url, auth("nope")).first, 401) << url;
    EXPECT_EQ(get(url, auth()).first, 200) << url;
  }
  // The event stream too (answered before any streaming starts).
  EXPECT_EQ(get("/api/v1/events").first, 401);
  EXPECT_EQ(get("/api/v1/openapi.json").first, 200) << "the API description stays readable";
  EXPECT_EQ(get("/healthz").first, 200) << "so does the liveness probe";
}

TEST(ApiStart, RefusesABadListenAddressNamingTheKey) {
  ConfigSchema schema;
  declare_api_config(schema);
  Config config(schema);
  config.set("api.listen", "localhost", "test");
  MetricsRegistry metrics;
  InProcessBus bus(InProcessBus::Options{}, &metrics);
  SimClock clock(kStart);
  ServiceContext ctx{bus, clock, config, metrics, nullptr, nullptr, "t"};
  ApiService api(config);
  try {
    api.start(ctx);
    FAIL() << "started on a malformed address";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("api.listen"), std::string::npos) << e.what();
  }
}

TEST(ApiStart, RunsWithAnInMemoryStoreWhenTheProcessHasNone) {
  ConfigSchema schema;
  declare_api_config(schema);
  Config config(schema);
  config.set("api.listen", "127.0.0.1:0", "test");
  MetricsRegistry metrics;
  InProcessBus bus(InProcessBus::Options{}, &metrics);
  SimClock clock(kStart);
  ServiceContext ctx{bus, clock, config, metrics, nullptr, nullptr, "t"};
  ApiService api(config);
  api.start(ctx);
  EXPECT_TRUE(api.ready());
  EXPECT_EQ(api.endpoint(), "http://127.0.0.1:" + std::to_string(api.port()));
  bus.publish(topics::kIncidents, ApiFixture::incident("inc-1", 1, kStart, "orders"));
  while (api.poll() > 0) {
  }
  httplib::Client c("127.0.0.1", api.port());
  auto res = c.Get("/api/v1/incidents");
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body)["total"], 1);
  api.stop();
}

}  // namespace
}  // namespace selfheal::testing_api
