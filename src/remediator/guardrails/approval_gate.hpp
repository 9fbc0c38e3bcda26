// Approval mode (`remediator.approval.required`): an action that passed the guardrails is published
// as `pending` and held here until an operator approves or rejects it through the API (a
// RemediationAction with status approved/rejected and the pending action's id on `actions`), or
// until `remediator.approval.timeout` passes, after which it is skipped.
//
// Threading: executor thread only.
#pragma once

#include <map>
#include <optional>
#include <vector>

#include "contracts/events.hpp"

namespace selfheal::remediation {

class ApprovalGate {
 public:
  struct Held {
    RemediationAction action;  // as published with status pending
    std::string run_key;       // empty for a manual request outside any playbook run
    TimeMs deadline = 0;
  };

  ApprovalGate(bool required, std::int64_t timeout_ms) : required_(required), timeout_ms_(timeout_ms) {}
  bool required() const { return required_; }
  std::int64_t timeout_ms() const { return timeout_ms_; }

  void hold(RemediationAction action, std::string run_key, TimeMs now) {
    std::string id = action.id;
    held_[id] = Held{std::move(action), std::move(run_key), now + timeout_ms_};
  }
  // The operator's decision arrived: hands the held action back (nullopt if unknown or expired).
  std::optional<Held> release(const std::string& action_id) {
    auto it = held_.find(action_id);
    if (it == held_.end()) return std::nullopt;
    Held h = std::move(it->second);
    held_.erase(it);
    return h;
  }
  // Everything whose deadline has passed, oldest id first (deterministic).
  std::vector<Held> expire(TimeMs now) {
    std::vector<Held> out;
    for (auto it = held_.begin(); it != held_.end();) {
      if (it->second.deadline <= now) {
        out.push_back(std::move(it->second));
        it = held_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }
  // Drops what a run still holds (the incident resolved or changed type meanwhile).
  std::vector<Held> cancel_run(const std::string& run_key) {
    std::vector<Held> out;
    for (auto it = held_.begin(); it != held_.end();) {
      if (!run_key.empty() && it->second.run_key == run_key) {
        out.push_back(std::move(it->second));
        it = held_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }
  std::size_t size() const { return held_.size(); }

  // Checkpoints (remediator save_key/restore_key): what is held for one service (the action's
  // service), dropping it, and putting a held action back as it was (deadline included).
  std::vector<Held> of_service(const std::string& service) const {
    std::vector<Held> out;
    for (const auto& [id, h] : held_)
      if (h.action.service == service) out.push_back(h);
    return out;
  }
  std::vector<std::string> drop_service(const std::string& service) {
    std::vector<std::string> dropped;
    for (auto it = held_.begin(); it != held_.end();) {
      if (it->second.action.service == service) {
        dropped.push_back(it->first);
        it = held_.erase(it);
      } else {
        ++it;
      }
    }
    return dropped;
  }
  void put_back(Held h) {
    std::string id = h.action.id;
    held_[id] = std::move(h);
  }

 private:
  bool required_;
  std::int64_t timeout_ms_;
  std::map<std::string, Held> held_;
};

}  // namespace selfheal::remediation
