// Kill switch: when on, the remediator takes no action at all (every step is recorded as skipped).
// Three ways to flip it: config `remediator.kill_switch` (at start), the file named by
// `remediator.kill_switch_file` (exists = on; checked before every decision, so `touch` stops the
// remediator of a running process), and set_runtime() (the admin route POST /remediator/kill-switch).
//
// Threading: set_runtime() may be called from any thread; check() from the executor thread.
#pragma once

#include <atomic>
#include <string>

#include "remediator/guardrails/guardrail.hpp"

namespace selfheal::remediation {

class KillSwitch final : public Guardrail {
 public:
  KillSwitch(bool configured_on, std::string file) : configured_(configured_on), file_(std::move(file)) {}
  std::string_view name() const override { return "kill_switch"; }
  Verdict check(const ProposedAction& action, TimeMs now) override;

  void set_runtime(bool on) { runtime_.store(on, std::memory_order_release); }
  // Why the switch is on, or empty when it is off.
  std::string engaged_by() const;

 private:
  bool configured_;
  std::string file_;
  std::atomic<bool> runtime_{false};
};

}  // namespace selfheal::remediation
