// The remediator service: turns incidents into playbook steps, passes each step through the
// guardrails, executes it through the Kubernetes API (or holds it for approval, or only records it
// in dry-run), then watches the service's metrics for recovery and takes the next step or escalates.
// Every decision is published on `actions` (RemediationAction / ActionResult): that stream is the
// audit trail.
//
// Lifecycle: construct -> start(ctx) -> on_tick()/poll() from one executor thread -> stop().
// Threading: everything runs on the executor thread, except the kill switch's runtime flag, which
// the admin route flips from the HTTP thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "remediator/guardrails/approval_gate.hpp"
#include "remediator/guardrails/chain.hpp"
#include "remediator/guardrails/cooldown.hpp"
#include "remediator/guardrails/dry_run.hpp"
#include "remediator/guardrails/kill_switch.hpp"
#include "remediator/guardrails/rate_limit.hpp"
#include "remediator/kubernetes_client.hpp"
#include "remediator/playbook.hpp"
#include "remediator/recovery_check.hpp"
#include "runtime/event_service.hpp"

namespace selfheal {

class ConfigSchema;
class Config;
class Counter;
class Gauge;
class Histogram;

namespace remediation {

struct RemediatorOptions {
  bool dry_run = false;
  bool kill_switch = false;
  std::string kill_switch_file;
  std::vector<std::string> namespaces{"shop"};
  std::int64_t cooldown_ms = 5 * 60 * 1000;
  int max_actions_per_hour_per_service = 6;
  int max_actions_per_hour = 20;
  int max_replicas = 10;
  double max_disruption_percent = 50;
  bool approval_required = false;
  std::int64_t approval_timeout_ms = 10 * 60 * 1000;
  std::int64_t verify_deadline_ms = 3 * 60 * 1000;
  int verify_healthy_windows = 3;

  // Throws ConfigError naming the key when a value is out of range.
  static RemediatorOptions from_config(const Config& config);
};

// Declares every remediator.* key.
void declare_remediator_config(ConfigSchema& schema);

// Checkpoints (keyed_state.hpp; over Kafka): the state kept per monitored service moves with the
// service's partition and survives a restart, so a new owner neither forgets a run under way nor
// acts again inside a cooldown. save_key(service) holds, for that service:
//  * its incidents (revision, status, episode: a lost episode would reuse the run key that the
//    cooldown exempts) and their runs (phase, step, deadlines, the action ids timer-made ids derive
//    from), except finished runs of resolved/escalated incidents (nothing reads them again);
//  * the approvals held for actions on it, and the ids of pending actions it published whose echo
//    on `actions` it has not taken in yet (else the echo would pass for a manual request);
//  * the cooldown and rate-limit entries of its workloads ("<ns>/<service>"), its learned recovery
//    band and its latest metrics window (load-sized scale steps read it).
// Global guardrail state: the rate limit's overall window is not saved; restore rebuilds it as the
// union of the per-workload windows held in this process (with partitions spread over processes,
// each enforces max_actions_per_hour over the services it owns). The kill switch is config, file
// or admin flag, not state that moves. restore_key(service, state) validates everything first
// (std::invalid_argument naming the field, nothing changed), then replaces all of the above for
// that service. After any decision (executed, skipped, deferred, pending, verified, escalated) the
// service asks for a checkpoint at once (checkpoint_soon()). An action on another service of the
// incident (include_saturated) leaves its cooldown and rate-limit entries with that service's key;
// the run stays with the incident's service. Not handled here: a live process that LOSES a
// partition keeps the service's runs and their timers (EventService tells a service about gained
// keys only), so it could still take a deadline's next step beside the new owner.
class Remediator final : public EventService, public KeyedState {
 public:
  Remediator(RemediatorOptions options, PlaybookSet playbooks, std::unique_ptr<KubernetesClient> kubernetes);
  ~Remediator() override;

  std::string_view name() const override { return "remediator"; }
  void start(ServiceContext& ctx) override;
  void on_tick(TimeMs now) override;

  KillSwitch& kill_switch() { return *kill_switch_; }
  std::size_t pending_approvals() const { return approvals_.size(); }

  // KeyedState: see the comment above the class.
  nlohmann::json save_key(const std::string& service) const override;
  void restore_key(const std::string& service, const nlohmann::json& state) override;

 protected:
  void handle(const Delivery& d) override;

 private:
  // Deferred: the cooldown of this incident's earlier episode holds the next step back until
  // retry_at (the step already taken is still being given its time); it is taken then.
  enum class Phase { Ready, AwaitingApproval, Verifying, Deferred, Done };

