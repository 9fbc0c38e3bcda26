#include "remediator/guardrails/cooldown.hpp"

#include "core/clock.hpp"

namespace selfheal::remediation {

Verdict Cooldown::check(const ProposedAction& a, TimeMs now) {
  if (cooldown_ms_ <= 0) return Verdict::allow();
  auto it = last_.find(workload_key(a));
  if (it == last_.end() || it->second.run_key == a.run_key) return Verdict::allow();
  std::int64_t since = now - it->second.at;
  if (since >= cooldown_ms_) return Verdict::allow();
  Verdict v = Verdict::refuse(workload_key(a) + " was acted on " + format_duration(since) + " ago (incident " +
                              it->second.incident_id + "); cooldown is " + format_duration(cooldown_ms_) + ", " +
                              format_duration(cooldown_ms_ - since) + " left");
  // The same incident's earlier episode acted: this step is held back, not refused for good.
  if (it->second.incident_id == a.incident_id) v.retry_at = it->second.at + cooldown_ms_;
  return v;
}

std::map<std::string, Cooldown::Last> Cooldown::entries_of(const std::string& service) const {
  std::map<std::string, Last> out;
  for (const auto& [workload, last] : last_)
    if (workload_service(workload) == service) out.emplace(workload, last);
  return out;
}

void Cooldown::replace_entries_of(const std::string& service, std::map<std::string, Last> entries) {
  std::erase_if(last_, [&](const auto& e) { return workload_service(e.first) == service; });
  last_.merge(entries);
}

void Cooldown::record(const ProposedAction& a, TimeMs now) {
  last_[workload_key(a)] = Last{now, a.run_key, a.incident_id};
}

}  // namespace selfheal::remediation
