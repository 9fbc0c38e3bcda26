#include "contracts/events_json.hpp"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace selfheal {
namespace {

using json = nlohmann::json;

// ----------------------------------------------------------------------------- encoding helpers

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json labels_json(const Labels& l) {
  json o = json::object();
  for (const auto& [k, v] : l) o[k] = v;
  return o;
}

json strings_json(const std::vector<std::string>& v) { return json(v); }

// ----------------------------------------------------------------------------- decoding helpers

struct DecodeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A view of one JSON object that knows its path, so every error names the field.
class Reader {
 public:
  Reader(const json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j_.is_object()) fail(path_, "expected an object, got " + std::string(j_.type_name()));
  }

  std::string str(const char* key, bool required = true) const {
    const json* v = find(key, required);
    if (!v) return {};
    if (!v->is_string()) fail(at(key), "expected a string, got " + std::string(v->type_name()));
    return v->get<std::string>();
  }
  double number(const char* key, bool required = true) const {
    const json* v = find(key, required);
    if (!v || v->is_null()) return kAbsent;
    if (!v->is_number()) fail(at(key), "expected a number, got " + std::string(v->type_name()));
    return v->get<double>();
  }
  std::int64_t integer(const char* key, bool required = true) const {
    const json* v = find(key, required);
    if (!v) return 0;
    if (!v->is_number_integer())
      fail(at(key), "expected an integer, got " + std::string(v->type_name()));
    return v->get<std::int64_t>();
  }
  bool boolean(const char* key, bool required = true) const {
    const json* v = find(key, required);
    if (!v) return false;
    if (!v->is_boolean()) fail(at(key), "expected a boolean, got " + std::string(v->type_name()));
    return v->get<bool>();
  }
  template <typename E>
  E enumeration(const char* key) const {
    std::string s = str(key);
    E out{};
    if (!parse_enum(s, out)) fail(at(key), "unknown value \"" + s + "\"");
    return out;
  }
  Labels labels(const char* key) const {
    Labels out;
    const json* v = find(key, false);
    if (!v) return out;
    if (!v->is_object()) fail(at(key), "expected an object, got " + std::string(v->type_name()));
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it.value().is_string()) fail(at(key) + "." + it.key(), "expected a string");
      out.emplace_back(it.key(), it.value().get<std::string>());
    }
    return out;
  }
  std::vector<std::string> strings(const char* key) const {
    std::vector<std::string> out;
    const json* v = find(key, false);
    if (!v) return out;
    if (!v->is_array()) fail(at(key), "expected an array, got " + std::string(v->type_name()));
    for (std::size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) fail(at(key) + "[" + std::to_string(i) + "]", "expected a string");
      out.push_back((*v)[i].get<std::string>());
    }
    return out;
  }
  // Calls fn(Reader) for each object of an array field.
  template <typename Fn>
  void each(const char* key, Fn&& fn) const {
    const json* v = find(key, false);
    if (!v) return;
    if (!v->is_array()) fail(at(key), "expected an array, got " + std::string(v->type_name()));
    for (std::size_t i = 0; i < v->size(); ++i) fn(Reader((*v)[i], at(key) + "[" + std::to_string(i) + "]"));
  }

 private:
  std::string at(const char* key) const { return path_.empty() ? key : path_ + "." + key; }
  const json* find(const char* key, bool required) const {
    auto it = j_.find(key);
    if (it == j_.end()) {
      if (required) fail(at(key), "missing");
      return nullptr;
    }
    return &*it;
  }
  [[noreturn]] static void fail(const std::string& path, const std::string& what) {
    throw DecodeError(path + ": " + what);
  }

  const json& j_;
  std::string path_;
};

// ----------------------------------------------------------------------------- per type

json to_json(const RawLog& e) {
  return {{"id", e.id}, {"ts", e.ts}, {"service", e.service}, {"pod", e.pod}, {"line", e.line}};
}
void from_json(const Reader& r, RawLog& e) {
  e.id = r.str("id");
  e.ts = r.integer("ts");
  e.service = r.str("service");
  e.pod = r.str("pod", false);
  e.line = r.str("line");
}

