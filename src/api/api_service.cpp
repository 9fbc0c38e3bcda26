#include "api/api_service.hpp"

#include <sys/socket.h>

#include <filesystem>

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <regex>
#include <optional>
#include <set>
#include <stdexcept>

#include "api/openapi.hpp"
#include "contracts/events_json.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/http_server.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "store/sqlite_store.hpp"

namespace selfheal {

using json = nlohmann::json;

void declare_api_config(ConfigSchema& s) {
  s.add("api.listen", ConfigType::String, "127.0.0.1:8080", "Address of the REST API (HOST:PORT; port 0 picks a free one)");
  s.add("api.token", ConfigType::String, "",
        "Bearer token for mutating routes (approve, reject, resolve, ...); empty disables them. "
        "Prefer the environment: SELFHEAL_API_TOKEN");
  s.add("api.read_requires_token", ConfigType::Bool, "false", "Require the bearer token on read routes too");
  s.add("api.max_body_bytes", ConfigType::Int, "65536", "Largest request body accepted (413 above)");
  s.add("api.max_page_size", ConfigType::Int, "1000", "Largest `limit` a list route accepts");
  s.add("api.sse_max_clients", ConfigType::Int, "16", "Concurrent /api/v1/events streams (503 above)");
  s.add("api.sse_heartbeat", ConfigType::Duration, "5s", "Idle time after which an event stream gets a keep-alive comment");
  s.add("api.threads", ConfigType::Int, "16",
        "HTTP worker threads, in addition to one per event stream; a keep-alive connection holds one while it is open");
  s.add("api.series_points", ConfigType::Int, "720",
        "Points kept per service for the charts (resource windows and anomaly scores each; 720 = 2 h of 10 s windows)");
  s.add("api.series_services", ConfigType::Int, "256",
        "Services whose chart series are kept; windows of further services are ignored (bounds memory)");
  s.add("api.web_root", ConfigType::String, "web/dist",
        "Folder of the built web dashboard served at / (built from web/ by the CMake build); "
        "empty or without an index.html: no dashboard");
}

namespace {

// An error that becomes {"error":{"code","message"}} with an HTTP status.
struct ApiError {
  int status;
  std::string code;
  std::string message;
};

std::string error_body(const std::string& code, const std::string& message) {
  return json{{"error", {{"code", code}, {"message", message}}}}.dump();
}

json data_of(const Event& e) {
  json envelope = json::parse(encode_event(e));
  return std::move(envelope["data"]);
}

// "a, b, c": every name of an enum whose last value is `last`.
template <typename E>
std::string all_names(E last) {
  std::string out;
  for (std::size_t k = 0; k <= static_cast<std::size_t>(last); ++k) {
    if (!out.empty()) out += ", ";
    out += to_string(static_cast<E>(k));
  }
  return out;
}

std::string json_quoted(const std::string& s) { return json(s).dump(); }

// Query parameters of one request: refuses unknown and repeated names, and parses values with an
// error that names the parameter.
class Query {
 public:
  Query(const httplib::Request& req, std::initializer_list<const char*> allowed) : req_(req) {
    std::set<std::string> names(allowed.begin(), allowed.end());
    std::set<std::string> seen;
    for (const auto& [k, v] : req.params) {
      if (!names.count(k)) {
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        throw ApiError{400, "invalid_parameter",
                       "query parameter '" + k + "' is not known here" + (list.empty() ? "" : "; known: " + list)};
      }
      if (!seen.insert(k).second)
        throw ApiError{400, "invalid_parameter", "query parameter '" + k + "' is given more than once"};
    }
  }

  std::string str(const char* name) const { return req_.has_param(name) ? req_.get_param_value(name) : ""; }

  std::int64_t integer(const char* name, std::int64_t fallback, std::int64_t min, std::int64_t max) const {
    if (!req_.has_param(name)) return fallback;
    const std::string v = req_.get_param_value(name);
    std::int64_t out = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc() || p != v.data() + v.size() || out < min || out > max)
      throw ApiError{400, "invalid_parameter", "query parameter '" + std::string(name) + "': expected an integer from " +
                                                   std::to_string(min) + " to " + std::to_string(max) + ", got " + json_quoted(v)};
    return out;
  }

  double number(const char* name, double fallback, double min, double max) const {
    if (!req_.has_param(name)) return fallback;
    const std::string v = req_.get_param_value(name);
    double out = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc() || p != v.data() + v.size() || !(out >= min && out <= max))
      throw ApiError{400, "invalid_parameter", "query parameter '" + std::string(name) + "': expected a number from " +
                                                   json(min).dump() + " to " + json(max).dump() + ", got " + json_quoted(v)};
    return out;
  }

