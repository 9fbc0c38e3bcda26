#include "remediator/guardrails/kill_switch.hpp"

#include <filesystem>

namespace selfheal::remediation {

std::string KillSwitch::engaged_by() const {
  if (configured_) return "remediator.kill_switch is true in the configuration";
  if (runtime_.load(std::memory_order_acquire)) return "switched on at runtime through the admin API";
  std::error_code ec;
  if (!file_.empty() && std::filesystem::exists(file_, ec)) return "the file " + file_ + " exists";
  return {};
}

Verdict KillSwitch::check(const ProposedAction&, TimeMs) {
  std::string why = engaged_by();
  if (why.empty()) return Verdict::allow();
  return Verdict::refuse("all actions are stopped: " + why);
}

}  // namespace selfheal::remediation
