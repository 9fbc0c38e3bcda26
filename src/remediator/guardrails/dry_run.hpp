// Dry-run (`remediator.dry_run`): every decision is made exactly as in live mode — playbooks,
// guardrails (which count the decision as if it had run), approvals, verification — but instead of
// calling the Kubernetes API the action is published with status `dry_run` and dry_run=true.
// Nothing in the cluster changes. This is the mode to start with on a new cluster.
#pragma once

namespace selfheal::remediation {

struct DryRun {
  bool enabled = false;
};

}  // namespace selfheal::remediation
