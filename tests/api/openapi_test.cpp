// Conformance of the API to its OpenAPI document: every documented operation is exercised, answers
// with a documented status, and its JSON body validates against the documented schema; every route
// the brief asks for is documented; every $ref resolves.
#include <atomic>
#include <set>
#include <thread>

#include "api/openapi.hpp"
#include "api_fixture.hpp"

namespace selfheal::testing_api {
namespace {

// The subset of JSON Schema (OpenAPI 3.0 flavour) the document uses.
class Validator {
 public:
  explicit Validator(const json& doc) : doc_(doc) {}

  const json& resolve(const json& node) const {
    if (!node.is_object() || !node.contains("$ref")) return node;
    std::string ref = node["$ref"];
    if (ref.rfind("#/", 0) != 0) throw std::runtime_error("external $ref " + ref);
    const json* at = &doc_;
    std::size_t pos = 2;
    while (pos <= ref.size()) {
      std::size_t slash = ref.find('/', pos);
      std::string part = ref.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
      if (!at->contains(part)) throw std::runtime_error("unresolved $ref " + ref);
      at = &(*at)[part];
      if (slash == std::string::npos) break;
      pos = slash + 1;
    }
    return resolve(*at);
  }

  // Appends "path: problem" for each violation.
  void validate(const json& value, const json& schema_node, const std::string& path, std::vector<std::string>& errors) const {
    const json& schema = resolve(schema_node);
    if (value.is_null()) {
      if (schema.value("nullable", false) || schema.empty()) return;
      errors.push_back(path + ": null but not nullable");
      return;
    }
    if (schema.contains("allOf"))
      for (const json& part : schema["allOf"]) validate(value, part, path, errors);
    if (schema.contains("type")) {
      const std::string type = schema["type"];
      bool ok = (type == "object" && value.is_object()) || (type == "array" && value.is_array()) ||
                (type == "string" && value.is_string()) || (type == "integer" && value.is_number_integer()) ||
                (type == "number" && value.is_number()) || (type == "boolean" && value.is_boolean());
      if (!ok) {
        errors.push_back(path + ": expected " + type + ", got " + value.type_name());
        return;
      }
    }
    if (schema.contains("enum")) {
      bool found = false;
      for (const json& e : schema["enum"]) found = found || e == value;
      if (!found) errors.push_back(path + ": " + value.dump() + " not in enum");
    }
    if (value.is_number()) {
      if (schema.contains("minimum") && value.get<double>() < schema["minimum"].get<double>())
        errors.push_back(path + ": below minimum");
      if (schema.contains("maximum") && value.get<double>() > schema["maximum"].get<double>())
        errors.push_back(path + ": above maximum");
    }
    if (value.is_object()) {
      for (const json& r : schema.value("required", json::array()))
        if (!value.contains(r.get<std::string>())) errors.push_back(path + ": missing required '" + r.get<std::string>() + "'");
      if (schema.contains("properties"))
        for (auto it = schema["properties"].begin(); it != schema["properties"].end(); ++it)
          if (value.contains(it.key())) validate(value[it.key()], it.value(), path + "." + it.key(), errors);
      if (schema.contains("additionalProperties") && schema["additionalProperties"].is_object())
        for (auto it = value.begin(); it != value.end(); ++it)
          if (!schema.contains("properties") || !schema["properties"].contains(it.key()))
            validate(it.value(), schema["additionalProperties"], path + "." + it.key(), errors);
    }
    if (value.is_array() && schema.contains("items"))
      for (std::size_t k = 0; k < value.size(); ++k)
        validate(value[k], schema["items"], path + "[" + std::to_string(k) + "]", errors);
  }

