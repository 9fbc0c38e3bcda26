// Namespace allowlist: the remediator acts only in the listed namespaces (`remediator.namespaces`,
// default: shop). Stateless.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "remediator/guardrails/guardrail.hpp"

namespace selfheal::remediation {

class NamespaceAllowlist final : public Guardrail {
 public:
  explicit NamespaceAllowlist(std::vector<std::string> allowed) : allowed_(std::move(allowed)) {}
  std::string_view name() const override { return "namespace_allowlist"; }
  Verdict check(const ProposedAction& a, TimeMs) override {
    if (std::find(allowed_.begin(), allowed_.end(), a.namespace_name) != allowed_.end()) return Verdict::allow();
    std::string list;
    for (const auto& ns : allowed_) list += (list.empty() ? "" : ", ") + ns;
    return Verdict::refuse("namespace '" + a.namespace_name + "' is not in the allowlist [" + list + "]");
  }

 private:
  std::vector<std::string> allowed_;
};

}  // namespace selfheal::remediation
