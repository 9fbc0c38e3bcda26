// A rules file: Prometheus-style alerting rules over window features, parsed and validated.
//
//   version: "2026-11-24.1"          # optional; else a hash of the file's text
//   rules:
//     - name: PodMemoryNearLimit
//       source: metrics                # metrics | logs (which windows the rule reads)
//       scope: pod                     # service | pod
//       expr: memory_utilization_max > 90%
//       for: 30s                       # how long (event time) the expression must hold
//       severity: critical             # info | warning | critical
//       labels: {incident_type: memory_leak}
//       annotations: {summary: "{{service}} memory at {{value}} of its limit"}
//
// Every validation error names the rule, the field and the line of the file.
//
// Threading: a RuleSet is immutable once parsed; the rule engine swaps whole sets on reload.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "contracts/events.hpp"
#include "rules/expression.hpp"

namespace selfheal::rules {

enum class RuleScope : std::uint8_t { Service, Pod };

struct Rule {
  std::string name;
  FeatureSource source = FeatureSource::Metrics;
  RuleScope scope = RuleScope::Service;
  Expression expr;
  std::int64_t for_ms = 0;
  Severity severity = Severity::Warning;
  Labels labels;       // as written, plus severity (added by the parser)
  Labels annotations;  // templates; {{service}}, {{pod}}, {{value}}, {{rule}} are filled in
  int line = 0;        // where the rule starts in its file (1-based)

  std::string label(std::string_view key) const;
};

struct RuleSet {
  std::string version;
  std::string source_name;  // file path, or "<embedded defaults>"
  std::vector<Rule> rules;
};

class RuleFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses and validates a whole file; the first problem throws RuleFileError with a message like
// "rules.yaml:12: rule 'HighCpu': field 'for': malformed duration '2 minutes'".
RuleSet parse_rule_set(const std::string& yaml_text, const std::string& source_name);

// The default rules compiled into the binary (the text of config/rules/default.yaml).
const std::string& embedded_default_rules_yaml();
RuleSet default_rule_set();

// Fills {{service}}, {{pod}}, {{value}} and {{rule}}; unknown placeholders are left as written.
std::string render_template(const std::string& tmpl, const std::string& service, const std::string& pod,
                            double value, const std::string& rule);

}  // namespace selfheal::rules
