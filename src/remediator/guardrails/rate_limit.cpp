#include "remediator/guardrails/rate_limit.hpp"

#include <algorithm>

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

std::map<std::string, std::deque<TimeMs>> RateLimit::entries_of(const std::string& service) const {
  std::map<std::string, std::deque<TimeMs>> out;
  for (const auto& [workload, times] : by_service_)
    if (!times.empty() && workload_service(workload) == service) out.emplace(workload, times);
  return out;
}

void RateLimit::replace_entries_of(const std::string& service, std::map<std::string, std::deque<TimeMs>> entries) {
  std::erase_if(by_service_, [&](const auto& e) { return workload_service(e.first) == service; });
  for (auto& [workload, times] : entries)
    if (!times.empty()) by_service_[workload] = std::move(times);
  // Every action counted overall was counted for its workload too, and both windows expire alike:
  // the overall window is the union of the per-workload ones (expired entries drop at the next check).
  all_.clear();
  for (const auto& [workload, times] : by_service_) all_.insert(all_.end(), times.begin(), times.end());
  std::sort(all_.begin(), all_.end());
}

void RateLimit::record(const ProposedAction& a, TimeMs now) {
  all_.push_back(now);
  by_service_[workload_key(a)].push_back(now);
}

}  // namespace selfheal::remediation