  // Milliseconds since the epoch, or ISO 8601.
  std::optional<TimeMs> time(const char* name) const {
    if (!req_.has_param(name)) return std::nullopt;
    const std::string v = req_.get_param_value(name);
    TimeMs out = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec == std::errc() && p == v.data() + v.size()) return out;
    if (parse_iso8601(v, out)) return out;
    throw ApiError{400, "invalid_parameter", "query parameter '" + std::string(name) +
                                                 "': expected milliseconds since the epoch or ISO 8601 "
                                                 "(2026-11-24T10:00:00Z), got " + json_quoted(v)};
  }

  template <typename E>
  std::optional<E> enumeration(const char* name, E last) const {
    if (!req_.has_param(name)) return std::nullopt;
    const std::string v = req_.get_param_value(name);
    E out{};
    if (!parse_enum(v, out))
      throw ApiError{400, "invalid_parameter", "query parameter '" + std::string(name) + "': unknown value " + json_quoted(v) +
                                                   "; expected one of " + all_names(last)};
    return out;
  }

  TimeRange range() const {
    TimeRange r;
    if (auto f = time("from")) r.from = *f;
    if (auto t = time("to")) r.to = *t;
    if (r.from > r.to)
      throw ApiError{400, "invalid_parameter", "query parameter 'from' is after 'to'"};
    return r;
  }

 private:
  const httplib::Request& req_;
};

// A JSON object body; an empty body is an empty object when `required` is false.
json parse_body(const httplib::Request& req, bool required) {
  if (req.body.empty()) {
    if (required) throw ApiError{400, "invalid_body", "request body: expected a JSON object, got nothing"};
    return json::object();
  }
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded()) throw ApiError{400, "invalid_body", "request body: not valid JSON"};
  if (!body.is_object()) throw ApiError{400, "invalid_body", std::string("request body: expected a JSON object, got ") + body.type_name()};
  return body;
}

std::string body_string(const json& body, const char* field, std::size_t max_len, bool required = false,
                        const std::string& fallback = "") {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) {
    if (required) throw ApiError{400, "invalid_body", std::string("field '") + field + "': required"};
    return fallback;
  }
  if (!it->is_string())
    throw ApiError{400, "invalid_body", std::string("field '") + field + "': expected a string, got " + it->type_name()};
  std::string v = it->get<std::string>();
  if (v.size() > max_len)
    throw ApiError{400, "invalid_body", std::string("field '") + field + "': longer than " + std::to_string(max_len) + " characters"};
  if (required && v.empty()) throw ApiError{400, "invalid_body", std::string("field '") + field + "': must not be empty"};
  return v;
}

void refuse_unknown_fields(const json& body, std::initializer_list<const char*> allowed) {
  for (auto it = body.begin(); it != body.end(); ++it) {
    bool known = false;
    for (const char* a : allowed) known = known || it.key() == a;
    if (!known) throw ApiError{400, "invalid_body", "field '" + it.key() + "' is not known here"};
  }
}

