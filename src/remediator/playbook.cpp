#include "remediator/playbook.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "core/clock.hpp"

namespace selfheal::remediation {

// Generated at configure time from config/playbooks/default.yaml (see CMakeLists.txt).
extern const char* const kDefaultPlaybooksYaml;

namespace {

std::string node_text(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a map";
  return "nothing";
}

class Parser {
 public:
  explicit Parser(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw PlaybookError(source_ + ": " + where + (where.empty() ? "" : ": ") + what);
  }

  int parse_int(const YAML::Node& n, const std::string& where, const std::string& field) const {
    if (!n.IsScalar()) fail(where, "field '" + field + "': expected an integer, got " + node_text(n));
    const std::string& s = n.Scalar();
    std::size_t used = 0;
    long v = 0;
    try {
      v = std::stol(s, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != s.size())
      fail(where, "field '" + field + "': expected an integer, got '" + s + "'");
    if (v < -1000 || v > 1000) fail(where, "field '" + field + "': " + s + " is out of range [-1000, 1000]");
    return static_cast<int>(v);
  }

  PlaybookStep parse_step(const YAML::Node& n, const std::string& where) const {
    if (!n.IsMap()) fail(where, "expected a map with an 'action', got " + node_text(n));
    static const std::set<std::string> known = {"action",        "pod",     "replicas",          "by",
                                                "verify_within", "message", "target_utilization", "include_saturated"};
    for (const auto& kv : n) {
      std::string key = kv.first.as<std::string>();
      if (!known.count(key))
        fail(where, "unknown field '" + key +
                        "' (known: action, pod, replicas, by, target_utilization, include_saturated, verify_within, "
                        "message)");
    }
    PlaybookStep step;
    if (!n["action"]) fail(where, "field 'action' is missing");
    std::string action = node_text(n["action"]);
    if (!n["action"].IsScalar() || !parse_enum(action, step.action))
      fail(where, "field 'action': '" + action +
                      "' is not one of delete_pod, rollout_restart, scale_deployment, clear_state, notify_only");
    if (n["pod"]) {
      if (step.action != ActionKind::DeletePod) fail(where, "field 'pod' applies only to delete_pod");
      std::string pod = node_text(n["pod"]);
      if (pod == "incident") step.pod = PodSelector::IncidentOrWorst;
      else if (pod == "worst") step.pod = PodSelector::Worst;
      else fail(where, "field 'pod': '" + pod + "' is not one of incident, worst");
    }
    bool scale = step.action == ActionKind::ScaleDeployment;
    if (n["replicas"]) {
      if (!scale) fail(where, "field 'replicas' applies only to scale_deployment");
      step.replicas = parse_int(n["replicas"], where, "replicas");
      if (*step.replicas < 1) fail(where, "field 'replicas': must be at least 1 (scaling to zero is an outage)");
    }
    if (n["by"]) {
      if (!scale) fail(where, "field 'by' applies only to scale_deployment");
      step.by = parse_int(n["by"], where, "by");
      if (*step.by == 0) fail(where, "field 'by': must not be 0");
    }
    if (n["target_utilization"]) {
      if (!scale) fail(where, "field 'target_utilization' applies only to scale_deployment");
      std::string t = node_text(n["target_utilization"]);
      double v = 0;
      bool percent = !t.empty() && t.back() == '%';
      try {
        std::size_t used = 0;
        v = std::stod(percent ? t.substr(0, t.size() - 1) : t, &used);
        if (used != t.size() - (percent ? 1 : 0)) v = -1;
      } catch (...) {
        v = -1;
      }
      if (percent) v /= 100.0;
      if (!(v >= 0.1 && v <= 1.0))
        fail(where, "field 'target_utilization': '" + t + "' is not a CPU utilisation between 10% and 100% (e.g. 60%)");
      step.target_utilization = v;
    }
    if (n["include_saturated"]) {
      if (!scale) fail(where, "field 'include_saturated' applies only to scale_deployment");
      std::string b = node_text(n["include_saturated"]);
      if (b != "true" && b != "false") fail(where, "field 'include_saturated': '" + b + "' is not true or false");
      step.include_saturated = b == "true";
    }
    const int sizing = step.replicas.has_value() + step.by.has_value() + step.target_utilization.has_value();
    if (scale && sizing != 1)
      fail(where, "scale_deployment needs exactly one of 'replicas' (to N), 'by' (+K) or 'target_utilization' (fit the load)");
    if (n["verify_within"]) {
      std::string d = node_text(n["verify_within"]);
      if (!n["verify_within"].IsScalar() || !parse_duration_ms(d, step.verify_within_ms) || step.verify_within_ms <= 0)
        fail(where, "field 'verify_within': '" + d + "' is not a positive duration like 90s, 3m, 1h");
    }
    if (n["message"]) {
      if (!n["message"].IsScalar()) fail(where, "field 'message': expected text, got " + node_text(n["message"]));
      step.message = n["message"].Scalar();
    }
    return step;
  }

  Playbook parse_playbook(const YAML::Node& n, std::size_t index) const {
    std::string where = "playbooks[" + std::to_string(index) + "]";
    if (!n.IsMap()) fail(where, "expected a map, got " + node_text(n));
    Playbook pb;
    if (!n["name"] || !n["name"].IsScalar() || n["name"].Scalar().empty())
      fail(where, "field 'name' is missing or empty");
    pb.name = n["name"].Scalar();
    where = "playbook '" + pb.name + "'";
    static const std::set<std::string> known = {"name", "incident_type", "description", "steps"};
    for (const auto& kv : n) {
      std::string key = kv.first.as<std::string>();
      if (!known.count(key))
        fail(where, "unknown field '" + key + "' (known: name, incident_type, description, steps)");
    }
    if (!n["incident_type"]) fail(where, "field 'incident_type' is missing");
    std::string type = node_text(n["incident_type"]);
    if (!n["incident_type"].IsScalar() || !parse_enum(type, pb.incident_type))
      fail(where, "field 'incident_type': '" + type +
                      "' is not an incident type (memory_leak, cpu_saturation, db_latency, error_burst, "
                      "crash_loop, traffic_surge, bad_state, dependency_outage, unknown)");
    if (n["description"]) pb.description = node_text(n["description"]);
    const YAML::Node steps = n["steps"];
    if (!steps || !steps.IsSequence() || steps.size() == 0)
      fail(where, "field 'steps': expected a non-empty list of steps");
    for (std::size_t i = 0; i < steps.size(); ++i)
      pb.steps.push_back(parse_step(steps[i], where + " step " + std::to_string(i + 1)));
    return pb;
  }

 private:
  std::string source_;
};

const Playbook& builtin_notify_only() {
  static const Playbook pb = [] {
    Playbook p;
    p.name = "builtin-notify-only";
    p.description = "No playbook matches this incident type";
    PlaybookStep s;
    s.message = "no playbook for this incident type";
    p.steps.push_back(s);
    return p;
  }();
  return pb;
}

}  // namespace

PlaybookSet PlaybookSet::from_yaml(const std::string& yaml_text, const std::string& source_name) {
  Parser parser(source_name);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw PlaybookError(source_name + ": not valid YAML: " + e.what());
  }
  if (!root.IsMap()) parser.fail("", "expected a map with 'version' and 'playbooks'");
  for (const auto& kv : root) {
    std::string key = kv.first.as<std::string>();
    if (key != "version" && key != "playbooks")
      parser.fail("", "unknown top-level field '" + key + "' (known: version, playbooks)");
  }
  if (root["version"] && node_text(root["version"]) != "1")
    parser.fail("", "field 'version': only version 1 is understood, got '" + node_text(root["version"]) + "'");
  const YAML::Node list = root["playbooks"];
  if (!list || !list.IsSequence()) parser.fail("", "field 'playbooks': expected a list of playbooks");