 private:
  const json& doc_;
};

void collect_refs(const json& node, std::vector<json>& out) {
  if (node.is_object()) {
    if (node.contains("$ref")) out.push_back(node);
    for (const auto& [k, v] : node.items()) collect_refs(v, out);
  } else if (node.is_array()) {
    for (const auto& v : node) collect_refs(v, out);
  }
}

TEST(OpenApiDocument, IsOpenApi3AndEveryReferenceResolves) {
  json doc = json::parse(openapi_document());
  EXPECT_EQ(doc["openapi"].get<std::string>().substr(0, 2), "3.");
  Validator v(doc);
  std::vector<json> refs;
  collect_refs(doc, refs);
  EXPECT_GT(refs.size(), 20u);
  for (const json& r : refs) EXPECT_NO_THROW(v.resolve(r)) << r.dump();
  for (const auto& [path, ops] : doc["paths"].items())
    for (const auto& [method, op] : ops.items()) {
      if (method == "servers") continue;  // a path-level server override, not an operation
      EXPECT_TRUE(op.contains("responses")) << method << " " << path;
      EXPECT_TRUE(op.contains("operationId")) << method << " " << path;
    }
}

TEST(OpenApiDocument, DocumentsEveryRouteOfTheBrief) {
  json doc = json::parse(openapi_document());
  for (auto [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"get", "/incidents"}, {"get", "/incidents/{id}"}, {"post", "/incidents/{id}/acknowledge"},
           {"post", "/incidents/{id}/resolve"}, {"get", "/anomalies"}, {"get", "/actions"},
           {"post", "/actions"}, {"post", "/actions/{id}/approve"}, {"post", "/actions/{id}/reject"},
           {"get", "/services"}, {"get", "/models"}, {"get", "/openapi.json"}, {"get", "/events"},
           {"get", "/services/{name}/metrics"}, {"get", "/anomalies/scores"}, {"get", "/healthz"}}) {
    ASSERT_TRUE(doc["paths"].contains(path)) << path;
    EXPECT_TRUE(doc["paths"][path].contains(method)) << method << " " << path;
  }
}

// Reads need the token here too, so that every documented 401 can be exercised; one event stream
// at most, so that the 503 can be; a short heartbeat, so that a held stream can be let go quickly.
class OpenApiConformance : public ApiFixture {
  void configure(Config& c) override {
    c.set("api.read_requires_token", "true", "test");
    c.set("api.sse_max_clients", "1", "test");
    c.set("api.sse_heartbeat", "100ms", "test");
  }

 protected:
  // The URL of a documented path: /api/v1 unless the path names its own server.
  static std::string url_of(const json& doc, const std::string& path) {
    const json& item = doc["paths"][path];
    std::string base = item.contains("servers") ? item["servers"][0]["url"].get<std::string>()
                                                : doc["servers"][0]["url"].get<std::string>();
    if (!base.empty() && base.back() == '/') base.pop_back();
    std::string url = base + path;
    for (const char* param : {"{id}", "{name}"})
      if (auto p = url.find(param); p != std::string::npos) url.replace(p, std::string(param).size(), "x");
    return url;
  }

