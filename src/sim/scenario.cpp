#include "sim/scenario.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "core/clock.hpp"

namespace selfheal::sim {
namespace {

// Reads one mapping with a fixed set of keys; every problem names the field's full path.
class Fields {
 public:
  Fields(const YAML::Node& node, std::string path, const std::string& source)
      : node_(node), path_(std::move(path)), source_(source) {
    if (!node_.IsMap()) fail(path_, "expected a mapping");
  }

  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    throw ScenarioError(source_ + ": " + (field.empty() ? "(top level)" : field) + ": " + problem);
  }
  std::string at(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  // Every key present must be one of `known`: a typo is refused rather than silently ignored.
  void only(std::initializer_list<std::string_view> known) const {
    for (const auto& kv : node_) {
      std::string k = kv.first.as<std::string>();
      bool ok = false;
      for (auto n : known) ok = ok || n == k;
      if (!ok) fail(at(k), "unknown key");
    }
  }
  bool has(const std::string& key) const { return node_[key].IsDefined() && !node_[key].IsNull(); }
  YAML::Node get(const std::string& key) const { return node_[key]; }

  std::string scalar(const std::string& key) const {
    YAML::Node n = node_[key];
    if (!n.IsScalar()) fail(at(key), "expected a value");
    return n.Scalar();
  }
  void str(const std::string& key, std::string& out, bool required = false) const {
    if (!has(key)) {
      if (required) fail(at(key), "required");
      return;
    }
    out = scalar(key);
    if (out.empty()) fail(at(key), "must not be empty");
  }
  void number(const std::string& key, double& out, double lo, double hi, bool required = false) const {
    if (!has(key)) {
      if (required) fail(at(key), "required");
      return;
    }
    std::string s = scalar(key);
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) fail(at(key), "expected a number, got \"" + s + "\"");
    if (!(v >= lo && v <= hi)) {
      std::ostringstream m;
      m << "must be between " << lo << " and " << hi << ", got " << s;
      fail(at(key), m.str());
    }
    out = v;
  }
  void integer(const std::string& key, int& out, int lo, int hi, bool required = false) const {
    double v = out;
    number(key, v, lo, hi, required);
    if (v != static_cast<int>(v)) fail(at(key), "expected a whole number");
    out = static_cast<int>(v);
  }
  void duration(const std::string& key, std::int64_t& out, bool required = false) const {
    if (!has(key)) {
      if (required) fail(at(key), "required");
      return;
    }
    std::string s = scalar(key);
    if (!parse_duration_ms(s, out) || out < 0)
      fail(at(key), "expected a duration such as 250ms, 30s, 5m or 1h, got \"" + s + "\"");
  }
  void seconds(const std::string& key, double& out) const {
    if (!has(key)) return;
    std::int64_t ms = 0;
    std::string s = scalar(key);
    // Sub-millisecond service times are allowed as plain numbers of seconds.
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size()) {
      if (!(v > 0)) fail(at(key), "must be positive");
      out = v;
      return;
    }
    if (!parse_duration_ms(s, ms) || ms <= 0)
      fail(at(key), "expected a positive duration such as 8ms or 2s, got \"" + s + "\"");
    out = static_cast<double>(ms) / 1000.0;
  }
  void cpu(const std::string& key, double& out) const {
    if (!has(key)) return;
    std::string s = scalar(key);
    if (!parse_cpu_millicores(s, out) || out <= 0)
      fail(at(key), "expected CPU such as 250m or 1.5, got \"" + s + "\"");
  }
  void memory(const std::string& key, double& out, bool allow_zero = false) const {
    if (!has(key)) return;
    std::string s = scalar(key);
    if (!parse_memory_bytes(s, out) || out < 0 || (out == 0 && !allow_zero))
      fail(at(key), "expected memory such as 256Mi or 1Gi, got \"" + s + "\"");
  }

 private:
  YAML::Node node_;
  std::string path_;
  const std::string& source_;
};

