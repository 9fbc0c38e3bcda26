// Conformance of the API to its OpenAPI document: every documented operation is exercised, answers
// with a documented status, and its JSON body validates against the documented schema; every route
// the brief asks for is documented; every $ref resolves.
#include <set>

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
           {"get", "/services"}, {"get", "/models"}, {"get", "/openapi.json"}, {"get", "/events"}}) {
    ASSERT_TRUE(doc["paths"].contains(path)) << path;
    EXPECT_TRUE(doc["paths"][path].contains(method)) << method << " " << path;
  }
}

class OpenApiConformance : public ApiFixture {};

TEST_F(OpenApiConformance, EveryOperationAnswersAsDocumented) {
  // Data for every route to return something real.
  Anomaly an = anomaly("an-1", kStart, "orders", 0.97);
  an.labels = {{"rule", "memory"}};
  feed(topics::kAnomalies, an);
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

  const json doc = json::parse(openapi_document());
  Validator validator(doc);

  struct Call {
    std::string method;   // get | post
    std::string doc_path; // as in the document
    std::string url;      // what is requested
    std::string body;
    bool with_token = true;
  };
  const std::vector<Call> calls = {
      {"get", "/incidents", "/api/v1/incidents?status=open&service=orders&limit=10"},
      {"get", "/incidents", "/api/v1/incidents?limit=nope"},
      {"get", "/incidents/{id}", "/api/v1/incidents/inc-1"},
      {"get", "/incidents/{id}", "/api/v1/incidents/missing"},
      {"post", "/incidents/{id}/acknowledge", "/api/v1/incidents/inc-1/acknowledge", R"({"by":"alice"})"},
      {"post", "/incidents/{id}/acknowledge", "/api/v1/incidents/inc-1/acknowledge", "", false},
      {"post", "/incidents/{id}/acknowledge", "/api/v1/incidents/missing/acknowledge"},
      {"post", "/incidents/{id}/resolve", "/api/v1/incidents/inc-2/resolve", R"({"note":"done"})"},
      {"post", "/incidents/{id}/resolve", "/api/v1/incidents/inc-2/resolve"},
      {"post", "/incidents/{id}/resolve", "/api/v1/incidents/inc-1/resolve", R"({"note":)"},
      {"post", "/incidents/{id}/resolve", "/api/v1/incidents/inc-1/resolve", R"({"note":")" + std::string(5000, 'n') + "\"}"},
      {"get", "/anomalies", "/api/v1/anomalies?min_score=0.5&incident=inc-1"},
      {"get", "/anomalies", "/api/v1/anomalies?min_score=high"},
      {"get", "/actions", "/api/v1/actions?incident=inc-1&status=pending"},
      {"get", "/actions", "/api/v1/actions?status=maybe"},
      {"post", "/actions", "/api/v1/actions", R"({"service":"orders","kind":"rollout_restart","target":"orders"})"},
      {"post", "/actions", "/api/v1/actions", R"({"service":"orders"})"},
      {"get", "/actions/{id}", "/api/v1/actions/act-1"},
      {"get", "/actions/{id}", "/api/v1/actions/missing"},
      {"post", "/actions/{id}/approve", "/api/v1/actions/act-1/approve"},
      {"post", "/actions/{id}/approve", "/api/v1/actions/act-1/approve"},
      {"post", "/actions/{id}/approve", "/api/v1/actions/missing/approve"},
      {"post", "/actions/{id}/reject", "/api/v1/actions/act-2/reject", R"({"by":"bob","note":"too risky"})"},
      {"post", "/actions/{id}/reject", "/api/v1/actions/act-2/reject", "", false},
      {"post", "/actions/{id}/reject", "/api/v1/actions/act-2/reject", R"({"reason":"x"})"},
      {"get", "/services", "/api/v1/services"},
      {"get", "/models", "/api/v1/models"},
      {"get", "/openapi.json", "/api/v1/openapi.json"},
      {"get", "/events", "/api/v1/events?types=nothing"},
  };

  std::set<std::string> exercised;
  for (const Call& c : calls) {
    const std::string what = c.method + " " + c.url;
    SCOPED_TRACE(what);
    httplib::Headers headers = c.with_token ? auth() : httplib::Headers{};
    auto res = c.method == "get" ? client()->Get(c.url.c_str(), headers)
                                 : client()->Post(c.url.c_str(), headers, c.body, "application/json");
    ASSERT_TRUE(res);
    ASSERT_TRUE(doc["paths"].contains(c.doc_path));
    const json& op = doc["paths"][c.doc_path][c.method];
    const std::string status = std::to_string(res->status);
    ASSERT_TRUE(op["responses"].contains(status)) << "undocumented status " << status << ": " << res->body;
    const json& response = validator.resolve(op["responses"][status]);
    ASSERT_TRUE(response["content"].contains("application/json")) << status;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
    json body = json::parse(res->body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << res->body;
    std::vector<std::string> errors;
    validator.validate(body, response["content"]["application/json"]["schema"], "body", errors);
    EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors) << "\n" << res->body;
    exercised.insert(c.method + " " + c.doc_path);
  }

  // The event stream answers 200 with text/event-stream as documented.
  {
    int status = 0;
    std::string content_type;
    client()->Get(
        "/api/v1/events",
        [&](const httplib::Response& r) {
          status = r.status;
          content_type = r.get_header_value("Content-Type");
          return true;
        },
        [&](const char*, std::size_t) { return false; });
    EXPECT_EQ(status, 200);
    EXPECT_TRUE(doc["paths"]["/events"]["get"]["responses"]["200"]["content"].contains(content_type)) << content_type;
  }

  for (const auto& [path, ops] : doc["paths"].items())
    for (const auto& [method, op] : ops.items())
      EXPECT_TRUE(exercised.count(method + " " + path)) << "not exercised: " << method << " " << path;
}

TEST_F(OpenApiConformance, EveryDocumentedPathAnswersOnlyItsDocumentedMethods) {
  const json doc = json::parse(openapi_document());
  for (const auto& [path, ops] : doc["paths"].items()) {
    std::string url = "/api/v1" + path;
    if (auto p = url.find("{id}"); p != std::string::npos) url.replace(p, 4, "x");
    if (!ops.contains("post")) {
      auto res = client()->Post(url.c_str(), auth(), "{}", "application/json");
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, 404) << "POST " << url << " is answered but not documented";
    }
    if (!ops.contains("get") && path != "/events") {
      auto res = client()->Get(url.c_str());
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, 404) << "GET " << url << " is answered but not documented";
    }
  }
}

}  // namespace
}  // namespace selfheal::testing_api
