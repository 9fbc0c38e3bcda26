// Playbooks: for each incident type, the ordered steps the remediator may take. Loaded from YAML
// (config/playbooks/default.yaml holds the defaults, which are also built into the binary) and
// validated up front, so a bad file is refused at start with the playbook, step and field named.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "contracts/events.hpp"

namespace selfheal::remediation {

// Which pod a delete_pod step removes.
enum class PodSelector : std::uint8_t {
  IncidentOrWorst,  // the incident's target_pod, else the worst pod found through the API
  Worst,            // always ask the API (crash-looping, OOM-killed, most restarts, oldest)
};

struct PlaybookStep {
  ActionKind action = ActionKind::NotifyOnly;
  std::optional<int> replicas;        // scale_deployment: scale to exactly this many
  std::optional<int> by;              // scale_deployment: add this many (may be negative)
  // scale_deployment: size the deployment for its measured load, like a HorizontalPodAutoscaler
  // in one step: replicas = ceil(current x CPU utilisation / target). A saturated service (CPU
  // utilisation at the limit) hides its true demand, so it at least triples.
  std::optional<double> target_utilization;
  // scale_deployment: also size every other service of the incident that is CPU-saturated (a
  // surge arriving at the front door saturates the services it calls too).
  bool include_saturated = false;
  PodSelector pod = PodSelector::IncidentOrWorst;
  std::int64_t verify_within_ms = 0;  // 0: the remediator's default deadline
  std::string message;                // notify_only: what to tell the humans
};

struct Playbook {
  std::string name;
  IncidentType incident_type = IncidentType::Unknown;
  std::string description;
  std::vector<PlaybookStep> steps;
};

class PlaybookError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Immutable after loading; safe to share between threads.
class PlaybookSet {
 public:
  // Parses and validates; throws PlaybookError naming the source, playbook, step and field.
  static PlaybookSet from_yaml(const std::string& yaml_text, const std::string& source_name = "<text>");
  static PlaybookSet from_file(const std::string& path);
  // The defaults built into the binary (identical to config/playbooks/default.yaml).
  static PlaybookSet defaults();
  static const std::string& default_yaml();

  // The playbook for `type`; falls back to the `unknown` playbook, then to a built-in notify-only.
  const Playbook& for_type(IncidentType type) const;
  const std::vector<Playbook>& all() const { return playbooks_; }

 private:
  std::vector<Playbook> playbooks_;
  std::map<IncidentType, std::size_t> by_type_;
};

std::string describe(const PlaybookStep& step);

}  // namespace selfheal::remediation