bool parse_number(std::string_view s, double& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool valid_dns_label(const std::string& s) {
  if (s.empty() || s.size() > 40) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return s.front() != '-' && s.back() != '-';
}

void parse_service(const YAML::Node& node, const std::string& path, const std::string& source,
                   ServiceSpec& s) {
  Fields f(node, path, source);
  f.only({"name", "kind", "image", "replicas", "cpu", "memory", "entry_rps", "cpu_per_request",
          "idle_cpu", "service_time", "latency_sigma", "error_rate", "timeout", "startup",
          "max_connections", "calls", "external"});
  f.str("name", s.name, true);
  if (!valid_dns_label(s.name))
    f.fail(f.at("name"), "\"" + s.name + "\" is not a valid name (lower-case letters, digits and '-', at most 40)");
  f.str("kind", s.kind);
  if (s.kind != "app" && s.kind != "database") f.fail(f.at("kind"), "expected app or database, got \"" + s.kind + "\"");
  s.image = "shop/" + s.name + ":1.0.0";
  f.str("image", s.image);
  f.integer("replicas", s.replicas, 1, 50);
  if (f.has("cpu")) {
    Fields c(f.get("cpu"), f.at("cpu"), source);
    c.only({"request", "limit"});
    c.cpu("request", s.cpu_request_millicores);
    c.cpu("limit", s.cpu_limit_millicores);
    if (s.cpu_request_millicores > s.cpu_limit_millicores) c.fail(c.at("request"), "must not exceed the limit");
  }
  if (f.has("memory")) {
    Fields m(f.get("memory"), f.at("memory"), source);
    m.only({"request", "limit", "base", "per_rps"});
    m.memory("request", s.memory_request_bytes);
    m.memory("limit", s.memory_limit_bytes);
    m.memory("base", s.base_memory_bytes);
    m.memory("per_rps", s.memory_per_rps_bytes, /*allow_zero=*/true);
    if (s.memory_request_bytes > s.memory_limit_bytes) m.fail(m.at("request"), "must not exceed the limit");
    if (s.base_memory_bytes >= s.memory_limit_bytes * 0.8)
      m.fail(m.at("base"), "must stay below 80% of the limit, or healthy pods would be OOM-killed");
  }
  f.number("entry_rps", s.entry_rps, 0, 1e6);
  f.number("cpu_per_request", s.cpu_ms_per_request, 0, 1e4);
  f.number("idle_cpu", s.idle_cpu_millicores, 0, 1e5);
  f.seconds("service_time", s.service_time_s);
  f.number("latency_sigma", s.latency_sigma, 0.05, 2);
  f.number("error_rate", s.error_rate, 0, 0.5);
  f.seconds("timeout", s.timeout_s);
  f.duration("startup", s.startup_ms);
  f.integer("max_connections", s.max_connections, 1, 100000);
  if (f.has("calls")) {
    YAML::Node calls = f.get("calls");
    if (!calls.IsSequence()) f.fail(f.at("calls"), "expected a list");
    for (std::size_t i = 0; i < calls.size(); ++i) {
      std::string cp = f.at("calls") + "[" + std::to_string(i) + "]";
      CallSpec c;
      if (calls[i].IsScalar()) {
        c.service = calls[i].Scalar();
      } else {
        Fields cf(calls[i], cp, source);
        cf.only({"service", "per_request"});
        cf.str("service", c.service, true);
        cf.number("per_request", c.calls_per_request, 0, 100);
      }
      s.calls.push_back(c);
    }
  }
  if (f.has("external")) {
    YAML::Node ext = f.get("external");
    if (!ext.IsSequence()) f.fail(f.at("external"), "expected a list of names");
    for (std::size_t i = 0; i < ext.size(); ++i) {
      if (!ext[i].IsScalar() || ext[i].Scalar().empty())
        f.fail(f.at("external") + "[" + std::to_string(i) + "]", "expected a name");
      s.external.push_back(ext[i].Scalar());
    }
  }
}

}  // namespace

