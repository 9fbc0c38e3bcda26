#include "remediator/guardrails/rate_limit.hpp"

#include "core/clock.hpp"

namespace selfheal::remediation {

void RateLimit::expire(std::deque<TimeMs>& q, TimeMs now) const {
  while (!q.empty() && q.front() <= now - window_ms_) q.pop_front();
}

Verdict RateLimit::check(const ProposedAction& a, TimeMs now) {
  expire(all_, now);
  auto& mine = by_service_[workload_key(a)];
  expire(mine, now);
  if (per_service_ >= 0 && static_cast<int>(mine.size()) >= per_service_)
    return Verdict::refuse(std::to_string(mine.size()) + " actions on " + workload_key(a) + " in the last " +
                           format_duration(window_ms_) + " (limit " + std::to_string(per_service_) +
                           " per service; remediator.max_actions_per_hour_per_service)");
  if (overall_ >= 0 && static_cast<int>(all_.size()) >= overall_)
    return Verdict::refuse(std::to_string(all_.size()) + " actions overall in the last " + format_duration(window_ms_) +
                           " (limit " + std::to_string(overall_) + "; remediator.max_actions_per_hour)");
  return Verdict::allow();
}

void RateLimit::record(const ProposedAction& a, TimeMs now) {
  all_.push_back(now);
  by_service_[workload_key(a)].push_back(now);
}

}  // namespace selfheal::remediation