json to_json(const LogRecord& e) {
  return {{"id", e.id},
          {"ts", e.ts},
          {"service", e.service},
          {"pod", e.pod},
          {"level", to_string(e.level)},
          {"format", to_string(e.format)},
          {"logger", e.logger},
          {"message", e.message},
          {"template_id", std::to_string(e.template_id)},  // string: JSON numbers lose 64-bit ids
          {"template", e.template_text},
          {"params", strings_json(e.params)},
          {"attributes", labels_json(e.attributes)},
          {"stack", strings_json(e.stack)}};
}
void from_json(const Reader& r, LogRecord& e) {
  e.id = r.str("id");
  e.ts = r.integer("ts");
  e.service = r.str("service");
  e.pod = r.str("pod", false);
  e.level = r.enumeration<LogLevel>("level");
  e.format = r.enumeration<LogFormat>("format");
  e.logger = r.str("logger", false);
  e.message = r.str("message");
  std::string tid = r.str("template_id");
  try {
    std::size_t used = 0;
    e.template_id = std::stoull(tid, &used);
    if (used != tid.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    throw DecodeError("data.template_id: expected a decimal 64-bit id, got \"" + tid + "\"");
  }
  e.template_text = r.str("template", false);
  e.params = r.strings("params");
  e.attributes = r.labels("attributes");
  e.stack = r.strings("stack");
}

json to_json(const MetricBatch& e) {
  json samples = json::array();
  for (const auto& s : e.samples) {
    json j = {{"name", s.name}, {"kind", to_string(s.kind)}, {"value", num(s.value)}};
    if (!s.labels.empty()) j["labels"] = labels_json(s.labels);
    if (s.kind == MetricKind::Histogram) {
      json b = json::array();
      for (const auto& bk : s.buckets) b.push_back({num(bk.upper_bound), num(bk.cumulative_count)});
      j["buckets"] = std::move(b);
      j["sum"] = num(s.sum);
    }
    samples.push_back(std::move(j));
  }
  return {{"id", e.id}, {"ts", e.ts}, {"service", e.service}, {"pod", e.pod}, {"samples", samples}};
}
void from_json(const Reader& r, MetricBatch& e) {
  e.id = r.str("id");
  e.ts = r.integer("ts");
  e.service = r.str("service");
  e.pod = r.str("pod", false);
  r.each("samples", [&](const Reader& s) {
    MetricSample m;
    m.name = s.str("name");
    m.kind = s.enumeration<MetricKind>("kind");
    m.value = s.number("value");  // null decodes as NaN: the processor rejects it, counted
    m.labels = s.labels("labels");
    m.sum = s.number("sum", false);
    e.samples.push_back(std::move(m));
  });
  // Buckets are [le, count] pairs; "Infinity" is not JSON, so +inf is written as null.
  // Re-read them here with plain json access since Reader::each expects objects.
}

json to_json(const FeatureWindow& e) {
  json f = json::object();
  for (const auto& [k, v] : e.features) f[k] = num(v);
  json t = json::array();
  for (const auto& tc : e.top_templates)
    t.push_back({{"template_id", std::to_string(tc.template_id)},
                 {"template", tc.template_text},
                 {"count", tc.count},
                 {"example", tc.example},
                 {"is_new", tc.is_new}});
  return {{"id", e.id},       {"start", e.start},
          {"end", e.end},     {"service", e.service},
          {"pod", e.pod},     {"source", to_string(e.source)},
          {"features", f},    {"top_templates", t}};
}
void from_json(const Reader& r, FeatureWindow& e) {
  e.id = r.str("id");
  e.start = r.integer("start");
  e.end = r.integer("end");
  e.service = r.str("service");
  e.pod = r.str("pod", false);
  e.source = r.enumeration<FeatureSource>("source");
  r.each("top_templates", [&](const Reader& t) {
    TemplateCount tc;
    tc.template_id = std::stoull(t.str("template_id"));
    tc.template_text = t.str("template");
    tc.count = static_cast<std::uint64_t>(t.integer("count"));
    tc.example = t.str("example", false);
    tc.is_new = t.boolean("is_new", false);
    e.top_templates.push_back(std::move(tc));
  });
}

json to_json(const Anomaly& e) {
  json c = json::array();
  for (const auto& x : e.contributions)
    c.push_back({{"feature", x.feature},
                 {"value", num(x.value)},
                 {"expected", num(x.expected)},
                 {"score", num(x.score)}});
  return {{"id", e.id},
          {"ts", e.ts},
          {"service", e.service},
          {"pod", e.pod},
          {"series", e.series},
          {"signal", e.signal},
          {"score", num(e.score)},
          {"value", num(e.value)},
          {"expected", num(e.expected)},
          {"source", to_string(e.source)},
          {"model", e.model},
          {"model_version", e.model_version},
          {"window_id", e.window_id},
          {"time_to_exhaustion_s", num(e.time_to_exhaustion_s)},
          {"contributions", c},
          {"labels", labels_json(e.labels)}};
}
void from_json(const Reader& r, Anomaly& e) {
  e.id = r.str("id");
  e.ts = r.integer("ts");
  e.service = r.str("service");
  e.pod = r.str("pod", false);
  e.series = r.str("series");
  e.signal = r.str("signal");
  e.score = r.number("score");
  if (!(e.score >= 0.0 && e.score <= 1.0)) throw DecodeError("data.score: must be in [0,1]");
  e.value = r.number("value", false);
  e.expected = r.number("expected", false);
  e.source = r.enumeration<AnomalySource>("source");
  e.model = r.str("model");
  e.model_version = r.str("model_version", false);
  e.window_id = r.str("window_id", false);
  e.time_to_exhaustion_s = r.number("time_to_exhaustion_s", false);
  r.each("contributions", [&](const Reader& x) {
    Contribution c;
    c.feature = x.str("feature");
    c.value = x.number("value", false);
    c.expected = x.number("expected", false);
    c.score = x.number("score", false);
    e.contributions.push_back(std::move(c));
  });
  e.labels = r.labels("labels");
}

json to_json(const Incident& e) {
  json ev = json::array();
  for (const auto& x : e.evidence)
    ev.push_back({{"kind", x.kind},
                  {"signal", x.signal},
                  {"text", x.text},
                  {"value", num(x.value)},
                  {"baseline", num(x.baseline)},
                  {"ts", x.ts}});
  json tl = json::array();
  for (const auto& x : e.timeline) tl.push_back({{"ts", x.ts}, {"text", x.text}});
  return {{"id", e.id},
          {"revision", e.revision},
          {"type", to_string(e.type)},
          {"status", to_string(e.status)},
          {"severity", to_string(e.severity)},
          {"service", e.service},
          {"namespace", e.namespace_name},
          {"target_pod", e.target_pod},
          {"affected_services", strings_json(e.affected_services)},
          {"title", e.title},
          {"summary", e.summary},
          {"opened_at", e.opened_at},
          {"updated_at", e.updated_at},
          {"resolved_at", e.resolved_at},
          {"evidence", ev},
          {"timeline", tl},
          {"anomaly_ids", strings_json(e.anomaly_ids)}};
}
void from_json(const Reader& r, Incident& e) {
  e.id = r.str("id");
  e.revision = static_cast<std::uint32_t>(r.integer("revision"));
  e.type = r.enumeration<IncidentType>("type");
  e.status = r.enumeration<IncidentStatus>("status");
  e.severity = r.enumeration<Severity>("severity");
  e.service = r.str("service");
  e.namespace_name = r.str("namespace", false);
  e.target_pod = r.str("target_pod", false);
  e.affected_services = r.strings("affected_services");
  e.title = r.str("title");
  e.summary = r.str("summary", false);
  e.opened_at = r.integer("opened_at");
  e.updated_at = r.integer("updated_at", false);
  e.resolved_at = r.integer("resolved_at", false);
  r.each("evidence", [&](const Reader& x) {
    Evidence ev;
    ev.kind = x.str("kind");
    ev.signal = x.str("signal", false);
    ev.text = x.str("text");
    ev.value = x.number("value", false);
    ev.baseline = x.number("baseline", false);
    ev.ts = x.integer("ts", false);
    e.evidence.push_back(std::move(ev));
  });
  r.each("timeline", [&](const Reader& x) {
    e.timeline.push_back(TimelineEntry{x.integer("ts"), x.str("text")});
  });
  e.anomaly_ids = r.strings("anomaly_ids");
}

json to_json(const RemediationAction& e) {
  return {{"id", e.id},
          {"ts", e.ts},
          {"incident_id", e.incident_id},
          {"service", e.service},
          {"kind", to_string(e.kind)},
          {"namespace", e.namespace_name},
          {"target", e.target},
          {"replicas", e.replicas},
          {"playbook", e.playbook},
          {"step", e.step},
          {"status", to_string(e.status)},
          {"reason", e.reason},
          {"dry_run", e.dry_run}};
}
void from_json(const Reader& r, RemediationAction& e) {
  e.id = r.str("id");
  e.ts = r.integer("ts");
  e.incident_id = r.str("incident_id", false);
  e.service = r.str("service");
  e.kind = r.enumeration<ActionKind>("kind");
  e.namespace_name = r.str("namespace", false);
  e.target = r.str("target", false);
  e.replicas = static_cast<int>(r.integer("replicas", false));
  e.playbook = r.str("playbook", false);
  e.step = static_cast<int>(r.integer("step", false));
  e.status = r.enumeration<ActionStatus>("status");
  e.reason = r.str("reason", false);
  e.dry_run = r.boolean("dry_run", false);
}

json to_json(const ActionResult& e) {
  return {{"id", e.id},
          {"ts", e.ts},
          {"action_id", e.action_id},
          {"incident_id", e.incident_id},
          {"service", e.service},
          {"status", to_string(e.status)},
          {"detail", e.detail}};
}
void from_json(const Reader& r, ActionResult& e) {
  e.id = r.str("id");
  e.ts = r.integer("ts");
  e.action_id = r.str("action_id");
  e.incident_id = r.str("incident_id", false);
  e.service = r.str("service");
  e.status = r.enumeration<ActionStatus>("status");
  e.detail = r.str("detail", false);
}

json to_json(const ServiceState& e) {
  json pods = json::array();
  for (const auto& p : e.pods)
    pods.push_back({{"pod", p.pod},
                    {"node", p.node},
                    {"phase", p.phase},
                    {"ready", p.ready},
                    {"cpu_millicores", num(p.cpu_millicores)},
                    {"cpu_limit_millicores", num(p.cpu_limit_millicores)},
                    {"memory_bytes", num(p.memory_bytes)},
                    {"memory_limit_bytes", num(p.memory_limit_bytes)},
                    {"restarts", p.restarts},
                    {"requests_per_s", num(p.requests_per_s)},
                    {"errors_per_s", num(p.errors_per_s)},
                    {"latency_median_s", num(p.latency_median_s)},
                    {"latency_sigma", num(p.latency_sigma)},
                    {"db_query_median_s", num(p.db_query_median_s)},
                    {"db_connections_active", num(p.db_connections_active)},
                    {"db_pool_waits_per_s", num(p.db_pool_waits_per_s)},
                    {"conditions", strings_json(p.conditions)},
                    {"events", strings_json(p.events)}});
  return {{"id", e.id},           {"ts", e.ts},
          {"tick_ms", e.tick_ms}, {"service", e.service},
          {"namespace", e.namespace_name}, {"seed", std::to_string(e.seed)},
          {"pods", pods}};
}
void from_json(const Reader& r, ServiceState& e) {
  e.id = r.str("id");
  e.ts = r.integer("ts");
  e.tick_ms = r.integer("tick_ms");
  e.service = r.str("service");
  e.namespace_name = r.str("namespace", false);
  e.seed = std::stoull(r.str("seed"));
  r.each("pods", [&](const Reader& x) {
    PodState p;
    p.pod = x.str("pod");
    p.node = x.str("node", false);
    p.phase = x.str("phase");
    p.ready = x.boolean("ready");
    p.cpu_millicores = x.number("cpu_millicores");
    p.cpu_limit_millicores = x.number("cpu_limit_millicores");
    p.memory_bytes = x.number("memory_bytes");
    p.memory_limit_bytes = x.number("memory_limit_bytes");
    p.restarts = static_cast<std::uint32_t>(x.integer("restarts"));
    p.requests_per_s = x.number("requests_per_s");
    p.errors_per_s = x.number("errors_per_s");
    p.latency_median_s = x.number("latency_median_s");
    p.latency_sigma = x.number("latency_sigma");
    p.db_query_median_s = x.number("db_query_median_s", false);
    p.db_connections_active = x.number("db_connections_active", false);
    p.db_pool_waits_per_s = x.number("db_pool_waits_per_s", false);
    p.conditions = x.strings("conditions");
    p.events = x.strings("events");
    e.pods.push_back(std::move(p));
  });
}

json to_json(const FaultLabel& e) {
  return {{"id", e.id},
          {"ts", e.ts},
          {"service", e.service},
          {"fault_type", e.fault_type},
          {"expected_incident_type", e.expected_incident_type},
          {"start", e.start},
          {"end", e.end},
          {"strength", num(e.strength)}};
}
void from_json(const Reader& r, FaultLabel& e) {
  e.id = r.str("id");
  e.ts = r.integer("ts");
  e.service = r.str("service");
  e.fault_type = r.str("fault_type");
  e.expected_incident_type = r.str("expected_incident_type", false);
  e.start = r.integer("start");
  e.end = r.integer("end", false);
  e.strength = r.number("strength", false);
}

template <typename T>
Event decode_as(const json& data) {
  T e;
  from_json(Reader(data, "data"), e);
  return Event(std::move(e));
}

// Histogram buckets are arrays of [le, count] pairs, which the object Reader does not cover.
void decode_buckets(const json& data, MetricBatch& batch) {
  const auto& samples = data.at("samples");
  for (std::size_t i = 0; i < samples.size(); ++i) {
    auto it = samples[i].find("buckets");
    if (it == samples[i].end()) continue;
    std::string path = "data.samples[" + std::to_string(i) + "].buckets";
    if (!it->is_array()) throw DecodeError(path + ": expected an array");
    for (std::size_t b = 0; b < it->size(); ++b) {
      const json& pair = (*it)[b];
      if (!pair.is_array() || pair.size() != 2)
        throw DecodeError(path + "[" + std::to_string(b) + "]: expected [le, count]");
      HistogramBucket hb;
      hb.upper_bound = pair[0].is_null() ? std::numeric_limits<double>::infinity()
                       : pair[0].is_number()
                           ? pair[0].get<double>()
                           : throw DecodeError(path + "[" + std::to_string(b) + "][0]: expected a number");
      if (!pair[1].is_number())
        throw DecodeError(path + "[" + std::to_string(b) + "][1]: expected a number");
      hb.cumulative_count = pair[1].get<double>();
      batch.samples[i].buckets.push_back(hb);
    }
  }
}

}  // namespace