  PlaybookSet set;
  std::set<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    Playbook pb = parser.parse_playbook(list[i], i);
    if (!names.insert(pb.name).second) parser.fail("playbook '" + pb.name + "'", "name is used twice");
    if (set.by_type_.count(pb.incident_type))
      parser.fail("playbook '" + pb.name + "'",
                  "field 'incident_type': '" + std::string(to_string(pb.incident_type)) +
                      "' already has playbook '" + set.playbooks_[set.by_type_[pb.incident_type]].name + "'");
    set.by_type_[pb.incident_type] = set.playbooks_.size();
    set.playbooks_.push_back(std::move(pb));
  }
  return set;
}

PlaybookSet PlaybookSet::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw PlaybookError(path + ": cannot read the playbooks file");
  std::stringstream ss;
  ss << in.rdbuf();
  return from_yaml(ss.str(), path);
}

const std::string& PlaybookSet::default_yaml() {
  static const std::string text = kDefaultPlaybooksYaml;
  return text;
}

PlaybookSet PlaybookSet::defaults() { return from_yaml(default_yaml(), "built-in playbooks"); }

const Playbook& PlaybookSet::for_type(IncidentType type) const {
  if (auto it = by_type_.find(type); it != by_type_.end()) return playbooks_[it->second];
  if (auto it = by_type_.find(IncidentType::Unknown); it != by_type_.end()) return playbooks_[it->second];
  return builtin_notify_only();
}

std::string describe(const PlaybookStep& step) {
  std::string s(to_string(step.action));
  if (step.replicas) s += " to " + std::to_string(*step.replicas);
  if (step.by) s += (*step.by > 0 ? " by +" : " by ") + std::to_string(*step.by);
  if (step.target_utilization)
    s += " to fit the load at " + std::to_string(static_cast<int>(*step.target_utilization * 100 + 0.5)) + "% CPU";
  if (step.include_saturated) s += " (and saturated services of the incident)";
  return s;
}

}  // namespace selfheal::remediation