std::string_view expected_incident_type(std::string_view t) {
  if (t == "memory_leak") return "memory_leak";
  if (t == "cpu_spike") return "cpu_saturation";
  if (t == "db_latency") return "db_latency";
  if (t == "error_burst") return "error_burst";
  if (t == "crash_loop") return "crash_loop";
  if (t == "traffic_surge") return "traffic_surge";
  if (t == "stuck_state") return "bad_state";
  if (t == "dependency_outage") return "dependency_outage";
  return {};
}

bool is_fault_type(std::string_view t) { return !expected_incident_type(t).empty(); }

const ServiceSpec* Scenario::service(std::string_view n) const {
  for (const auto& s : services)
    if (s.name == n) return &s;
  return nullptr;
}

int Scenario::service_index(std::string_view n) const {
  for (std::size_t i = 0; i < services.size(); ++i)
    if (services[i].name == n) return static_cast<int>(i);
  return -1;
}

std::string validate_fault(const Scenario& sc, const FaultSpec& f, const std::string& field) {
  if (!is_fault_type(f.type)) {
    std::string all;
    for (auto t : kFaultTypes) all += (all.empty() ? "" : ", ") + std::string(t);
    return field + ".type: unknown fault \"" + f.type + "\"; expected one of " + all;
  }
  const ServiceSpec* target = sc.service(f.target);
  if (!target) return field + ".target: no service named \"" + f.target + "\" in the scenario";
  if (f.start_ms < 0) return field + ".start: must not be negative";
  if (f.duration_ms < 0) return field + ".duration: must not be negative";
  if (!(f.strength > 0 && f.strength <= 10)) return field + ".strength: must be in (0, 10]";
  if (f.type == "db_latency" && target->kind != "database")
    return field + ".target: db_latency needs a service of kind database, \"" + f.target + "\" is " + target->kind;
  if (f.type == "dependency_outage") {
    if (target->external.empty())
      return field + ".target: \"" + f.target + "\" has no external dependency to lose (add `external:` to it)";
    if (!f.dependency.empty()) {
      bool found = false;
      for (const auto& e : target->external) found = found || e == f.dependency;
      if (!found) return field + ".dependency: \"" + f.target + "\" has no external dependency \"" + f.dependency + "\"";
    }
  }
  return {};
}

