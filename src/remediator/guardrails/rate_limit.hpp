// Rate limit: at most `remediator.max_actions_per_hour_per_service` actions on one service and
// `remediator.max_actions_per_hour` overall, in any sliding hour of event time. Counts actions
// carried out or decided in dry-run; notifications and refused actions do not count.
#pragma once

#include <deque>
#include <map>

#include "remediator/guardrails/guardrail.hpp"

namespace selfheal::remediation {

class RateLimit final : public Guardrail {
 public:
  RateLimit(int per_service_per_hour, int overall_per_hour, std::int64_t window_ms = 3600 * 1000)
      : per_service_(per_service_per_hour), overall_(overall_per_hour), window_ms_(window_ms) {}
  std::string_view name() const override { return "rate_limit"; }
  Verdict check(const ProposedAction& a, TimeMs now) override;
  void record(const ProposedAction& a, TimeMs now) override;

  // Checkpoints (remediator save_key/restore_key): the times of the counted actions on every
  // workload "<ns>/<service>" of one service, and replacing them. The overall window is not saved:
  // every action in it is also in its workload's window, so it is rebuilt as their union.
  std::map<std::string, std::deque<TimeMs>> entries_of(const std::string& service) const;
  void replace_entries_of(const std::string& service, std::map<std::string, std::deque<TimeMs>> entries);

 private:
  void expire(std::deque<TimeMs>& q, TimeMs now) const;

  int per_service_;
  int overall_;
  std::int64_t window_ms_;
  std::deque<TimeMs> all_;
  std::map<std::string, std::deque<TimeMs>> by_service_;
};

}  // namespace selfheal::remediation