std::string encode_event(const Event& event) {
  json data = std::visit([](const auto& e) { return to_json(e); }, event);
  json env = {{"type", event_type_name(event)}, {"v", kEventSchemaVersion}, {"data", std::move(data)}};
  return env.dump(-1, ' ', false, json::error_handler_t::replace);
}

DecodeResult decode_event(std::string_view text) {
  DecodeResult out;
  json env = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (env.is_discarded()) {
    out.error = "not valid JSON";
    return out;
  }
  try {
    if (!env.is_object()) throw DecodeError("envelope: expected an object");
    auto t = env.find("type");
    if (t == env.end() || !t->is_string()) throw DecodeError("type: missing or not a string");
    auto v = env.find("v");
    if (v == env.end() || !v->is_number_integer()) throw DecodeError("v: missing or not an integer");
    int version = v->get<int>();
    if (version < 1 || version > kEventSchemaVersion)
      throw DecodeError("v: unsupported schema version " + std::to_string(version) +
                        " (this build reads up to " + std::to_string(kEventSchemaVersion) + ")");
    auto d = env.find("data");
    if (d == env.end()) throw DecodeError("data: missing");
    const std::string type = t->get<std::string>();
    if (type == "raw_log") out.event = decode_as<RawLog>(*d);
    else if (type == "log_record") out.event = decode_as<LogRecord>(*d);
    else if (type == "metric_batch") {
      out.event = decode_as<MetricBatch>(*d);
      decode_buckets(*d, std::get<MetricBatch>(out.event));
    } else if (type == "feature_window") {
      out.event = decode_as<FeatureWindow>(*d);
      auto& w = std::get<FeatureWindow>(out.event);
      auto f = d->find("features");
      if (f != d->end()) {
        if (!f->is_object()) throw DecodeError("data.features: expected an object");
        for (auto it = f->begin(); it != f->end(); ++it) {
          if (!it.value().is_number() && !it.value().is_null())
            throw DecodeError("data.features." + it.key() + ": expected a number");
          w.features.emplace_back(it.key(), it.value().is_null() ? kAbsent : it.value().get<double>());
        }
      }
    } else if (type == "anomaly") out.event = decode_as<Anomaly>(*d);
    else if (type == "incident") out.event = decode_as<Incident>(*d);
    else if (type == "remediation_action") out.event = decode_as<RemediationAction>(*d);
    else if (type == "action_result") out.event = decode_as<ActionResult>(*d);
    else if (type == "service_state") out.event = decode_as<ServiceState>(*d);
    else if (type == "fault_label") out.event = decode_as<FaultLabel>(*d);
    else throw DecodeError("type: unknown event type \"" + type + "\"");
    out.ok = true;
  } catch (const DecodeError& e) {
    out.error = e.what();
  } catch (const std::exception& e) {  // e.g. stoull on a malformed id
    out.error = std::string("malformed field: ") + e.what();
  }
  return out;
}

}  // namespace selfheal
