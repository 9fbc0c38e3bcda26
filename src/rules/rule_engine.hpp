// The rule engine's logic, without a bus: evaluates a RuleSet against feature windows and keeps the
// `for:` state of each (rule, series). The rule-engine service (services.cpp) wraps it.
//
// `for:` semantics, in event time: a series becomes pending at the end of the first window where
// the expression holds, and fires on every window whose end is at least `for` after that, as long
// as the expression keeps holding. One window where it does not hold (or a missing value) resets it.
//
// Threading: single-threaded; owned by one service.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "rules/rule_set.hpp"

namespace selfheal::rules {

class RuleEngine {
 public:
  explicit RuleEngine(RuleSet set);

  // Swaps the rules. Pending `for:` state survives for rules whose name and expression are unchanged.
  void replace(RuleSet set);

  // Evaluates every rule that reads this kind of window; returns one Anomaly per firing rule
  // (ids left empty for the caller to assign).
  std::vector<Anomaly> evaluate(const FeatureWindow& window);

  // Forgets series not seen since `before` (pods come and go; state must not grow forever).
  void expire(TimeMs before);

  const RuleSet& rule_set() const { return set_; }
  std::size_t tracked_series() const { return state_.size(); }

 private:
  struct SeriesState {
    TimeMs active_since = -1;  // -1: the expression does not hold
    TimeMs last_seen = 0;
    std::string expr_text;     // to drop state when a reload changes the rule
  };
  RuleSet set_;
  std::map<std::string, SeriesState> state_;  // key: rule \x1f service \x1f pod
};

}  // namespace selfheal::rules