Scenario parse_scenario(std::string_view text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    throw ScenarioError(source + ": not valid YAML: " + e.what());
  }
  Scenario sc;
  Fields f(root, "", source);
  f.only({"name", "namespace", "seed", "duration", "nodes", "load", "services", "faults"});
  f.str("name", sc.name);
  f.str("namespace", sc.namespace_name);
  if (!valid_dns_label(sc.namespace_name)) f.fail("namespace", "not a valid namespace name");
  if (f.has("seed")) {
    std::string s = f.scalar("seed");
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) f.fail("seed", "expected a non-negative whole number, got \"" + s + "\"");
    sc.seed = v;
  }
  f.duration("duration", sc.duration_ms);
  if (sc.duration_ms < 10000) f.fail("duration", "must be at least 10s");
  f.integer("nodes", sc.nodes, 1, 100);
  if (f.has("load")) {
    Fields l(f.get("load"), "load", source);
    l.only({"daily_amplitude", "peak_hour", "noise", "bursts_per_hour", "burst_strength", "burst_duration"});
    l.number("daily_amplitude", sc.load.daily_amplitude, 0, 0.95);
    l.number("peak_hour", sc.load.peak_hour, 0, 24);
    l.number("noise", sc.load.noise, 0, 0.5);
    l.number("bursts_per_hour", sc.load.bursts_per_hour, 0, 600);
    l.number("burst_strength", sc.load.burst_strength, 0, 10);
    l.duration("burst_duration", sc.load.burst_duration_ms);
  }
  if (!f.has("services")) f.fail("services", "required");
  YAML::Node services = f.get("services");
  if (!services.IsSequence() || services.size() == 0) f.fail("services", "expected a non-empty list");
  for (std::size_t i = 0; i < services.size(); ++i) {
    ServiceSpec s;
    parse_service(services[i], "services[" + std::to_string(i) + "]", source, s);
    if (sc.service(s.name)) f.fail("services[" + std::to_string(i) + "].name", "duplicate service \"" + s.name + "\"");
    sc.services.push_back(std::move(s));
  }
  // Calls must name known services and form no cycle (load flows from callers to callees).
  for (std::size_t i = 0; i < sc.services.size(); ++i)
    for (std::size_t j = 0; j < sc.services[i].calls.size(); ++j) {
      const auto& c = sc.services[i].calls[j];
      std::string p = "services[" + std::to_string(i) + "].calls[" + std::to_string(j) + "]";
      if (c.service == sc.services[i].name) f.fail(p, "a service cannot call itself");
      if (!sc.service(c.service)) f.fail(p, "no service named \"" + c.service + "\"");
    }
  {
    std::vector<int> state(sc.services.size(), 0);
    std::function<void(int)> visit = [&](int i) {
      if (state[i] == 2) return;
      if (state[i] == 1) f.fail("services[" + std::to_string(i) + "].calls", "the call graph has a cycle through \"" + sc.services[i].name + "\"");
      state[i] = 1;
      for (const auto& c : sc.services[i].calls) visit(sc.service_index(c.service));
      state[i] = 2;
    };
    for (std::size_t i = 0; i < sc.services.size(); ++i) visit(static_cast<int>(i));
  }
  if (f.has("faults")) {
    YAML::Node faults = f.get("faults");
    if (!faults.IsSequence()) f.fail("faults", "expected a list");
    for (std::size_t i = 0; i < faults.size(); ++i) {
      std::string p = "faults[" + std::to_string(i) + "]";
      Fields ff(faults[i], p, source);
      ff.only({"type", "target", "start", "duration", "strength", "dependency"});
      FaultSpec fs;
      ff.str("type", fs.type, true);
      ff.str("target", fs.target, true);
      ff.duration("start", fs.start_ms, true);
      ff.duration("duration", fs.duration_ms);
      ff.number("strength", fs.strength, 0, 10);
      ff.str("dependency", fs.dependency);
      if (std::string err = validate_fault(sc, fs, p); !err.empty()) throw ScenarioError(source + ": " + err);
      if (fs.start_ms >= sc.duration_ms) ff.fail(ff.at("start"), "is after the scenario's end");
      sc.faults.push_back(std::move(fs));
    }
  }
  return sc;
}

Scenario load_scenario_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ScenarioError(path + ": cannot open the scenario file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_scenario(ss.str(), path);
}

Scenario demo_scenario() { return parse_scenario(demo_scenario_yaml(), "demo scenario (embedded)"); }

bool parse_cpu_millicores(std::string_view s, double& out) {
  if (s.empty()) return false;
  double v = 0;
  if (s.back() == 'm') {
    if (!parse_number(s.substr(0, s.size() - 1), v)) return false;
    out = v;
    return true;
  }
  if (!parse_number(s, v)) return false;
  out = v * 1000.0;
  return true;
}

bool parse_memory_bytes(std::string_view s, double& out) {
  static const std::pair<std::string_view, double> kUnits[] = {
      {"Ki", 1024.0}, {"Mi", 1024.0 * 1024}, {"Gi", 1024.0 * 1024 * 1024},
      {"K", 1e3},     {"M", 1e6},            {"G", 1e9}};
  for (const auto& [suffix, mult] : kUnits) {
    if (s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix) {
      double v = 0;
      if (!parse_number(s.substr(0, s.size() - suffix.size()), v)) return false;
      out = v * mult;
      return true;
    }
  }
  double v = 0;
  if (!parse_number(s, v)) return false;
  out = v;
  return true;
}

}  // namespace selfheal::sim