  // One pass of one incident's playbook. A relapse or a change of type starts a new run.
  struct Run {
    std::string key;  // "<incident id>#<episode>"
    Incident incident;
    const Playbook* playbook = nullptr;
    std::size_t next_step = 0;  // the step to start next
    Phase phase = Phase::Ready;
    std::string action_id;      // the step in flight (approval or verification)
    std::string last_action_id; // the last step that touched the cluster (for escalation)
    bool verified = false;
    TimeMs verify_since = 0;
    TimeMs verify_deadline = 0;
    int healthy_streak = 0;
    std::string still_wrong;    // what the last unhealthy window showed
    std::string carry;          // why the next step is being taken
    std::string step_in_flight; // "step 1/2 (delete_pod)" of the last step taken
    TimeMs retry_at = 0;        // Deferred: when the held-back step is taken again
    std::string deferred_id;    // Deferred: the skipped action that recorded the deferral
  };
  struct IncidentTrack {
    std::uint32_t revision = 0;
    IncidentStatus status = IncidentStatus::Open;
    int episode = 0;
    std::string service;  // of the latest snapshot: whose checkpoint holds the track
  };

  void on_incident(const Incident& incident);
  void on_action(const RemediationAction& action);
  void on_features(const FeatureWindow& window);

  Run& start_run(const Incident& incident, TimeMs now, bool new_episode);
  void drive(Run& run, TimeMs now);
  void take_step(Run& run, const PlaybookStep& step, TimeMs now);
  // Guardrails, cluster read, then approval or execution. `run` is null for manual requests.
  void decide(Run* run, RemediationAction action, const PlaybookStep* step, TimeMs now, bool approved,
              const std::string& run_key_override = {});
  // Replicas that fit `service`'s measured CPU load at `target` utilisation (see PlaybookStep).
  int replicas_for_load(const std::string& service, int current, double target, std::string& why) const;
  // include_saturated: the other services of the incident whose CPU is saturated get sized too.
  void scale_saturated_services(Run& run, const PlaybookStep& step, TimeMs now);
  void execute(Run* run, RemediationAction action, const ProposedAction& proposed, TimeMs now);
  K8sResult call_kubernetes(const RemediationAction& action, TimeMs now);
  bool read_cluster(const std::string& ns, const std::string& deployment, ClusterSnapshot& out, std::string& error);
  void start_verification(Run& run, const std::string& action_id, const PlaybookStep* step, TimeMs now);
  void step_failed(Run& run, const std::string& action_id, const std::string& why, TimeMs now);
  void stop_run(Run& run, const std::string& action_id, const std::string& why, TimeMs now, bool escalate);
  void cancel_held(Run& run, const std::string& why, TimeMs now);
  void publish(RemediationAction action);
  void publish_result(const RemediationAction& action, ActionStatus status, std::string detail, TimeMs now);
  bool service_under_incident(const std::string& service) const;
  Run* run_for_key(const std::string& key);
  // The playbook named `name` (one of the set, or the fallback for_type(type) returns); null if none.
  const Playbook* playbook_named(const std::string& name, IncidentType type) const;
  // next_id(), except while a timer acts on a run (timer_base_ set): then the id derives from the
  // action the timer acts on, so re-processing the same history yields the same ids.
  std::string make_id();
  // Runs a timer's `act` on a run with ids derived from `base` (the action it acts on).
  void acting_on(std::string base, const std::function<void()>& act);

  RemediatorOptions options_;
  PlaybookSet playbooks_;
  std::unique_ptr<KubernetesClient> kubernetes_;
  KillSwitch* kill_switch_ = nullptr;  // owned by chain_
  Cooldown* cooldown_ = nullptr;       // owned by chain_
  RateLimit* rate_limit_ = nullptr;    // owned by chain_
  GuardrailChain chain_;
  ApprovalGate approvals_;
  DryRun dry_run_;
  RecoveryCheck recovery_;

  std::map<std::string, IncidentTrack> incidents_;  // by incident id
  std::map<std::string, Run> runs_;                 // by incident id: the current run
  std::set<std::string> issued_ids_;                // action ids this remediator published
  // Pending actions this remediator published whose echo on `actions` it has not taken in yet, by
  // id -> service: saved with the service, so that a new owner does not take the echo for a manual
  // request (issued_ids_ itself is not saved: only pending ids are ever looked up in it).
  std::map<std::string, std::string> unechoed_pending_;
  std::map<std::string, const PlaybookStep*> held_steps_;  // pending action id -> its step
  std::map<std::string, FeatureWindow> latest_windows_;    // service -> its latest metrics window
  std::string timer_base_;  // see make_id()
  int timer_outputs_ = 0;

  Counter* duplicate_snapshots_ = nullptr;
  Histogram* kubernetes_seconds_ = nullptr;
  Gauge* pending_gauge_ = nullptr;
};

}  // namespace remediation
}  // namespace selfheal