// Equal-time comparison: the time depends only on the expected token's length, not on where the
// presented token first differs.
bool tokens_equal(std::string_view presented, std::string_view expected) {
  unsigned char diff = presented.size() != expected.size() ? 1 : 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    unsigned char p = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
    diff |= static_cast<unsigned char>(p ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0;
}

const char* kPrefix = "/api/v1";

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------------

class ApiService::Routes {
 public:
  explicit Routes(ApiService& api) : api_(api) {}

  void mount(httplib::Server& s) {
    const std::string p = kPrefix;
    get(s, p + "/incidents", "/incidents", &Routes::list_incidents);
    get(s, p + R"(/incidents/([^/]+))", "/incidents/{id}", &Routes::get_incident);
    post(s, p + R"(/incidents/([^/]+)/acknowledge)", "/incidents/{id}/acknowledge", &Routes::acknowledge);
    post(s, p + R"(/incidents/([^/]+)/resolve)", "/incidents/{id}/resolve", &Routes::resolve);
    get(s, p + "/anomalies", "/anomalies", &Routes::list_anomalies);
    get(s, p + "/anomalies/scores", "/anomalies/scores", &Routes::anomaly_scores);
    get(s, p + "/actions", "/actions", &Routes::list_actions);
    post(s, p + "/actions", "/actions", &Routes::request_action);
    get(s, p + R"(/actions/([^/]+))", "/actions/{id}", &Routes::get_action);
    post(s, p + R"(/actions/([^/]+)/approve)", "/actions/{id}/approve", &Routes::approve);
    post(s, p + R"(/actions/([^/]+)/reject)", "/actions/{id}/reject", &Routes::reject);
    get(s, p + "/services", "/services", &Routes::list_services);
    get(s, p + R"(/services/([^/]+)/metrics)", "/services/{name}/metrics", &Routes::service_metrics);
    get(s, p + "/models", "/models", &Routes::list_models);
    get(s, p + "/openapi.json", "/openapi.json", &Routes::openapi);
    get(s, p + "/events", "/events", &Routes::events);
    // Liveness of the API itself, outside /api/v1 as is usual; also the load bench's baseline.
    get(s, "/healthz", "/healthz", &Routes::healthz);
  }

  // The methods answered on a path, for 405 answers: "GET, POST"; empty when no route matches.
  std::string allowed_methods(const std::string& path) const {
    std::string out;
    for (const auto& [pattern, method] : patterns_)
      if (std::regex_match(path, pattern) && out.find(method) == std::string::npos)
        out += (out.empty() ? "" : ", ") + method;
    return out;
  }

 private:
  using Method = void (Routes::*)(const httplib::Request&, httplib::Response&);

  void get(httplib::Server& s, const std::string& pattern, const char* route, Method m) {
    s.Get(pattern, wrap(route, "GET", m, false));
    patterns_.emplace_back(std::regex(pattern), "GET");
  }
  void post(httplib::Server& s, const std::string& pattern, const char* route, Method m) {
    s.Post(pattern, wrap(route, "POST", m, true));
    patterns_.emplace_back(std::regex(pattern), "POST");
  }

  // Every handler goes through here: auth, errors as JSON, request counts and latency.
  httplib::Server::Handler wrap(const char* route, const char* method, Method m, bool mutating) {
    MetricsRegistry& metrics = api_.ctx().metrics;
    Histogram* latency = &metrics.histogram("selfheal_api_request_seconds", "Time to answer an API request, by route",
                                            MetricsRegistry::latency_buckets_seconds(), {{"route", route}});
    // The API description and the liveness probe stay readable without a token.
    const bool open_read = std::string_view(route) == "/openapi.json" || std::string_view(route) == "/healthz";
    // The common answer's counter, looked up once rather than per request.
    Counter* ok_count = &metrics.counter("selfheal_api_requests_total", "API requests answered, by route, method and status code",
                                         {{"route", route}, {"method", method}, {"code", mutating ? "202" : "200"}});
    return [this, route, method, m, mutating, latency, open_read, ok_count, &metrics](const httplib::Request& req,
                                                                                     httplib::Response& res) {
      const std::int64_t t0 = monotonic_ns();
      res.status = 200;
      try {
        if (mutating || (api_.settings_.read_requires_token && !open_read)) authorize(req, mutating);
        (this->*m)(req, res);
      } catch (const ApiError& e) {
        res.status = e.status;
        res.set_content(error_body(e.code, e.message), "application/json");
      } catch (const std::exception& e) {
        log::error("api", "{} {} failed: {}", method, req.path, e.what());
        res.status = 500;
        res.set_content(error_body("internal", e.what()), "application/json");
      }
      latency->observe(static_cast<double>(monotonic_ns() - t0) / 1e9);
      if (res.status == (mutating ? 202 : 200))
        ok_count->inc();
      else
        metrics.counter("selfheal_api_requests_total", "API requests answered, by route, method and status code",
                        {{"route", route}, {"method", method}, {"code", std::to_string(res.status)}}).inc();
    };
  }

  void authorize(const httplib::Request& req, bool mutating) const {
    const std::string& token = api_.settings_.token;
    if (token.empty()) {
      if (mutating)
        throw ApiError{403, "mutations_disabled",
                       "api.token is not set, so changes through the API are disabled; set api.token "
                       "(or SELFHEAL_API_TOKEN) and send 'Authorization: Bearer <token>'"};
      throw ApiError{403, "reads_disabled", "api.read_requires_token is true but api.token is not set"};
    }
    const std::string header = req.get_header_value("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (header.empty())
      throw ApiError{401, "unauthorized", "missing bearer token: send 'Authorization: Bearer <api.token>'"};
    if (header.size() <= kBearer.size() || header.compare(0, kBearer.size(), kBearer) != 0)
      throw ApiError{401, "unauthorized", "header 'Authorization': expected 'Bearer <token>'"};
    if (!tokens_equal(std::string_view(header).substr(kBearer.size()), token))
      throw ApiError{401, "unauthorized", "invalid bearer token"};
  }

  static void reply(httplib::Response& res, const json& body, int status = 200) {
    res.status = status;
    res.set_content(body.dump(), "application/json");
  }

  std::size_t page_limit(const Query& q, std::size_t fallback) const {
    return static_cast<std::size_t>(
        q.integer("limit", static_cast<std::int64_t>(std::min(fallback, api_.settings_.max_page_size)), 1,
                  static_cast<std::int64_t>(api_.settings_.max_page_size)));
  }
  static std::size_t page_offset(const Query& q) {
    return static_cast<std::size_t>(q.integer("offset", 0, 0, std::numeric_limits<std::int32_t>::max()));
  }

  template <typename T>
  static json page(const std::vector<T>& items, std::size_t total, std::size_t limit, std::size_t offset) {
    json arr = json::array();
    for (const T& x : items) arr.push_back(data_of(x));
    return json{{"items", std::move(arr)}, {"total", total}, {"limit", limit}, {"offset", offset}};
  }

  Store& store() { return *api_.store_; }
  TimeMs now() { return api_.ctx().clock.now(); }

  // ----------------------------------------------------------------------------------- incidents

  void list_incidents(const httplib::Request& req, httplib::Response& res) {
    Query q(req, {"status", "service", "type", "from", "to", "limit", "offset"});
    IncidentQuery iq;
    iq.status = q.enumeration("status", IncidentStatus::Escalated);
    iq.type = q.enumeration("type", IncidentType::DependencyOutage);
    iq.service = q.str("service");
    iq.opened = q.range();
    iq.limit = page_limit(q, 50);
    iq.offset = page_offset(q);
    // Served from the cache while no incident changed: the parameters are valid by now, and the
    // answer depends on nothing but them and the stored incidents.
    // Values are length-prefixed: a value may contain '&' or '=' (service=a%26status%3Dopen).
    std::string key;
    for (const auto& [k, v] : req.params) key += k + '=' + std::to_string(v.size()) + ':' + v + '&';
    auto entry = api_.list_cache_->get_or_compute(key, [&] {
      return page(store().list_incidents(iq), store().count_incidents(iq), iq.limit, iq.offset).dump();
    });
    res.set_header("ETag", entry->etag);
    res.set_header("Cache-Control", "no-cache");
    if (req.has_header("If-None-Match") && etag_matches(req.get_header_value("If-None-Match"), entry->etag)) {
      res.status = 304;
      return;
    }
    res.set_content(entry->body, "application/json");
  }

  // If-None-Match: a list of tags (weak or strong) or *.
  static bool etag_matches(const std::string& header, const std::string& etag) {
    if (header == "*") return true;
    std::size_t pos = 0;
    while (pos < header.size()) {
      std::size_t comma = header.find(',', pos);
      std::string tag = header.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      const auto first = tag.find_first_not_of(' ');
      const auto last = tag.find_last_not_of(' ');
      tag = first == std::string::npos ? "" : tag.substr(first, last - first + 1);
      if (tag.rfind("W/", 0) == 0) tag = tag.substr(2);
      if (tag == etag) return true;
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    return false;
  }

  Incident find_incident(const std::string& id) {
    auto incident = store().get_incident(id);
    if (!incident) throw ApiError{404, "not_found", "incident " + json_quoted(id) + " does not exist"};
    return *incident;
  }

  static json ack_json(const Acknowledgement& a) {
    return json{{"incident_id", a.incident_id}, {"ts", a.ts}, {"by", a.by}, {"note", a.note}};
  }

  void get_incident(const httplib::Request& req, httplib::Response& res) {
    Query q(req, {});
    const Incident incident = find_incident(req.matches[1]);
    AnomalyQuery aq;
    aq.incident_id = incident.id;
    aq.limit = 1000;
    ActionQuery cq;
    cq.incident_id = incident.id;
    cq.limit = 1000;
    json anomalies = json::array();
    for (const Anomaly& a : store().list_anomalies(aq)) anomalies.push_back(data_of(a));
    json actions = json::array();
    json results = json::array();
    for (const RemediationAction& a : store().list_actions(cq)) {
      actions.push_back(data_of(a));
      for (const ActionResult& r : store().list_action_results(a.id)) results.push_back(data_of(r));
    }
    auto ack = store().get_acknowledgement(incident.id);
    reply(res, json{{"incident", data_of(incident)},
                    {"acknowledgement", ack ? ack_json(*ack) : json(nullptr)},
                    {"anomalies", std::move(anomalies)},
                    {"actions", std::move(actions)},
                    {"action_results", std::move(results)}});
  }

  void acknowledge(const httplib::Request& req, httplib::Response& res) {
    Query q(req, {});
    json body = parse_body(req, false);
    refuse_unknown_fields(body, {"by", "note"});
    Acknowledgement ack;
    ack.incident_id = req.matches[1];
    ack.by = body_string(body, "by", 200, false, "api");
    ack.note = body_string(body, "note", 2000);
    ack.ts = now();
    {
      std::lock_guard lock(api_.mutation_mu_);
      find_incident(ack.incident_id);
      store().put_acknowledgement(ack);
    }
    json out = ack_json(ack);
    api_.stream_.publish("acknowledgement", out.dump());
    reply(res, out);
  }

  void resolve(const httplib::Request& req, httplib::Response& res) {
    Query q(req, {});
    json body = parse_body(req, false);
    refuse_unknown_fields(body, {"by", "note"});
    const std::string by = body_string(body, "by", 200, false, "api");
    const std::string note = body_string(body, "note", 2000);
    Incident incident;
    {
      std::lock_guard lock(api_.mutation_mu_);
      incident = find_incident(req.matches[1]);
      if (incident.status == IncidentStatus::Resolved)
        throw ApiError{409, "conflict", "incident " + json_quoted(incident.id) + " is already resolved"};
      const TimeMs t = now();
      incident.revision += 1;
      incident.status = IncidentStatus::Resolved;
      incident.resolved_at = t;
      incident.updated_at = std::max(incident.updated_at, t);
      incident.timeline.push_back(TimelineEntry{t, "resolved by operator " + by + (note.empty() ? "" : ": " + note)});
      // Stored at once so the caller reads its own write; the bus copy reaches the classifier and,
      // through this service's own subscription, the store again (a harmless duplicate).
      store().put_incident(incident);
      api_.list_cache_->invalidate();
    }
    publish(topics::kIncidents, incident);
    reply(res, data_of(incident));
  }

  // ----------------------------------------------------------------------------------- anomalies

  void list_anomalies(const httplib::Request& req, httplib::Response& res) {
    Query q(req, {"service", "incident", "from", "to", "min_score", "limit", "offset"});
    AnomalyQuery aq;
    aq.service = q.str("service");
    aq.incident_id = q.str("incident");
    aq.time = q.range();
    aq.min_score = q.number("min_score", 0, 0, 1);
    aq.limit = page_limit(q, 100);
    aq.offset = page_offset(q);
    reply(res, page(store().list_anomalies(aq), store().count_anomalies(aq), aq.limit, aq.offset));
  }

  // Per service, the highest anomaly score in each `step` of [from, to] (the anomaly chart).
  void anomaly_scores(const httplib::Request& req, httplib::Response& res) {
    Query q(req, {"service", "from", "to", "step"});
    const TimeMs step = q.integer("step", 60'000, 1'000, 24LL * 3600 * 1000);
    auto [from, to] = recent_range(q, 3600 * 1000);
    if ((to - from) / step > kMaxBuckets)
      throw ApiError{400, "invalid_parameter", "query parameter 'step': " + std::to_string(step) + " ms makes more than " +
                                                   std::to_string(kMaxBuckets) + " buckets between 'from' and 'to'"};
    json series = json::array();
    for (const auto& s : api_.series_->scores(q.str("service"), from, to, step)) {
      json points = json::array();
      for (const ScorePoint& p : s.points) points.push_back(json{{"ts", p.ts}, {"score", p.score}, {"signal", p.signal}});
      series.push_back(json{{"service", s.service}, {"points", std::move(points)}});
    }
    reply(res, json{{"from", from}, {"to", to}, {"step", step}, {"series", std::move(series)}});
  }

  // [from, to] of a chart route: as given, else the `span` before the newest point seen (event
  // time, so a simulated run's charts show its own recent past).
  std::pair<TimeMs, TimeMs> recent_range(const Query& q, TimeMs span) const {
    const auto given_from = q.time("from");
    const auto given_to = q.time("to");
    const TimeMs to = given_to ? *given_to : std::max<TimeMs>(api_.series_->latest_ts(), 0);
    const TimeMs from = given_from ? *given_from : to - span;
    if (from > to) throw ApiError{400, "invalid_parameter", "query parameter 'from' is after 'to'"};
    return {from, to};
  }

  static json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

  // ----------------------------------------------------------------------------------- actions

  void list_actions(const httplib::Request& req, httplib::Response& res) {
    Query q(req, {"incident", "service", "status", "from", "to", "limit", "offset"});
    ActionQuery cq;
    cq.incident_id = q.str("incident");
    cq.service = q.str("service");
    cq.status = q.enumeration("status", ActionStatus::NotRecovered);
    cq.time = q.range();
    cq.limit = page_limit(q, 100);
    cq.offset = page_offset(q);
    reply(res, page(store().list_actions(cq), store().count_actions(cq), cq.limit, cq.offset));
  }

  RemediationAction find_action(const std::string& id) {
    auto action = store().get_action(id);
    if (!action) throw ApiError{404, "not_found", "action " + json_quoted(id) + " does not exist"};
    return *action;
  }

  void get_action(const httplib::Request& req, httplib::Response& res) {
    Query q(req, {});
    const RemediationAction action = find_action(req.matches[1]);
    json results = json::array();
    for (const ActionResult& r : store().list_action_results(action.id)) results.push_back(data_of(r));
    reply(res, json{{"action", data_of(action)}, {"results", std::move(results)}});
  }

  void decide(const httplib::Request& req, httplib::Response& res, ActionStatus decision) {
    Query q(req, {});
    json body = parse_body(req, false);
    refuse_unknown_fields(body, {"by", "note"});
    const std::string by = body_string(body, "by", 200, false, "api");
    const std::string note = body_string(body, "note", 2000);
    RemediationAction action;
    {
      std::lock_guard lock(api_.mutation_mu_);
      action = find_action(req.matches[1]);
      if (action.status != ActionStatus::Pending)
        throw ApiError{409, "conflict", "action " + json_quoted(action.id) + " is " + std::string(to_string(action.status)) +
                                            "; only pending actions can be " + std::string(to_string(decision))};
      action.status = decision;
      action.ts = std::max(action.ts, now());
      action.reason += (action.reason.empty() ? "" : "; ") + std::string(to_string(decision)) + " by " + by +
                       (note.empty() ? "" : ": " + note);
      store().put_action(action);
    }
    publish(topics::kActions, action);
    reply(res, data_of(action), 202);
  }
  void approve(const httplib::Request& req, httplib::Response& res) { decide(req, res, ActionStatus::Approved); }
  void reject(const httplib::Request& req, httplib::Response& res) { decide(req, res, ActionStatus::Rejected); }

  void request_action(const httplib::Request& req, httplib::Response& res) {
    Query q(req, {});
    json body = parse_body(req, true);
    refuse_unknown_fields(body, {"service", "incident_id", "kind", "namespace", "target", "replicas", "dry_run"});
    RemediationAction a;
    a.service = body_string(body, "service", 253, true);
    a.incident_id = body_string(body, "incident_id", 200);
    const std::string kind = body_string(body, "kind", 64, true);
    if (!parse_enum(kind, a.kind))
      throw ApiError{400, "invalid_body", "field 'kind': unknown value " + json_quoted(kind) + "; expected one of " +
                                              all_names(ActionKind::NotifyOnly)};
    a.namespace_name = body_string(body, "namespace", 63, false, "shop");
    a.target = body_string(body, "target", 253);
    if (a.target.empty() && a.kind != ActionKind::NotifyOnly)
      throw ApiError{400, "invalid_body", "field 'target': required for kind " + kind +
                                              " (a pod name for delete_pod, else the deployment name)"};
    if (auto it = body.find("replicas"); it != body.end() && !it->is_null()) {
      if (!it->is_number_integer() || it->get<std::int64_t>() < 0 || it->get<std::int64_t>() > 1000)
        throw ApiError{400, "invalid_body", "field 'replicas': expected an integer from 0 to 1000"};
      a.replicas = static_cast<int>(it->get<std::int64_t>());
    } else if (a.kind == ActionKind::ScaleDeployment) {
      throw ApiError{400, "invalid_body", "field 'replicas': required for kind scale_deployment"};
    }
    if (auto it = body.find("dry_run"); it != body.end() && !it->is_null()) {
      if (!it->is_boolean()) throw ApiError{400, "invalid_body", "field 'dry_run': expected a boolean"};
      a.dry_run = it->get<bool>();
    }
    a.id = "api-" + api_.ctx().run_id + "-manual-" + std::to_string(++manual_seq_);
    a.ts = now();
    a.playbook = "manual";
    a.status = ActionStatus::Pending;
    a.reason = "manual request";
    // Not stored here: the remediator decides (its guardrails may skip it) and publishes the outcome,
    // and this service persists the request itself from the bus.
    publish(topics::kActions, a);
    reply(res, data_of(a), 202);
  }

  // ----------------------------------------------------------------------------------- services

  void list_services(const httplib::Request& req, httplib::Response& res) {
    Query q(req, {});
    json items = json::array();
    for (const std::string& service : store().list_services()) {
      IncidentQuery iq;
      iq.service = service;
      iq.limit = 20;
      auto incidents = store().list_incidents(iq);
      std::size_t open = 0;
      bool critical = false;
      for (const Incident& i : incidents) {
        if (i.status == IncidentStatus::Resolved) continue;
        ++open;
        critical = critical || i.severity == Severity::Critical || i.status == IncidentStatus::Escalated;
      }
      ActionQuery cq;
      cq.service = service;
      cq.limit = 1;
      auto actions = store().list_actions(cq);
      items.push_back(json{{"service", service},
                           {"health", critical ? "critical" : open > 0 ? "degraded" : "healthy"},
                           {"open_incidents", open},
                           {"last_incident", incidents.empty() ? json(nullptr) : data_of(incidents.front())},
                           {"last_action", actions.empty() ? json(nullptr) : data_of(actions.front())}});
    }
    reply(res, json{{"items", std::move(items)}});
  }

  // The recent resource series of one service (the CPU/memory/latency/error charts).
  void service_metrics(const httplib::Request& req, httplib::Response& res) {
    Query q(req, {"from", "to"});
    const std::string service = req.matches[1];
    auto [from, to] = recent_range(q, 2 * 3600 * 1000);
    if (!api_.series_->knows(service)) {
      const auto known = store().list_services();
      if (std::find(known.begin(), known.end(), service) == known.end())
        throw ApiError{404, "not_found", "service " + json_quoted(service) + " has sent no metric windows and has no incidents"};
    }
    json points = json::array();
    for (const ResourcePoint& p : api_.series_->resources(service, from, to))
      points.push_back(json{{"ts", p.ts},
                            {"cpu_utilization_mean", finite_or_null(p.cpu_utilization_mean)},
                            {"cpu_utilization_max", finite_or_null(p.cpu_utilization_max)},
                            {"cpu_millicores_mean", finite_or_null(p.cpu_millicores_mean)},
                            {"memory_utilization_max", finite_or_null(p.memory_utilization_max)},
                            {"memory_bytes_max", finite_or_null(p.memory_bytes_max)},
                            {"latency_p95_s", finite_or_null(p.latency_p95_s)},
                            {"error_ratio", finite_or_null(p.error_ratio)},
                            {"requests_per_s", finite_or_null(p.requests_per_s)}});
    reply(res, json{{"service", service}, {"from", from}, {"to", to}, {"points", std::move(points)}});
  }

  void healthz(const httplib::Request& req, httplib::Response& res) {
    Query q(req, {});
    static const std::string kOk = R"({"status":"ok"})";
    res.set_content(kOk, "application/json");
  }

  void list_models(const httplib::Request& req, httplib::Response& res) {
    Query q(req, {});
    // The models and rules known from the anomalies they produced (since start, plus the store's
    // recent ones): which fired, in which version, how often, and when last.
    json items = json::array();
    for (const auto& m : api_.series_->models())
      items.push_back(json{{"source", m.source}, {"name", m.name}, {"version", m.version},
                           {"anomalies", m.anomalies}, {"last_seen", m.last_seen}});
    reply(res, json{{"items", std::move(items)}});
  }

  void openapi(const httplib::Request& req, httplib::Response& res) {
    res.set_content(openapi_document(), "application/json");
  }

  // ----------------------------------------------------------------------------------- events

  void events(const httplib::Request& req, httplib::Response& res) {
    Query q(req, {"types"});
    static const std::set<std::string> kTypes = {"incident", "action", "action_result", "anomaly", "acknowledgement"};
    auto wanted = std::make_shared<std::set<std::string>>();
    std::string types = q.str("types");
    for (std::size_t start = 0; start <= types.size() && !types.empty();) {
      std::size_t comma = types.find(',', start);
      std::string t = types.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!kTypes.count(t))
        throw ApiError{400, "invalid_parameter", "query parameter 'types': unknown event type " + json_quoted(t) +
                                                     "; expected incident, action, action_result, anomaly or acknowledgement"};
      wanted->insert(t);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    std::uint64_t cursor = api_.stream_.last_seq();
    if (req.has_header("Last-Event-ID")) {
      const std::string v = req.get_header_value("Last-Event-ID");
      std::uint64_t id = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), id);
      if (ec != std::errc() || p != v.data() + v.size())
        throw ApiError{400, "invalid_parameter", "header 'Last-Event-ID': expected an event id number, got " + json_quoted(v)};
      cursor = std::min(id, cursor);
    }
    // Count the client before answering, so the limit holds even when many connect at once.
    if (api_.stream_clients_.fetch_add(1) >= api_.settings_.sse_max_clients) {
      api_.stream_clients_.fetch_sub(1);
      throw ApiError{503, "too_many_streams", "already " + std::to_string(api_.settings_.sse_max_clients) +
                                                  " event streams open (api.sse_max_clients)"};
    }
    // Gives the slot back when httplib drops the provider (client gone or server stopping).
    struct ClientGuard {
      explicit ClientGuard(std::atomic<std::size_t>& count) : n(count) {}
      ClientGuard(const ClientGuard&) = delete;
      ClientGuard& operator=(const ClientGuard&) = delete;
      ~ClientGuard() { n.fetch_sub(1); }
      std::atomic<std::size_t>& n;
    };
    auto guard = std::make_shared<ClientGuard>(api_.stream_clients_);
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    const std::int64_t heartbeat_ms = api_.settings_.sse_heartbeat_ms;
    auto state = std::make_shared<std::pair<std::uint64_t, std::int64_t>>(cursor, -1);  // cursor, last write (ms)
    ApiService& api = api_;
    res.set_chunked_content_provider(
        "text/event-stream",
        [&api, guard, wanted, state, heartbeat_ms](std::size_t, httplib::DataSink& sink) {
          if (api.stopping_.load()) return false;
          std::string out;
          if (state->second < 0) out = "retry: 2000\n: connected\n\n";  // lets clients see the stream is live
          std::uint64_t missed = 0;
          for (auto& e : api.stream_.wait_after(state->first, std::chrono::milliseconds(200), &missed)) {
            state->first = e.seq;
            if (!wanted->empty() && !wanted->count(e.type)) continue;
            out += "id: " + std::to_string(e.seq) + "\nevent: " + e.type + "\ndata: " + e.data + "\n\n";
          }
          if (missed > 0) out = ": " + std::to_string(missed) + " events were dropped for this slow client\n\n" + out;
          const std::int64_t t = monotonic_ms();
          if (out.empty() && t - state->second >= heartbeat_ms) out = ": keep-alive\n\n";
          if (out.empty()) return true;
          state->second = t;
          return sink.write(out.data(), out.size());
        });
  }

  template <typename T>
  void publish(std::string_view topic, const T& event) {
    PublishStatus st = api_.ctx().bus.publish(topic, event);
    if (st != PublishStatus::Ok)
      throw ApiError{503, "bus_unavailable", "could not publish on '" + std::string(topic) + "': the bus is closed or failing"};
    api_.ctx().metrics.counter("selfheal_api_published_total", "Events the API published for operators, by topic",
                               {{"topic", std::string(topic)}}).inc();
  }

  static constexpr TimeMs kMaxBuckets = 10'000;

  ApiService& api_;
  std::atomic<std::uint64_t> manual_seq_{0};
  std::vector<std::pair<std::regex, std::string>> patterns_;  // every route, for 405 answers
};

// ---------------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------------

ApiService::ApiService(const Config& config) {
  settings_.listen = config.str("api.listen");
  settings_.token = config.str("api.token");
  settings_.read_requires_token = config.boolean("api.read_requires_token");
  auto positive = [&](const char* key, std::int64_t v) {
    if (v <= 0) throw ConfigError("config: key '" + std::string(key) + "': must be positive, got " + std::to_string(v));
    return static_cast<std::size_t>(v);
  };
  settings_.max_body_bytes = positive("api.max_body_bytes", config.integer("api.max_body_bytes"));
  settings_.max_page_size = positive("api.max_page_size", config.integer("api.max_page_size"));
  settings_.sse_max_clients = positive("api.sse_max_clients", config.integer("api.sse_max_clients"));
  settings_.sse_heartbeat_ms = static_cast<std::int64_t>(positive("api.sse_heartbeat", config.duration_ms("api.sse_heartbeat")));
  settings_.threads = positive("api.threads", config.integer("api.threads"));
  settings_.series_points = positive("api.series_points", config.integer("api.series_points"));
  settings_.series_services = positive("api.series_services", config.integer("api.series_services"));
  series_ = std::make_unique<SeriesStore>(settings_.series_points, settings_.series_services);
}

ApiService::~ApiService() { stop(); }

void ApiService::start(ServiceContext& ctx) {
  bind(ctx);
  if (ctx.store) {
    store_ = ctx.store;
  } else {
    own_store_ = std::make_unique<SqliteStore>(":memory:");
    store_ = own_store_.get();
    log::info("api", "no store configured (store.backend = none): keeping events in memory only");
  }
  consume(topics::kAnomalies);
  consume(topics::kIncidents);
  consume(topics::kActions);
  consume(topics::kFeatures);  // service windows, for the charts
  // The ETag epoch: this process's start, so that tags of an earlier run never match.
  list_cache_ = std::make_unique<ResponseCache>(256, std::to_string(monotonic_ns() % 1'000'000'007));
  // The score chart starts with what the store remembers.
  {
    AnomalyQuery recent;
    recent.limit = settings_.series_points * 4;
    auto anomalies = store_->list_anomalies(recent);
    for (auto it = anomalies.rbegin(); it != anomalies.rend(); ++it) series_->add_anomaly(*it);
  }

  std::string error;
  if (!parse_listen_address(settings_.listen, host_, port_, error))
    throw std::runtime_error("config: key 'api.listen': " + error);

  server_ = std::make_unique<httplib::Server>();
  const std::size_t workers = settings_.threads + settings_.sse_max_clients;
  server_->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  server_->set_payload_max_length(settings_.max_body_bytes);
  server_->set_keep_alive_timeout(2);
  // httplib closes a keep-alive connection after 5 requests by default; a dashboard or a load
  // client would then pay a new TCP handshake (and a worker hand-off) every fifth request.
  server_->set_keep_alive_max_count(100000);
  // Headers and body go out in separate writes; without NODELAY, Nagle + delayed ACK add ~40 ms.
  server_->set_tcp_nodelay(true);
  routes_ = std::make_unique<Routes>(*this);
  Routes* routes = routes_.get();
  server_->set_error_handler(httplib::Server::HandlerWithResponse([routes](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string code = "http_" + std::to_string(res.status);
    std::string message = "HTTP status " + std::to_string(res.status);
    const std::string allowed = res.status == 404 && routes ? routes->allowed_methods(req.path) : "";
    if (!allowed.empty()) {
      res.status = 405;
      res.set_header("Allow", allowed);
      code = "method_not_allowed";
      message = req.method + " is not answered on " + req.path + "; allowed: " + allowed;
    } else if (res.status == 404) {
      code = "not_found";
      message = "no route " + req.method + " " + req.path;
    } else if (res.status == 413) {
      code = "payload_too_large";
      message = "request body is larger than api.max_body_bytes";
    } else if (res.status == 400) {
      code = "bad_request";
      message = "malformed HTTP request";
    }
    res.set_content(error_body(code, message), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  routes_->mount(*server_);
  // The dashboard: static files, looked up before the routes only for paths that name a file.
  const std::string web_root = ctx.config.str("api.web_root");
  if (!web_root.empty() && std::filesystem::exists(std::filesystem::path(web_root) / "index.html")) {
    server_->set_mount_point("/", web_root);
  } else if (!web_root.empty()) {
    log::info("api", "no dashboard: {} has no index.html (build it with `npm run build` in web/)", web_root);
  }

  // The listening socket, to raise its backlog after the bind (below).
  auto listen_fd = std::make_shared<std::atomic<int>>(-1);
  server_->set_socket_options([listen_fd](socket_t sock) {
    httplib::default_socket_options(sock);
    int none = -1;
    listen_fd->compare_exchange_strong(none, static_cast<int>(sock));
  });
  if (port_ == 0) {
    port_ = server_->bind_to_any_port(host_);
  } else if (!server_->bind_to_port(host_, port_)) {
    port_ = -1;
  }
  // httplib listens with a backlog of 5: when more clients connect at once than it accepts (a
  // dashboard opening its connections, a load test), the kernel drops their SYNs and each retries
  // after a full second. Calling listen() again on the bound socket raises the backlog.
  if (port_ > 0 && listen_fd->load() >= 0) ::listen(listen_fd->load(), SOMAXCONN);
  if (port_ < 0)
    throw std::runtime_error("api cannot listen on " + settings_.listen +
                             ": the port is in use or the address is not local; choose another with "
                             "--set api.listen=HOST:PORT (port 0 picks a free one)");
  serving_ = true;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  log::info("api", "serving {}/api/v1", endpoint());
}

void ApiService::stop() {
  stopping_ = true;
  stream_.close();
  if (thread_.joinable()) {
    // stop() only interrupts a running accept loop; wait for it to have started.
    for (int i = 0; i < 100000 && !server_->is_running(); ++i) std::this_thread::yield();
    server_->stop();
    thread_.join();
  }
  serving_ = false;
}

std::string ApiService::endpoint() const {
  if (port_ <= 0) return {};
  const bool v6 = host_.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
}

void ApiService::handle(const Delivery& d) {
  // Persist first, then tell stream clients: a client that reacts to an event can read it back.
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, Anomaly>) {
          store_->put_anomaly(e);
          series_->add_anomaly(e);
          stream_.publish("anomaly", encode_event(e));
        } else if constexpr (std::is_same_v<T, Incident>) {
          store_->put_incident(e);
          list_cache_->invalidate();
          stream_.publish("incident", encode_event(e));
        } else if constexpr (std::is_same_v<T, RemediationAction>) {
          store_->put_action(e);
          stream_.publish("action", encode_event(e));
        } else if constexpr (std::is_same_v<T, ActionResult>) {
          store_->put_action_result(e);
          stream_.publish("action_result", encode_event(e));
        } else if constexpr (std::is_same_v<T, FeatureWindow>) {
          series_->add_window(e);  // not streamed: a dashboard refreshes its charts itself
        } else {
          log::debug("api", "ignoring a {} event on {}", event_type_name(d.event), d.topic);
        }
      },
      d.event);
}

}  // namespace selfheal