  void feed_everything() {
    Anomaly an = anomaly("an-1", kStart, "orders", 0.97);
    an.labels = {{"rule", "memory"}};
    feed(topics::kAnomalies, an);
    feed(topics::kAnomalies, anomaly("an-2", kStart + 70'000, "orders", 0.6));
    Incident inc = incident("inc-1", 1, kStart, "orders");
    inc.anomaly_ids = {"an-1"};
    feed(topics::kIncidents, inc);
    feed(topics::kIncidents, incident("inc-2", 1, kStart, "payments"));
    feed(topics::kActions, action("act-1", kStart, "inc-1", "orders"));
    feed(topics::kActions, action("act-2", kStart, "inc-1", "orders"));
    ActionResult r;
    r.id = "res-1";
    r.ts = kStart + 10;
    r.action_id = "act-1";
    r.incident_id = "inc-1";
    r.service = "orders";
    r.detail = "deleted";
    feed(topics::kActions, r);
    FeatureWindow w;
    w.id = "w-1";
    w.start = kStart;
    w.end = kStart + 60'000;
    w.service = "orders";
    w.set("cpu_utilization_mean", 0.4);
    w.set("memory_utilization_max", 0.8);
    w.set("error_ratio", 0.01);  // latency and the rest absent: null in the answer
    feed(topics::kFeatures, w);
  }
};

TEST_F(OpenApiConformance, EveryOperationAndEveryDocumentedResponseIsExercisedAndValid) {
  feed_everything();
  const json doc = json::parse(openapi_document());
  Validator validator(doc);
  const std::string big = R"({"note":")" + std::string(5000, 'n') + "\"}";  // over the fixture's 4096 bytes

  struct Call {
    std::string method;    // get | post
    std::string doc_path;  // as in the document
    std::string url;       // what is requested
    std::string body;
    bool with_token = true;
    bool revalidate = false;  // send If-None-Match with the ETag of the previous answer
  };
  const std::vector<Call> calls = {
      {"get", "/incidents", "/api/v1/incidents?status=open&service=orders&limit=10"},
      {"get", "/incidents", "/api/v1/incidents?status=open&service=orders&limit=10", "", true, true},
      {"get", "/incidents", "/api/v1/incidents?limit=nope"},
      {"get", "/incidents", "/api/v1/incidents", "", false},
      {"get", "/incidents/{id}", "/api/v1/incidents/inc-1"},
      {"get", "/incidents/{id}", "/api/v1/incidents/missing"},
      {"get", "/incidents/{id}", "/api/v1/incidents/inc-1", "", false},
      {"post", "/incidents/{id}/acknowledge", "/api/v1/incidents/inc-1/acknowledge", R"({"by":"alice"})"},
      {"post", "/incidents/{id}/acknowledge", "/api/v1/incidents/inc-1/acknowledge", "", false},
      {"post", "/incidents/{id}/acknowledge", "/api/v1/incidents/missing/acknowledge"},
      {"post", "/incidents/{id}/acknowledge", "/api/v1/incidents/inc-1/acknowledge", R"({"by":7})"},
      {"post", "/incidents/{id}/acknowledge", "/api/v1/incidents/inc-1/acknowledge", big},
      {"post", "/incidents/{id}/resolve", "/api/v1/incidents/inc-2/resolve", R"({"note":"done"})"},
      {"post", "/incidents/{id}/resolve", "/api/v1/incidents/inc-2/resolve"},
      {"post", "/incidents/{id}/resolve", "/api/v1/incidents/inc-1/resolve", R"({"note":)"},
      {"post", "/incidents/{id}/resolve", "/api/v1/incidents/inc-1/resolve", big},
      {"post", "/incidents/{id}/resolve", "/api/v1/incidents/inc-1/resolve", "", false},
      {"post", "/incidents/{id}/resolve", "/api/v1/incidents/missing/resolve"},
      {"get", "/anomalies", "/api/v1/anomalies?min_score=0.5&incident=inc-1"},
      {"get", "/anomalies", "/api/v1/anomalies?min_score=high"},
      {"get", "/anomalies", "/api/v1/anomalies", "", false},
      {"get", "/anomalies/scores", "/api/v1/anomalies/scores?step=60000"},
      {"get", "/anomalies/scores", "/api/v1/anomalies/scores?step=10"},
      {"get", "/anomalies/scores", "/api/v1/anomalies/scores", "", false},
      {"get", "/actions", "/api/v1/actions?incident=inc-1&status=pending"},
      {"get", "/actions", "/api/v1/actions?status=maybe"},
      {"get", "/actions", "/api/v1/actions", "", false},
      {"post", "/actions", "/api/v1/actions", R"({"service":"orders","kind":"rollout_restart","target":"orders"})"},
      {"post", "/actions", "/api/v1/actions", R"({"service":"orders"})"},
      {"post", "/actions", "/api/v1/actions", R"({"service":"orders","kind":"notify_only"})", false},
      {"post", "/actions", "/api/v1/actions", big},
      {"get", "/actions/{id}", "/api/v1/actions/act-1"},
      {"get", "/actions/{id}", "/api/v1/actions/missing"},
      {"get", "/actions/{id}", "/api/v1/actions/act-1", "", false},
      {"post", "/actions/{id}/approve", "/api/v1/actions/act-1/approve"},
      {"post", "/actions/{id}/approve", "/api/v1/actions/act-1/approve"},
      {"post", "/actions/{id}/approve", "/api/v1/actions/missing/approve"},
      {"post", "/actions/{id}/approve", "/api/v1/actions/act-2/approve", "[1]"},
      {"post", "/actions/{id}/approve", "/api/v1/actions/act-2/approve", "", false},
      {"post", "/actions/{id}/approve", "/api/v1/actions/act-2/approve", big},
      {"post", "/actions/{id}/reject", "/api/v1/actions/act-2/reject", R"({"by":"bob","note":"too risky"})"},
      {"post", "/actions/{id}/reject", "/api/v1/actions/act-2/reject", "", false},
      {"post", "/actions/{id}/reject", "/api/v1/actions/act-2/reject", R"({"reason":"x"})"},
      {"post", "/actions/{id}/reject", "/api/v1/actions/act-2/reject"},
      {"post", "/actions/{id}/reject", "/api/v1/actions/missing/reject"},
      {"post", "/actions/{id}/reject", "/api/v1/actions/act-2/reject", big},
      {"get", "/services", "/api/v1/services"},
      {"get", "/services", "/api/v1/services", "", false},
      {"get", "/services/{name}/metrics", "/api/v1/services/orders/metrics"},
      {"get", "/services/{name}/metrics", "/api/v1/services/orders/metrics?from=yesterday"},
      {"get", "/services/{name}/metrics", "/api/v1/services/nobody/metrics"},
      {"get", "/services/{name}/metrics", "/api/v1/services/orders/metrics", "", false},
      {"get", "/models", "/api/v1/models"},
      {"get", "/models", "/api/v1/models", "", false},
      {"get", "/healthz", "/healthz", "", false},
      {"get", "/openapi.json", "/api/v1/openapi.json", "", false},
      {"get", "/events", "/api/v1/events?types=nothing"},
      {"get", "/events", "/api/v1/events", "", false},
  };

  std::set<std::string> exercised;  // "get /incidents 200"
  std::string last_etag;
  auto check = [&](const std::string& method, const std::string& doc_path, const httplib::Result& res) {
    ASSERT_TRUE(res);
    ASSERT_TRUE(doc["paths"].contains(doc_path));
    const json& op = doc["paths"][doc_path][method];
    const std::string status = std::to_string(res->status);
    ASSERT_TRUE(op["responses"].contains(status)) << "undocumented status " << status << ": " << res->body;
    exercised.insert(method + " " + doc_path + " " + status);
    const json& response = validator.resolve(op["responses"][status]);
    if (!response.contains("content")) {
      EXPECT_TRUE(res->body.empty()) << "documented without a body: " << res->body;
      return;
    }
    ASSERT_TRUE(response["content"].contains("application/json")) << status;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
    json body = json::parse(res->body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << res->body;
    std::vector<std::string> errors;
    validator.validate(body, response["content"]["application/json"]["schema"], "body", errors);
    EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors) << "\n" << res->body;
  };

  for (const Call& c : calls) {
    SCOPED_TRACE(c.method + " " + c.url + (c.with_token ? "" : " (no token)"));
    httplib::Headers headers = c.with_token ? auth() : httplib::Headers{};
    if (c.revalidate) headers.emplace("If-None-Match", last_etag);
    auto res = c.method == "get" ? client()->Get(c.url.c_str(), headers)
                                 : client()->Post(c.url.c_str(), headers, c.body, "application/json");
    check(c.method, c.doc_path, res);
    if (res && res->has_header("ETag")) last_etag = res->get_header_value("ETag");
  }

  // 403: the same routes on an API that has no token configured (mutations disabled).
  {
    Config open_config(schema_);
    open_config.set("api.listen", "127.0.0.1:0", "test");
    ServiceContext open_ctx{bus_, clock_, open_config, metrics_, &store_, nullptr, "t2"};
    ApiService open_api(open_config);
    open_api.start(open_ctx);
    httplib::Client c("127.0.0.1", open_api.port());
    c.set_read_timeout(5);
    for (const auto& [path, ops] : doc["paths"].items()) {
      if (!ops.contains("post")) continue;
      SCOPED_TRACE("POST " + path + " without api.token");
      check("post", path, c.Post(url_of(doc, path).c_str(), auth(), "{}", "application/json"));
    }
    open_api.stop();
  }

  // The event stream: 200 with text/event-stream as documented; a second client over
  // api.sse_max_clients gets the documented 503.
  {
    std::atomic<int> status{0};
    std::atomic<bool> release{false};
    std::string content_type;
    std::thread holder([&] {
      auto c = client();
      c->Get(
          "/api/v1/events", auth(),
          [&](const httplib::Response& r) {
            content_type = r.get_header_value("Content-Type");
            status = r.status;
            return true;
          },
          [&](const char*, std::size_t) { return !release.load(); });
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (api_->stream_clients() == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(api_->stream_clients(), 1u);
    check("get", "/events", client()->Get("/api/v1/events", auth()));
    release = true;
    holder.join();
    EXPECT_EQ(status.load(), 200);
    EXPECT_TRUE(doc["paths"]["/events"]["get"]["responses"]["200"]["content"].contains(content_type)) << content_type;
    exercised.insert("get /events 200");
  }

  for (const auto& [path, ops] : doc["paths"].items())
    for (const auto& [method, op] : ops.items()) {
      if (method == "servers") continue;
      for (const auto& [status, response] : op["responses"].items())
        EXPECT_TRUE(exercised.count(method + " " + path + " " + status))
            << "documented but never exercised: " << method << " " << path << " -> " << status;
    }
}

TEST_F(OpenApiConformance, AMethodAPathDoesNotAnswerIsAJson405NamingTheAllowedOnes) {
  const json doc = json::parse(openapi_document());
  for (const auto& [path, ops] : doc["paths"].items()) {
    const std::string url = url_of(doc, path);
    std::string documented;
    for (const char* m : {"get", "post"})
      if (ops.contains(m)) documented += (documented.empty() ? "" : ", ") + std::string(m == std::string("get") ? "GET" : "POST");
    std::vector<std::string> methods = {"PUT", "DELETE", "PATCH"};
    if (!ops.contains("post")) methods.push_back("POST");
    if (!ops.contains("get")) methods.push_back("GET");
    for (const std::string& m : methods) {
      SCOPED_TRACE(m + " " + url);
      auto res = client()->send([&] {
        httplib::Request req;
        req.method = m;
        req.path = url;
        req.headers = auth();
        return req;
      }());
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, 405) << res->body;
      EXPECT_EQ(res->get_header_value("Allow"), documented);
      EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
      json body = json::parse(res->body, nullptr, false);
      ASSERT_TRUE(body.is_object()) << res->body;
      EXPECT_EQ(body["error"]["code"], "method_not_allowed");
      EXPECT_NE(body["error"]["message"].get<std::string>().find(m), std::string::npos);
    }
  }
  // A path no route knows stays a 404, as JSON too.
  auto res = client()->Get("/api/v1/no-such-thing", auth());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "not_found");
}

}  // namespace
}  // namespace selfheal::testing_api
