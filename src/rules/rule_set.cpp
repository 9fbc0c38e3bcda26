#include "rules/rule_set.hpp"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <set>

#include "core/clock.hpp"

namespace selfheal::rules {

std::string Rule::label(std::string_view key) const {
  for (const auto& [k, v] : labels)
    if (k == key) return v;
  return {};
}

namespace {

int line_of(const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

[[noreturn]] void fail(const std::string& source, int line, const std::string& rule, const std::string& field,
                       const std::string& problem) {
  std::string msg = source + ":" + std::to_string(line) + ": ";
  if (!rule.empty()) msg += "rule '" + rule + "': ";
  if (!field.empty()) msg += "field '" + field + "': ";
  throw RuleFileError(msg + problem);
}

std::string scalar(const YAML::Node& n, const std::string& source, const std::string& rule, const std::string& field) {
  if (!n.IsScalar()) fail(source, line_of(n), rule, field, "expected a single value");
  return n.Scalar();
}

std::string fnv_version(const std::string& text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) { h ^= c; h *= 1099511628211ULL; }
  char buf[24];
  std::snprintf(buf, sizeof buf, "fnv-%08llx", static_cast<unsigned long long>(h & 0xffffffffULL));
  return buf;
}

Labels string_map(const YAML::Node& n, const std::string& source, const std::string& rule, const std::string& field) {
  Labels out;
  if (!n || n.IsNull()) return out;
  if (!n.IsMap()) fail(source, line_of(n), rule, field, "expected a map of names to strings");
  for (const auto& kv : n) {
    std::string key = kv.first.Scalar();
    if (!kv.second.IsScalar())
      fail(source, line_of(kv.second), rule, field + "." + key, "expected a string value");
    out.emplace_back(key, kv.second.Scalar());
  }
  return out;
}

}  // namespace

RuleSet parse_rule_set(const std::string& yaml_text, const std::string& source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    fail(source_name, e.mark.line + 1, "", "", "not valid YAML: " + e.msg);
  }
  if (!root.IsMap()) fail(source_name, 1, "", "", "expected a map with a 'rules' list");
  for (const auto& kv : root) {
    std::string k = kv.first.Scalar();
    if (k != "version" && k != "rules")
      fail(source_name, line_of(kv.first), "", k, "unknown top-level field (expected 'version' or 'rules')");
  }
  RuleSet set;
  set.source_name = source_name;
  set.version = root["version"] ? scalar(root["version"], source_name, "", "version") : fnv_version(yaml_text);
  const YAML::Node list = root["rules"];
  if (!list || !list.IsSequence()) fail(source_name, list ? line_of(list) : 1, "", "rules", "expected a list of rules");

  std::set<std::string> names;
  int index = 0;
  for (const auto& node : list) {
    const int line = line_of(node);
    const std::string pos = "#" + std::to_string(index++);
    if (!node.IsMap()) fail(source_name, line, pos, "", "expected a map");
    Rule r;
    r.line = line;
    if (!node["name"]) fail(source_name, line, pos, "name", "missing");
    r.name = scalar(node["name"], source_name, pos, "name");
    if (r.name.empty()) fail(source_name, line, pos, "name", "empty");
    if (!names.insert(r.name).second) fail(source_name, line, r.name, "name", "duplicate rule name");

    static const std::set<std::string> fields = {"name", "source", "scope", "expr", "for",
                                                 "severity", "labels", "annotations"};
    for (const auto& kv : node)
      if (!fields.count(kv.first.Scalar()))
        fail(source_name, line_of(kv.first), r.name, kv.first.Scalar(),
             "unknown field (expected name, source, scope, expr, for, severity, labels, annotations)");

    if (node["source"]) {
      std::string s = scalar(node["source"], source_name, r.name, "source");
      if (!parse_enum(s, r.source))
        fail(source_name, line_of(node["source"]), r.name, "source", "'" + s + "' is not one of metrics, logs");
    }
    if (node["scope"]) {
      std::string s = scalar(node["scope"], source_name, r.name, "scope");
      if (s == "service") r.scope = RuleScope::Service;
      else if (s == "pod") r.scope = RuleScope::Pod;
      else fail(source_name, line_of(node["scope"]), r.name, "scope", "'" + s + "' is not one of service, pod");
    }
    if (r.source == FeatureSource::Logs && r.scope == RuleScope::Pod)
      fail(source_name, line, r.name, "scope", "logs windows are per service; use scope: service");

    if (!node["expr"]) fail(source_name, line, r.name, "expr", "missing");
    std::string expr = scalar(node["expr"], source_name, r.name, "expr");
    try {
      r.expr = Expression::compile(expr);
    } catch (const ExpressionError& e) {
      fail(source_name, line_of(node["expr"]), r.name, "expr", e.what());
    }

    if (node["for"]) {
      std::string f = scalar(node["for"], source_name, r.name, "for");
      if (!parse_duration_ms(f, r.for_ms) || r.for_ms < 0)
        fail(source_name, line_of(node["for"]), r.name, "for", "malformed duration '" + f + "' (e.g. 30s, 2m)");
    }
    if (node["severity"]) {
      std::string s = scalar(node["severity"], source_name, r.name, "severity");
      if (!parse_enum(s, r.severity))
        fail(source_name, line_of(node["severity"]), r.name, "severity", "'" + s + "' is not one of info, warning, critical");
    }
    r.labels = string_map(node["labels"], source_name, r.name, "labels");
    for (const auto& [k, v] : r.labels) {
      if (k == "severity") fail(source_name, line_of(node["labels"]), r.name, "labels.severity", "set severity as its own field");
      if (k == "incident_type") {
        IncidentType t;
        if (!parse_enum(v, t))
          fail(source_name, line_of(node["labels"]), r.name, "labels.incident_type",
               "'" + v + "' is not an incident type (memory_leak, cpu_saturation, db_latency, error_burst, "
               "crash_loop, traffic_surge, bad_state, dependency_outage, unknown)");
      }
    }
    r.labels.emplace_back("severity", std::string(to_string(r.severity)));
    r.annotations = string_map(node["annotations"], source_name, r.name, "annotations");
    set.rules.push_back(std::move(r));
  }
  return set;
}

RuleSet default_rule_set() { return parse_rule_set(embedded_default_rules_yaml(), "<embedded defaults>"); }

std::string render_template(const std::string& tmpl, const std::string& service, const std::string& pod,
                            double value, const std::string& rule) {
  auto fmt_value = [](double v) -> std::string {
    if (std::isnan(v)) return "n/a";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
  };
  std::string out;
  std::size_t i = 0;
  while (i < tmpl.size()) {
    std::size_t open = tmpl.find("{{", i);
    if (open == std::string::npos) { out += tmpl.substr(i); break; }
    std::size_t close = tmpl.find("}}", open + 2);
    if (close == std::string::npos) { out += tmpl.substr(i); break; }
    out += tmpl.substr(i, open - i);
    std::string key = tmpl.substr(open + 2, close - open - 2);
    while (!key.empty() && key.front() == ' ') key.erase(key.begin());
    while (!key.empty() && key.back() == ' ') key.pop_back();
    if (key == "service") out += service;
    else if (key == "pod") out += pod.empty() ? service : pod;
    else if (key == "value") out += fmt_value(value);
    else if (key == "rule") out += rule;
    else out += tmpl.substr(open, close + 2 - open);
    i = close + 2;
  }
  return out;
}

}  // namespace selfheal::rules
