// How the simulated cluster's state looks as Kubernetes API objects: Pod, Deployment, Scale,
// Event, Namespace, their Lists and the server-side Table format kubectl prints, and Status
// errors. Pure functions of their inputs (no clock), so the same state renders the same bytes.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "sim/cluster_control.hpp"

namespace selfheal::sim::k8s {

using nlohmann::json;

// RFC 3339 in UTC at second precision, as Kubernetes writes metav1.Time.
std::string rfc3339(TimeMs t);
// kubectl's short age ("45s", "3m12s", "5h", "2d"); "<unknown>" for a zero creation time.
std::string human_age(TimeMs now, TimeMs created);

std::map<std::string, std::string> pod_labels(const PodView& pod);
json pod_json(const PodView& pod);
json deployment_json(const DeploymentView& d);
json scale_json(const DeploymentView& d);
json event_json(const ClusterEvent& e);
json namespace_json(const std::string& name, std::uint64_t resource_version);
json list_json(const std::string& kind, const std::string& api_version, std::uint64_t resource_version,
               json items);

// Tables: `objects` are the full objects (their metadata goes into each row).
json pod_table(const std::vector<PodView>& pods, TimeMs now, std::uint64_t resource_version);
json deployment_table(const std::vector<DeploymentView>& ds, TimeMs now, std::uint64_t resource_version);
json event_table(const std::vector<ClusterEvent>& events, TimeMs now, std::uint64_t resource_version);
json namespace_table(const std::vector<std::string>& names, std::uint64_t resource_version);

// A Kubernetes Status object (kind Status, status Failure unless code < 400).
json status_json(int code, const std::string& reason, const std::string& message, const std::string& name = "",
                 const std::string& group = "", const std::string& kind = "");

// A label selector as the API accepts it: comma-separated terms k=v, k==v, k!=v, k, !k,
// k in (a,b), k notin (a,b). Returns false (with the problem in `error`) when malformed.
struct Selector {
  struct Term {
    enum class Op { Equals, NotEquals, Exists, NotExists, In, NotIn } op;
    std::string key;
    std::vector<std::string> values;
  };
  std::vector<Term> terms;
  bool matches(const std::map<std::string, std::string>& labels) const;
};
bool parse_label_selector(const std::string& text, Selector& out, std::string& error);

}  // namespace selfheal::sim::k8s
