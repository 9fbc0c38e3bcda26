// Cooldown per target: after a playbook run acts on a workload, no OTHER run (a new incident, or a
// relapse of the same one) may act on that workload for `remediator.cooldown`. Steps of the same
// run are exempt: they are already paced by their verification deadlines. This stops flapping
// (restart, relapse, restart, ...) from turning into a restart loop. When the run held back is a
// later episode of the same incident, the refusal says until when (Verdict::retry_at): the
// remediator defers that step rather than escalating; another incident's step is refused outright.
#pragma once

#include <map>

#include "remediator/guardrails/guardrail.hpp"

namespace selfheal::remediation {

class Cooldown final : public Guardrail {
 public:
  explicit Cooldown(std::int64_t cooldown_ms) : cooldown_ms_(cooldown_ms) {}
  std::string_view name() const override { return "cooldown"; }
  Verdict check(const ProposedAction& a, TimeMs now) override;
  void record(const ProposedAction& a, TimeMs now) override;

  // The last action on a workload: what the cooldown holds, per workload.
  struct Last {
    TimeMs at = 0;
    std::string run_key;
    std::string incident_id;
  };
  // Checkpoints (remediator save_key/restore_key): the entries of every workload "<ns>/<service>"
  // of one service, and replacing them.
  std::map<std::string, Last> entries_of(const std::string& service) const;
  void replace_entries_of(const std::string& service, std::map<std::string, Last> entries);

 private:
  std::int64_t cooldown_ms_;
  std::map<std::string, Last> last_;  // workload -> last action on it
};

}  // namespace selfheal::remediation
