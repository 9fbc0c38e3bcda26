#include "sim/k8s_api/k8s_objects.hpp"

#include <ctime>

#include <fmt/format.h>

namespace selfheal::sim::k8s {
namespace {

std::string cpu_quantity(double millicores) { return fmt::format("{}m", static_cast<long long>(millicores)); }

std::string memory_quantity(double bytes) {
  auto b = static_cast<long long>(bytes);
  if (b > 0 && b % (1024LL * 1024 * 1024) == 0) return fmt::format("{}Gi", b / (1024LL * 1024 * 1024));
  if (b > 0 && b % (1024LL * 1024) == 0) return fmt::format("{}Mi", b / (1024LL * 1024));
  return std::to_string(b);
}

json resources_json(double cpu_req, double cpu_lim, double mem_req, double mem_lim) {
  json r = json::object();
  if (cpu_req > 0) r["requests"]["cpu"] = cpu_quantity(cpu_req);
  if (mem_req > 0) r["requests"]["memory"] = memory_quantity(mem_req);
  if (cpu_lim > 0) r["limits"]["cpu"] = cpu_quantity(cpu_lim);
  if (mem_lim > 0) r["limits"]["memory"] = memory_quantity(mem_lim);
  return r;
}

std::string rv_string(std::uint64_t rv) { return std::to_string(rv); }

// Pods are named <deployment>-<template hash>-<suffix>; the hash is the ReplicaSet's.
std::string template_hash(const PodView& pod) {
  if (pod.name.size() <= pod.deployment.size() + 1 || pod.name.compare(0, pod.deployment.size(), pod.deployment) != 0)
    return "";
  std::string rest = pod.name.substr(pod.deployment.size() + 1);
  auto dash = rest.find('-');
  return dash == std::string::npos ? "" : rest.substr(0, dash);
}

std::string pod_status_text(const PodView& p) {
  if (p.terminating) return "Terminating";
  if (p.container_state == "waiting" && !p.waiting_reason.empty()) return p.waiting_reason;
  if (p.container_state == "terminated" && !p.last_termination_reason.empty()) return p.last_termination_reason;
  return p.phase.empty() ? "Unknown" : p.phase;
}

json column(const std::string& name, const std::string& type, const std::string& format,
            const std::string& description, int priority = 0) {
  return {{"name", name}, {"type", type}, {"format", format}, {"description", description}, {"priority", priority}};
}

json table(json columns, json rows, std::uint64_t resource_version) {
  return {{"kind", "Table"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"metadata", {{"resourceVersion", rv_string(resource_version)}}},
          {"columnDefinitions", std::move(columns)},
          {"rows", std::move(rows)}};
}

json row(json cells, const json& object) {
  return {{"cells", std::move(cells)},
          {"object",
           {{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", object["metadata"]}}}};
}

}  // namespace

std::string rfc3339(TimeMs t) {
  std::time_t secs = static_cast<std::time_t>(t / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string human_age(TimeMs now, TimeMs created) {
  if (created <= 0) return "<unknown>";
  long long s = std::max<long long>(0, (now - created) / 1000);
  if (s < 120) return fmt::format("{}s", s);
  long long m = s / 60;
  if (m < 10) return s % 60 == 0 ? fmt::format("{}m", m) : fmt::format("{}m{}s", m, s % 60);
  if (m < 180) return fmt::format("{}m", m);
  long long h = m / 60;
  if (h < 8) return m % 60 == 0 ? fmt::format("{}h", h) : fmt::format("{}h{}m", h, m % 60);
  if (h < 48) return fmt::format("{}h", h);
  long long d = h / 24;
  if (d < 8) return h % 24 == 0 ? fmt::format("{}d", d) : fmt::format("{}d{}h", d, h % 24);
  return fmt::format("{}d", d);
}

std::map<std::string, std::string> pod_labels(const PodView& pod) {
  std::map<std::string, std::string> labels{{"app", pod.deployment}};
  if (auto hash = template_hash(pod); !hash.empty()) labels["pod-template-hash"] = hash;
  return labels;
}

json pod_json(const PodView& p) {
  json meta = {{"name", p.name},
               {"namespace", p.namespace_name},
               {"uid", p.uid},
               {"resourceVersion", rv_string(p.resource_version)},
               {"creationTimestamp", rfc3339(p.created_at)},
               {"labels", pod_labels(p)}};
  if (auto hash = template_hash(p); !hash.empty())
    meta["ownerReferences"] = json::array({{{"apiVersion", "apps/v1"},
                                           {"kind", "ReplicaSet"},
                                           {"name", p.deployment + "-" + hash},
                                           {"uid", p.uid + "-rs"},
                                           {"controller", true},
                                           {"blockOwnerDeletion", true}}});
  if (p.terminating) {
    meta["deletionTimestamp"] = rfc3339(p.started_at > 0 ? p.started_at : p.created_at);
    meta["deletionGracePeriodSeconds"] = 30;
  }
  json state;
  if (p.container_state == "waiting")
    state["waiting"] = {{"reason", p.waiting_reason}};
  else if (p.container_state == "terminated")
    state["terminated"] = {{"reason", p.last_termination_reason}, {"exitCode", 1}};
  else
    state["running"] = {{"startedAt", rfc3339(p.started_at)}};
  json container_status = {{"name", p.deployment},
                           {"image", p.image},
                           {"ready", p.ready},
                           {"started", p.container_state == "running"},
                           {"restartCount", p.restarts},
                           {"state", state}};
  if (!p.last_termination_reason.empty())
    container_status["lastState"] = {
        {"terminated", {{"reason", p.last_termination_reason}, {"exitCode", p.last_termination_reason == "OOMKilled" ? 137 : 1}}}};
  json status = {{"phase", p.phase},
                 {"conditions", json::array({{{"type", "Ready"}, {"status", p.ready ? "True" : "False"}}})},
                 {"containerStatuses", json::array({container_status})}};
  if (p.started_at > 0) status["startTime"] = rfc3339(p.started_at);
  return {{"kind", "Pod"},
          {"apiVersion", "v1"},
          {"metadata", meta},
          {"spec",
           {{"nodeName", p.node},
            {"containers", json::array({{{"name", p.deployment},
                                         {"image", p.image},
                                         {"resources", resources_json(p.cpu_request_millicores, p.cpu_limit_millicores,
                                                                      p.memory_request_bytes, p.memory_limit_bytes)}}})}}},
          {"status", status}};
}

json deployment_json(const DeploymentView& d) {
  json template_meta = {{"labels", {{"app", d.name}}}};
  if (!d.restarted_at.empty()) template_meta["annotations"] = {{"kubectl.kubernetes.io/restartedAt", d.restarted_at}};
  bool available = d.available_replicas >= d.replicas;
  return {
      {"kind", "Deployment"},
      {"apiVersion", "apps/v1"},
      {"metadata",
       {{"name", d.name},
        {"namespace", d.namespace_name},
        {"uid", d.uid},
        {"resourceVersion", rv_string(d.resource_version)},
        {"generation", d.generation},
        {"creationTimestamp", rfc3339(d.created_at)},
        {"labels", {{"app", d.name}}}}},
      {"spec",
       {{"replicas", d.replicas},
        {"selector", {{"matchLabels", {{"app", d.name}}}}},
        {"strategy", {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxUnavailable", "25%"}, {"maxSurge", "25%"}}}}},
        {"template",
         {{"metadata", template_meta},
          {"spec",
           {{"containers", json::array({{{"name", d.name},
                                         {"image", d.image},
                                         {"resources", resources_json(d.cpu_request_millicores, d.cpu_limit_millicores,
                                                                      d.memory_request_bytes, d.memory_limit_bytes)}}})}}}}}}},
      {"status",
       {{"observedGeneration", d.observed_generation},
        {"replicas", std::max(d.updated_replicas, d.ready_replicas)},
        {"updatedReplicas", d.updated_replicas},
        {"readyReplicas", d.ready_replicas},
        {"availableReplicas", d.available_replicas},
        {"conditions",
         json::array({{{"type", "Available"},
                       {"status", available ? "True" : "False"},
                       {"reason", available ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable"}}})}}}};
}

json scale_json(const DeploymentView& d) {
  return {{"kind", "Scale"},
          {"apiVersion", "autoscaling/v1"},
          {"metadata",
           {{"name", d.name},
            {"namespace", d.namespace_name},
            {"uid", d.uid},
            {"resourceVersion", rv_string(d.resource_version)},
            {"creationTimestamp", rfc3339(d.created_at)}}},
          {"spec", {{"replicas", d.replicas}}},
          {"status", {{"replicas", std::max(d.updated_replicas, d.ready_replicas)}, {"selector", "app=" + d.name}}}};
}

json event_json(const ClusterEvent& e) {
  return {{"kind", "Event"},
          {"apiVersion", "v1"},
          {"metadata",
           {{"name", e.name},
            {"namespace", e.namespace_name},
            {"resourceVersion", rv_string(e.resource_version)},
            {"creationTimestamp", rfc3339(e.first_ts)}}},
          {"involvedObject",
           {{"kind", e.involved_kind},
            {"name", e.involved_name},
            {"namespace", e.namespace_name},
            {"apiVersion", e.involved_kind == "Deployment" ? "apps/v1" : "v1"}}},
          {"reason", e.reason},
          {"message", e.message},
          {"type", e.type},
          {"count", e.count},
          {"firstTimestamp", rfc3339(e.first_ts)},
          {"lastTimestamp", rfc3339(e.last_ts)},
          {"source", {{"component", "selfheal-sim"}}}};
}

json namespace_json(const std::string& name, std::uint64_t resource_version) {
  return {{"kind", "Namespace"},
          {"apiVersion", "v1"},
          {"metadata",
           {{"name", name},
            {"uid", "ns-" + name},
            {"resourceVersion", rv_string(resource_version)},
            {"labels", {{"kubernetes.io/metadata.name", name}}}}},
          {"spec", {{"finalizers", json::array({"kubernetes"})}}},
          {"status", {{"phase", "Active"}}}};
}

json list_json(const std::string& kind, const std::string& api_version, std::uint64_t resource_version, json items) {
  return {{"kind", kind},
          {"apiVersion", api_version},
          {"metadata", {{"resourceVersion", rv_string(resource_version)}}},
          {"items", std::move(items)}};
}

json pod_table(const std::vector<PodView>& pods, TimeMs now, std::uint64_t resource_version) {
  json cols = json::array({column("Name", "string", "name", "Name of the pod"),
                           column("Ready", "string", "", "Ready containers / containers"),
                           column("Status", "string", "", "Phase or container state reason"),
                           column("Restarts", "string", "", "Container restarts"),
                           column("Age", "string", "", "Time since creation"),
                           column("Node", "string", "", "Node the pod runs on", 1)});
  json rows = json::array();
  for (const auto& p : pods)
    rows.push_back(row(json::array({p.name, p.ready ? "1/1" : "0/1", pod_status_text(p), std::to_string(p.restarts),
                                    human_age(now, p.created_at), p.node}),
                       pod_json(p)));
  return table(cols, rows, resource_version);
}

json deployment_table(const std::vector<DeploymentView>& ds, TimeMs now, std::uint64_t resource_version) {
  json cols = json::array({column("Name", "string", "name", "Name of the deployment"),
                           column("Ready", "string", "", "Ready replicas / desired replicas"),
                           column("Up-to-date", "integer", "", "Replicas on the current template"),
                           column("Available", "integer", "", "Available replicas"),
                           column("Age", "string", "", "Time since creation"),
                           column("Containers", "string", "", "Container names", 1),
                           column("Images", "string", "", "Container images", 1),
                           column("Selector", "string", "", "Label selector", 1)});
  json rows = json::array();
  for (const auto& d : ds)
    rows.push_back(row(json::array({d.name, fmt::format("{}/{}", d.ready_replicas, d.replicas), d.updated_replicas,
                                    d.available_replicas, human_age(now, d.created_at), d.name, d.image,
                                    "app=" + d.name}),
                       deployment_json(d)));
  return table(cols, rows, resource_version);
}

json event_table(const std::vector<ClusterEvent>& events, TimeMs now, std::uint64_t resource_version) {
  json cols = json::array({column("Last Seen", "string", "", "Time since the last occurrence"),
                           column("Type", "string", "", "Normal or Warning"),
                           column("Reason", "string", "", "Short reason"),
                           column("Object", "string", "", "Object the event is about"),
                           column("Message", "string", "", "Description")});
  json rows = json::array();
  for (const auto& e : events) {
    std::string kind = e.involved_kind;
    for (auto& c : kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    rows.push_back(row(json::array({human_age(now, e.last_ts), e.type, e.reason, kind + "/" + e.involved_name,
                                    e.message}),
                       event_json(e)));
  }
  return table(cols, rows, resource_version);
}

json namespace_table(const std::vector<std::string>& names, std::uint64_t resource_version) {
  json cols = json::array({column("Name", "string", "name", "Name of the namespace"),
                           column("Status", "string", "", "Phase of the namespace")});
  json rows = json::array();
  for (const auto& n : names) rows.push_back(row(json::array({n, "Active"}), namespace_json(n, resource_version)));
  return table(cols, rows, resource_version);
}

json status_json(int code, const std::string& reason, const std::string& message, const std::string& name,
                 const std::string& group, const std::string& kind) {
  json s = {{"kind", "Status"},
            {"apiVersion", "v1"},
            {"metadata", json::object()},
            {"status", code < 400 ? "Success" : "Failure"},
            {"message", message},
            {"code", code}};
  if (!reason.empty()) s["reason"] = reason;
  if (!name.empty() || !kind.empty()) {
    json details = json::object();
    if (!name.empty()) details["name"] = name;
    if (!group.empty()) details["group"] = group;
    if (!kind.empty()) details["kind"] = kind;
    s["details"] = details;
  }
  return s;
}

namespace {

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t");
  auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

bool valid_label_key(const std::string& k) {
  if (k.empty() || k.size() > 316) return false;
  for (char c : k)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/')) return false;
  return true;
}

// Splits on commas that are not inside parentheses.
std::vector<std::string> split_terms(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

}  // namespace

bool parse_label_selector(const std::string& text, Selector& out, std::string& error) {
  out.terms.clear();
  if (trim(text).empty()) return true;
  for (auto raw : split_terms(text)) {
    std::string term = trim(raw);
    Selector::Term t{};
    if (term.empty()) {
      error = "empty term in selector \"" + text + "\"";
      return false;
    }
    std::size_t pos;
    if (term[0] == '!') {
      t.op = Selector::Term::Op::NotExists;
      t.key = trim(term.substr(1));
    } else if ((pos = term.find("!=")) != std::string::npos) {
      t.op = Selector::Term::Op::NotEquals;
      t.key = trim(term.substr(0, pos));
      t.values = {trim(term.substr(pos + 2))};
    } else if ((pos = term.find("==")) != std::string::npos) {
      t.op = Selector::Term::Op::Equals;
      t.key = trim(term.substr(0, pos));
      t.values = {trim(term.substr(pos + 2))};
    } else if ((pos = term.find('=')) != std::string::npos) {
      t.op = Selector::Term::Op::Equals;
      t.key = trim(term.substr(0, pos));
      t.values = {trim(term.substr(pos + 1))};
    } else if (auto open = term.find('('); open != std::string::npos) {
      auto close = term.rfind(')');
      std::string head = trim(term.substr(0, open));
      auto space = head.rfind(' ');
      if (close == std::string::npos || close < open || space == std::string::npos) {
        error = "malformed set term \"" + term + "\"";
        return false;
      }
      std::string op = head.substr(space + 1);
      t.key = trim(head.substr(0, space));
      if (op == "in") t.op = Selector::Term::Op::In;
      else if (op == "notin") t.op = Selector::Term::Op::NotIn;
      else {
        error = "unknown operator \"" + op + "\" in \"" + term + "\"";
        return false;
      }
      for (auto& v : split_terms(term.substr(open + 1, close - open - 1))) t.values.push_back(trim(v));
    } else {
      t.op = Selector::Term::Op::Exists;
      t.key = term;
    }
    if (!valid_label_key(t.key)) {
      error = "invalid label key \"" + t.key + "\" in selector \"" + text + "\"";
      return false;
    }
    out.terms.push_back(std::move(t));
  }
  return true;
}

bool Selector::matches(const std::map<std::string, std::string>& labels) const {
  for (const auto& t : terms) {
    auto it = labels.find(t.key);
    bool has = it != labels.end();
    auto in_values = [&] {
      if (!has) return false;
      for (const auto& v : t.values)
        if (v == it->second) return true;
      return false;
    };
    switch (t.op) {
      case Term::Op::Equals:
      case Term::Op::In:
        if (!in_values()) return false;
        break;
      case Term::Op::NotEquals:
      case Term::Op::NotIn:
        if (in_values()) return false;
        break;
      case Term::Op::Exists:
        if (!has) return false;
        break;
      case Term::Op::NotExists:
        if (has) return false;
        break;
    }
  }
  return true;
}

}  // namespace selfheal::sim::k8s
