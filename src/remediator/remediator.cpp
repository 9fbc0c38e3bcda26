#include "remediator/remediator.hpp"

#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <optional>
#include <stdexcept>

#include "contracts/events_json.hpp"
#include "contracts/feature_names.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/http_server.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "remediator/guardrails/cooldown.hpp"
#include "remediator/guardrails/disruption_budget.hpp"
#include "remediator/guardrails/max_replicas.hpp"
#include "remediator/guardrails/namespace_allowlist.hpp"
#include "remediator/guardrails/rate_limit.hpp"

namespace selfheal::remediation {
namespace {

constexpr std::string_view kComponent = "remediator";

bool reads_workload(ActionKind k) {
  return k == ActionKind::DeletePod || k == ActionKind::RolloutRestart || k == ActionKind::ScaleDeployment;
}

std::string describe_result(const K8sResult& r) {
  if (r.ok) return "HTTP " + std::to_string(r.status) + (r.message.empty() ? "" : ": " + r.message);
  std::string s = r.status == 0 ? std::string("no answer") : "HTTP " + std::to_string(r.status);
  if (!r.reason.empty()) s += " " + r.reason;
  if (!r.message.empty()) s += ": " + r.message;
  return s;
}

std::string step_label(const Playbook& pb, std::size_t index) {
  return "step " + std::to_string(index + 1) + "/" + std::to_string(pb.steps.size()) + " (" +
         describe(pb.steps[index]) + ")";
}

// The pod most worth replacing: crash-looping or not ready first, then OOM-killed, then the one
// with most restarts, then the oldest; ties by name so the choice is deterministic.
const K8sPod* worst_pod(const std::vector<K8sPod>& pods) {
  const K8sPod* best = nullptr;
  auto rank = [](const K8sPod& p) {
    return std::make_tuple(!p.waiting_reason.empty() || !p.ready, p.last_termination_reason == "OOMKilled", p.restarts,
                           -p.start_time);
  };
  for (const auto& p : pods) {
    if (p.terminating) continue;
    if (!best || rank(p) > rank(*best) || (rank(p) == rank(*best) && p.name < best->name)) best = &p;
  }
  return best;
}

// Just enough of an action for publish_result: which action, incident and service.
RemediationAction action_ref(const std::string& action_id, const std::string& incident_id, const std::string& service) {
  RemediationAction a;
  a.id = action_id;
  a.incident_id = incident_id;
  a.service = service;
  return a;
}

}  // namespace

void declare_remediator_config(ConfigSchema& s) {
  s.add("remediator.playbooks", ConfigType::String, "",
        "Playbooks YAML file (format: src/remediator/README.md); empty: the built-in defaults "
        "(config/playbooks/default.yaml)");
  s.add("remediator.dry_run", ConfigType::Bool, "false",
        "Decide everything but call no Kubernetes API: actions are published with status dry_run");
  s.add("remediator.kill_switch", ConfigType::Bool, "false", "Stop all actions (every step is recorded as skipped)");
  s.add("remediator.kill_switch_file", ConfigType::String, "./data/remediator.kill",
        "While this file exists, all actions stop (flip at runtime: touch / rm); empty: no file");
  s.add("remediator.namespaces", ConfigType::StringList, "shop", "Namespaces the remediator may act in");
  s.add("remediator.cooldown", ConfigType::Duration, "5m",
        "After acting on a deployment, other incidents may not act on it for this long");
  s.add("remediator.max_actions_per_hour_per_service", ConfigType::Int, "6",
        "Most actions on one service in any sliding hour");
  s.add("remediator.max_actions_per_hour", ConfigType::Int, "20", "Most actions overall in any sliding hour");
  s.add("remediator.max_replicas", ConfigType::Int, "10", "Scale steps never take a deployment above this");
  s.add("remediator.max_disruption_percent", ConfigType::Double, "50",
        "Most of a deployment's pods (percent, rounded up) that may be unavailable because of an action");
  s.add("remediator.approval.required", ConfigType::Bool, "false",
        "Hold every action as pending until an operator approves it through the API");
  s.add("remediator.approval.timeout", ConfigType::Duration, "10m",
        "A pending action not approved within this is skipped");
  s.add("remediator.verify.deadline", ConfigType::Duration, "3m",
        "Default time a step has to bring the service back (playbook steps may set verify_within)");
  s.add("remediator.verify.healthy_windows", ConfigType::Int, "3",
        "Consecutive healthy metrics windows that count as recovered");
  s.add("remediator.kubeconfig", ConfigType::String, "./data/kubeconfig",
        "kubeconfig of the cluster to act on (cluster-sim writes one here at start)");
  s.add("remediator.kube_context", ConfigType::String, "", "kubeconfig context; empty: current-context");
  s.add("remediator.in_cluster", ConfigType::Bool, "false",
        "Use the pod's service-account credentials instead of a kubeconfig");
  s.add("remediator.clear_state_url", ConfigType::String,
        "{server}/sim/v1/namespaces/{namespace}/services/{service}/clear-state",
        "URL template of the clear_state hook ({server}, {namespace}, {service})");
}

RemediatorOptions RemediatorOptions::from_config(const Config& c) {
  RemediatorOptions o;
  o.dry_run = c.boolean("remediator.dry_run");
  o.kill_switch = c.boolean("remediator.kill_switch");
  o.kill_switch_file = c.str("remediator.kill_switch_file");
  o.namespaces = c.strings("remediator.namespaces");
  o.cooldown_ms = c.duration_ms("remediator.cooldown");
  o.max_actions_per_hour_per_service = static_cast<int>(c.integer("remediator.max_actions_per_hour_per_service"));
  o.max_actions_per_hour = static_cast<int>(c.integer("remediator.max_actions_per_hour"));
  o.max_replicas = static_cast<int>(c.integer("remediator.max_replicas"));
  o.max_disruption_percent = c.number("remediator.max_disruption_percent");
  o.approval_required = c.boolean("remediator.approval.required");
  o.approval_timeout_ms = c.duration_ms("remediator.approval.timeout");
  o.verify_deadline_ms = c.duration_ms("remediator.verify.deadline");
  o.verify_healthy_windows = static_cast<int>(c.integer("remediator.verify.healthy_windows"));
  auto bad = [](const std::string& key, const std::string& why) { throw ConfigError(key + ": " + why); };
  if (o.max_actions_per_hour_per_service < 0) bad("remediator.max_actions_per_hour_per_service", "must be >= 0");
  if (o.max_actions_per_hour < 0) bad("remediator.max_actions_per_hour", "must be >= 0");
  if (o.max_replicas < 1) bad("remediator.max_replicas", "must be >= 1");
  if (!(o.max_disruption_percent >= 0 && o.max_disruption_percent <= 100))
    bad("remediator.max_disruption_percent", "must be within [0, 100]");
  if (o.approval_timeout_ms <= 0) bad("remediator.approval.timeout", "must be positive");
  if (o.verify_deadline_ms <= 0) bad("remediator.verify.deadline", "must be positive");
  if (o.verify_healthy_windows < 1) bad("remediator.verify.healthy_windows", "must be >= 1");
  if (o.namespaces.empty()) bad("remediator.namespaces", "must name at least one namespace");
  return o;
}

Remediator::Remediator(RemediatorOptions options, PlaybookSet playbooks, std::unique_ptr<KubernetesClient> kubernetes)
    : options_(std::move(options)),
      playbooks_(std::move(playbooks)),
      kubernetes_(std::move(kubernetes)),
      approvals_(options_.approval_required, options_.approval_timeout_ms),
      dry_run_{options_.dry_run} {
  auto ks = std::make_unique<KillSwitch>(options_.kill_switch, options_.kill_switch_file);
  kill_switch_ = ks.get();
  chain_.add(std::move(ks));
  chain_.add(std::make_unique<NamespaceAllowlist>(options_.namespaces));
  auto cooldown = std::make_unique<Cooldown>(options_.cooldown_ms);
  cooldown_ = cooldown.get();
  chain_.add(std::move(cooldown));
  auto rate_limit =
      std::make_unique<RateLimit>(options_.max_actions_per_hour_per_service, options_.max_actions_per_hour);
  rate_limit_ = rate_limit.get();
  chain_.add(std::move(rate_limit));
  chain_.add(std::make_unique<MaxReplicas>(options_.max_replicas));
  chain_.add(std::make_unique<DisruptionBudget>(options_.max_disruption_percent));
}

Remediator::~Remediator() = default;

void Remediator::start(ServiceContext& ctx) {
  bind(ctx);
  consume(topics::kIncidents);
  consume(topics::kActions);
  consume(topics::kFeatures);
  keep_state(*this);
  duplicate_snapshots_ = &ctx.metrics.counter("selfheal_remediator_duplicate_snapshots_total",
                                              "Incident snapshots ignored because their revision was already seen");
  kubernetes_seconds_ = &ctx.metrics.histogram("selfheal_remediator_kubernetes_request_seconds",
                                               "Wall time of the remediator's Kubernetes API calls",
                                               MetricsRegistry::latency_buckets_seconds());
  pending_gauge_ = &ctx.metrics.gauge("selfheal_remediator_pending_approvals",
                                      "Actions waiting for an operator's approval");
  if (ctx.admin) {
    KillSwitch* ks = kill_switch_;
    ctx.admin->http().Post("/remediator/kill-switch", [ks](const httplib::Request& req, httplib::Response& res) {
      std::string on = req.has_param("on") ? req.get_param_value("on") : "";
      if (on != "true" && on != "false") {
        res.status = 400;
        res.set_content("{\"error\":\"query parameter 'on' must be true or false\"}", "application/json");
        return;
      }
      ks->set_runtime(on == "true");
      std::string why = ks->engaged_by();
      res.set_content(std::string("{\"engaged\":") + (why.empty() ? "false" : "true") + "}", "application/json");
    });
    ctx.admin->http().Get("/remediator/kill-switch", [ks](const httplib::Request&, httplib::Response& res) {
      std::string why = ks->engaged_by();
      res.set_content(std::string("{\"engaged\":") + (why.empty() ? "false" : "true") + "}", "application/json");
    });
  }
  log::info(kComponent, "{} playbooks; dry_run={} approval={} namespaces={}", playbooks_.all().size(),
            options_.dry_run, options_.approval_required, options_.namespaces.size());
}

// ---------------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------------

void Remediator::handle(const Delivery& d) {
  if (const auto* i = std::get_if<Incident>(&d.event)) on_incident(*i);
  else if (const auto* a = std::get_if<RemediationAction>(&d.event)) on_action(*a);
  else if (const auto* w = std::get_if<FeatureWindow>(&d.event)) on_features(*w);
}

void Remediator::on_incident(const Incident& inc) {
  TimeMs now = ctx().clock.now();
  auto [it, is_new] = incidents_.try_emplace(inc.id);
  IncidentTrack& track = it->second;
  if (!is_new && inc.revision <= track.revision) {
    duplicate_snapshots_->inc();
    return;  // seen already: never act twice on one snapshot
  }
  IncidentStatus before = track.status;
  track.revision = inc.revision;
  track.status = inc.status;
  track.service = inc.service;

  auto run_it = runs_.find(inc.id);
  Run* run = run_it == runs_.end() ? nullptr : &run_it->second;
  if (run) run->incident = inc;

  if (inc.status == IncidentStatus::Resolved) {
    if (run && run->phase == Phase::Verifying) {
      publish_result(action_ref(run->action_id, inc.id, inc.service), ActionStatus::Verified,
                     "the incident was resolved by the classifier", now);
      run->verified = true;
      run->phase = Phase::Done;
    } else if (run && run->phase == Phase::AwaitingApproval) {
      cancel_held(*run, "the incident resolved before the action was approved", now);
      run->phase = Phase::Done;
    } else if (run) {
      run->phase = Phase::Done;
    }
    return;
  }
  if (inc.status == IncidentStatus::Escalated) {
    // Humans own an escalated incident: stop here.
    if (run && run->phase == Phase::AwaitingApproval) cancel_held(*run, "the incident was escalated", now);
    if (run) run->phase = Phase::Done;
    return;
  }
  bool relapse = !is_new && (before == IncidentStatus::Resolved || before == IncidentStatus::Escalated);
  bool retyped = run && run->playbook != &playbooks_.for_type(inc.type);
  if (!run || relapse) {
    if (run && run->phase == Phase::AwaitingApproval) cancel_held(*run, "superseded by a relapse", now);
    Run& fresh = start_run(inc, now, /*new_episode=*/true);
    if (relapse) fresh.carry = "relapse of " + inc.id;
    drive(fresh, now);
    return;
  }
  if (!retyped) return;
  // The classifier changed its mind about the type: same fault, same episode (so the cooldown
  // does not hold it), the new type's playbook from its first step.
  std::string why = "the incident was retyped to " + std::string(to_string(inc.type));
  if (run->phase == Phase::Verifying) {
    // Let the step in flight prove itself first; if it does not, the new playbook continues.
    run->playbook = &playbooks_.for_type(inc.type);
    run->next_step = 0;
    return;
  }
  if (run->phase == Phase::AwaitingApproval) cancel_held(*run, "superseded: " + why, now);
  Run& fresh = start_run(inc, now, /*new_episode=*/false);
  fresh.carry = why;
  drive(fresh, now);
}

void Remediator::on_action(const RemediationAction& a) {
  TimeMs now = ctx().clock.now();
  if (a.status == ActionStatus::Approved || a.status == ActionStatus::Rejected) {
    auto held = approvals_.release(a.id);
    if (!held) return;  // unknown, already decided, or timed out (the timeout is in the audit trail)
    pending_gauge_->set(static_cast<double>(approvals_.size()));
    const PlaybookStep* step = held_steps_.count(a.id) ? held_steps_[a.id] : nullptr;
    held_steps_.erase(a.id);
    Run* run = run_for_key(held->run_key);
    RemediationAction action = held->action;
    action.ts = now;
    if (a.status == ActionStatus::Rejected) {
      action.status = ActionStatus::Rejected;
      action.reason = "rejected by an operator" + (a.reason.empty() ? std::string() : ": " + a.reason) +
                      "; the playbook stops here";
      publish(action);
      if (run) run->phase = Phase::Done;
      return;
    }
    action.reason = held->action.reason + "; approved by an operator";
    if (run) run->phase = Phase::Ready;
    decide(run, action, step, now, /*approved=*/true);
    if (run && run->phase == Phase::Ready) drive(*run, now);
    return;
  }
  // The echo of a pending action this remediator published: nothing to do, but no longer in flight.
  if (a.status == ActionStatus::Pending && unechoed_pending_.erase(a.id)) return;
  // A pending action this remediator did not publish is a manual request (api POST /actions): it
  // passes the same guardrails; the operator asking for it counts as the approval.
  if (a.status == ActionStatus::Pending && !issued_ids_.count(a.id)) {
    RemediationAction action = a;
    action.ts = now;
    if (action.namespace_name.empty()) action.namespace_name = "default";
    std::string invalid;
    if (action.kind == ActionKind::ScaleDeployment && action.replicas < 1)
      invalid = "field 'replicas': " + std::to_string(action.replicas) + " is not a replica count >= 1";
    else if (action.kind == ActionKind::DeletePod && (action.target.empty() || action.target == action.service))
      invalid = "field 'target': delete_pod needs the name of a pod of " + action.service;
    if (!invalid.empty()) {
      action.status = ActionStatus::Skipped;
      action.reason = "invalid request: " + invalid + " (" + a.reason + ")";
      publish(action);
      return;
    }
    if (action.kind != ActionKind::DeletePod) action.target = action.service;
    decide(nullptr, action, nullptr, now, /*approved=*/true);
  }
}

void Remediator::on_features(const FeatureWindow& w) {
  if (w.source != FeatureSource::Metrics || !w.pod.empty()) return;
  latest_windows_[w.service] = w;
  recovery_.observe(w, !service_under_incident(w.service));
  TimeMs now = ctx().clock.now();
  for (auto& [id, run] : runs_) {
    if (run.phase != Phase::Verifying || run.incident.service != w.service || w.start < run.verify_since) continue;
    std::string wrong = recovery_.problems(w, run.incident.type);
    if (!wrong.empty()) {
      run.healthy_streak = 0;
      run.still_wrong = wrong;
      continue;
    }
    if (++run.healthy_streak < options_.verify_healthy_windows) continue;
    std::string judged = "error ratio, latency";
    switch (run.incident.type) {
      case IncidentType::CpuSaturation:
      case IncidentType::TrafficSurge: judged += ", CPU"; break;
      case IncidentType::MemoryLeak: judged += ", readiness, memory"; break;
      case IncidentType::DbLatency: judged += ", readiness, DB query latency"; break;
      default: judged += ", readiness"; break;
    }
    publish_result(action_ref(run.action_id, run.incident.id, run.incident.service), ActionStatus::Verified,
                   w.service + " healthy for " + std::to_string(run.healthy_streak) + " consecutive windows (" +
                       judged + " back in their band) after " + format_duration(w.end - run.verify_since),
                   now);
    run.verified = true;
    run.phase = Phase::Done;
  }
}

void Remediator::on_tick(TimeMs now) {
  // Timers act only for services whose partitions this process still holds: after a rebalance
  // the new owner restored their runs from the checkpoint and drives them (holds_key()).
  for (auto& held : approvals_.expire(now)) {
    held_steps_.erase(held.action.id);
    RemediationAction action = held.action;
    action.ts = now;
    action.status = ActionStatus::Skipped;
    action.reason = "approval: no operator decision within " + format_duration(approvals_.timeout_ms());
    publish(action);
    if (Run* run = run_for_key(held.run_key))
      acting_on(action.id + "~expired", [&] { stop_run(*run, action.id, action.reason, now, /*escalate=*/true); });
  }
  if (pending_gauge_) pending_gauge_->set(static_cast<double>(approvals_.size()));
  for (auto& [id, run] : runs_) {
    if (run.phase != Phase::Deferred || now < run.retry_at || !holds_key(run.incident.service)) continue;
    run.phase = Phase::Ready;
    acting_on(run.deferred_id + "~retry", [&] { drive(run, now); });
  }
  for (auto& [id, run] : runs_) {
    if (run.phase != Phase::Verifying || now < run.verify_deadline || !holds_key(run.incident.service)) continue;
    run.carry = run.step_in_flight + " did not bring " + run.incident.service + " back within " +
                format_duration(run.verify_deadline - run.verify_since) +
                (run.still_wrong.empty() ? std::string(" (no healthy metrics window seen)") : ": " + run.still_wrong);
    run.phase = Phase::Ready;
    acting_on(run.action_id + "~deadline", [&] { drive(run, now); });
  }
}

void Remediator::acting_on(std::string base, const std::function<void()>& act) {
  timer_outputs_ = 0;
  timer_base_ = std::move(base);
  struct Clear {
    std::string& base;
    ~Clear() { base.clear(); }
  } clear{timer_base_};  // also when `act` throws: later handlers must mint their own ids
  act();
}

std::string Remediator::make_id() {
  if (timer_base_.empty()) return next_id();
  std::string id = timer_base_;
  if (timer_outputs_ > 0) id += "." + std::to_string(timer_outputs_);
  ++timer_outputs_;
  return id;
}

// ---------------------------------------------------------------------------------------------------
// Playbook runs
// ---------------------------------------------------------------------------------------------------

Remediator::Run& Remediator::start_run(const Incident& inc, TimeMs now, bool new_episode) {
  IncidentTrack& track = incidents_[inc.id];
  if (new_episode || track.episode == 0) ++track.episode;
  Run& run = runs_[inc.id];
  run = Run{};
  run.key = inc.id + "#" + std::to_string(track.episode);
  run.incident = inc;
  run.playbook = &playbooks_.for_type(inc.type);
  log::info(kComponent, "incident {} ({} on {}): playbook {} ({} steps)", inc.id, to_string(inc.type), inc.service,
            run.playbook->name, run.playbook->steps.size());
  return run;
}

void Remediator::drive(Run& run, TimeMs now) {
  while (run.phase == Phase::Ready) {
    if (run.next_step >= run.playbook->steps.size()) {
      if (!run.last_action_id.empty() && !run.verified)
        stop_run(run, run.last_action_id,
                 "playbook " + run.playbook->name + " exhausted" + (run.carry.empty() ? "" : " after " + run.carry),
                 now, /*escalate=*/true);
      else
        run.phase = Phase::Done;
      return;
    }
    const PlaybookStep& step = run.playbook->steps[run.next_step++];
    take_step(run, step, now);
  }
}

void Remediator::take_step(Run& run, const PlaybookStep& step, TimeMs now) {
  const Incident& inc = run.incident;
  RemediationAction action;
  action.id = make_id();
  action.ts = now;
  action.incident_id = inc.id;
  action.service = inc.service;
  action.kind = step.action;
  action.namespace_name = inc.namespace_name;
  action.target = inc.service;
  action.playbook = run.playbook->name;
  action.step = static_cast<int>(run.next_step - 1);
  run.step_in_flight = step_label(*run.playbook, run.next_step - 1);
  std::string why = std::string(to_string(inc.type)) + " on " + inc.service + ": playbook " + run.playbook->name + " " +
                    run.step_in_flight;
  if (!run.carry.empty()) why += ", because " + run.carry;
  action.reason = why;
  if (step.action == ActionKind::NotifyOnly) {
    action.status = ActionStatus::Succeeded;
    action.reason = why + ": " + (step.message.empty() ? std::string("notify only") : step.message);
    publish(action);
    return;
  }
  decide(&run, action, &step, now, /*approved=*/false);
  if (step.action == ActionKind::ScaleDeployment && step.include_saturated && run.phase != Phase::Deferred)
    scale_saturated_services(run, step, now);
}

constexpr double kSaturatedUtilization = 0.85;  // CPU mean at or above this: the service is saturated
// A scrape at or above this share of the limit is a pod pinned at its limit (usage is capped there;
// scrapes carry a few percent of noise). The window's mean lags a sudden spike by up to a window
// (it still averages the minute before the onset), its maximum does not.
constexpr double kPinnedUtilization = 0.95;
// How much a saturated service at least grows in one step. Its true demand is hidden by the cap,
// so the step cannot be sized from it; a HorizontalPodAutoscaler with the default scale-up policy
// (+100% every 15 s) would reach 4x within 30 s, while our next step comes only after a
// verification deadline (90 s) during which users wait. Tripling is sized for that wait; unused
// pods cost less than another 90 s of saturation.
constexpr int kSaturatedGrowth = 3;

namespace {
bool saturated(const FeatureWindow& w) {
  const double mean = w.get(feature_names::kCpuUtilMean), max = w.get(feature_names::kCpuUtilMax);
  return (!is_absent(mean) && mean >= kSaturatedUtilization) || (!is_absent(max) && max >= kPinnedUtilization);
}
}  // namespace

int Remediator::replicas_for_load(const std::string& service, int current, double target, std::string& why) const {
  auto it = latest_windows_.find(service);
  double util = it == latest_windows_.end() ? kAbsent : it->second.get(feature_names::kCpuUtilMean);
  if (is_absent(util)) {
    why = "no CPU measurement of " + service + " yet: +1 replica";
    return current + 1;
  }
  int fit = static_cast<int>(std::ceil(current * util / target - 1e-9));
  int desired = std::max(current + 1, fit);
  char buf[200];
  if (saturated(it->second)) {
    // CPU is capped at the limit: the true demand is higher than measured.
    desired = std::max(desired, kSaturatedGrowth * current);
    const double max = it->second.get(feature_names::kCpuUtilMax);
    std::snprintf(buf, sizeof buf,
                  "CPU at %.0f%% of limit on %d pods (peak %.0f%%: saturated, demand unknown): at least x%d",
                  util * 100, current, is_absent(max) ? util * 100 : max * 100, kSaturatedGrowth);
  } else {
    std::snprintf(buf, sizeof buf, "CPU at %.0f%% of limit on %d pods, %d pods bring it to %.0f%%", util * 100, current,
                  desired, util * current / desired * 100);
  }
  why = buf;
  return desired;
}

void Remediator::scale_saturated_services(Run& run, const PlaybookStep& step, TimeMs now) {
  for (const auto& service : run.incident.affected_services) {
    if (service == run.incident.service) continue;
    auto it = latest_windows_.find(service);
    if (it == latest_windows_.end() || !saturated(it->second)) continue;
    RemediationAction action;
    action.id = make_id();
    action.ts = now;
    action.incident_id = run.incident.id;
    action.service = service;
    action.kind = ActionKind::ScaleDeployment;
    action.namespace_name = run.incident.namespace_name;
    action.target = service;
    action.playbook = run.playbook->name;
    action.step = static_cast<int>(run.next_step - 1);
    action.reason = std::string(to_string(run.incident.type)) + " on " + run.incident.service + ": playbook " +
                    run.playbook->name + " " + run.step_in_flight + ", for " + service +
                    ", a service of the incident whose CPU is saturated too";
    decide(nullptr, action, &step, now, /*approved=*/false, run.key);
  }
}

bool Remediator::read_cluster(const std::string& ns, const std::string& deployment, ClusterSnapshot& out,
                              std::string& error) {
  std::int64_t t0 = monotonic_ns();
  K8sResult r = kubernetes_->get_deployment(ns, deployment, out.deployment);
  if (r.ok) r = kubernetes_->list_pods(ns, "app=" + deployment, out.pods);
  if (kubernetes_seconds_) kubernetes_seconds_->observe(static_cast<double>(monotonic_ns() - t0) / 1e9);
  if (!r.ok) {
    error = "reading deployment " + ns + "/" + deployment + " failed: " + describe_result(r);
    return false;
  }
  out.loaded = true;
  return true;
}

void Remediator::decide(Run* run, RemediationAction action, const PlaybookStep* step, TimeMs now, bool approved,
                        const std::string& run_key_override) {
  ProposedAction p;
  p.run_key = run ? run->key : !run_key_override.empty() ? run_key_override : "manual:" + action.id;
  p.incident_id = action.incident_id;
  p.service = action.service;
  p.namespace_name = action.namespace_name;
  p.kind = action.kind;

  auto refuse = [&](const Verdict& v) {
    action.ts = now;
    action.status = ActionStatus::Skipped;
    action.reason = v.guardrail + ": " + v.reason + " (wanted: " + action.reason + ")";
    if (run && v.retry_at > now) {
      // Held back only by this incident's own earlier step: not a reason to escalate. The step
      // waits out the cooldown (the incident may resolve meanwhile) and is taken then.
      action.reason += "; deferred to " + format_iso8601(v.retry_at) + ", not escalated";
      publish(action);
      --run->next_step;
      run->phase = Phase::Deferred;
      run->retry_at = v.retry_at;
      run->deferred_id = action.id;
      return;
    }
    publish(action);
    if (run) stop_run(*run, action.id, "guardrail " + v.guardrail + " refused it", now, /*escalate=*/true);
  };
  auto fail = [&](const std::string& why) {
    action.ts = now;
    action.status = ActionStatus::Failed;
    action.reason += "; " + why;
    publish(action);
    publish_result(action, ActionStatus::Failed, why, now);
    if (run) step_failed(*run, action.id, why, now);
  };

  std::string notes;
  Verdict v = chain_.check(p, now, /*cluster_phase=*/false, notes);
  if (!v.allowed) return refuse(v);

  ClusterSnapshot snapshot;
  if (reads_workload(action.kind)) {
    std::string error;
    if (!read_cluster(action.namespace_name, action.service, snapshot, error)) return fail(error);
    p.cluster = &snapshot;
    if (action.kind == ActionKind::DeletePod) {
      // Approved or manual actions keep the pod they named; a fresh step picks one now.
      std::string pod = action.target != action.service ? action.target : std::string();
      if (run && step && !approved)
        pod = step->pod == PodSelector::IncidentOrWorst ? run->incident.target_pod : std::string();
      if (!pod.empty() && !approved && run) {
        // The classifier's target may be a pod that has since been replaced (a relapse names the
        // pod of the first episode): take the worst live pod rather than fail on a 404.
        bool live = std::any_of(snapshot.pods.begin(), snapshot.pods.end(),
                                [&](const K8sPod& p) { return p.name == pod && !p.terminating; });
        if (!live) {
          notes += (notes.empty() ? "" : "; ") + ("incident's pod " + pod + " no longer exists");
          pod.clear();
        }
      }
      if (pod.empty()) {
        const K8sPod* worst = worst_pod(snapshot.pods);
        if (!worst) return fail("no pod of " + action.namespace_name + "/" + action.service + " to delete");
        pod = worst->name;
        notes += (notes.empty() ? "" : "; ") + std::string("worst pod by the API: ") + pod;
      }
      action.target = pod;
      p.pod = pod;
    } else if (action.kind == ActionKind::ScaleDeployment) {
      p.current_replicas = snapshot.deployment.replicas;
      if (step && !approved && step->target_utilization) {
        std::string sizing;
        p.desired_replicas = replicas_for_load(action.service, p.current_replicas, *step->target_utilization, sizing);
        notes += (notes.empty() ? "" : "; ") + sizing;
      } else if (run && step && !approved) {
        p.desired_replicas = step->replicas ? *step->replicas : p.current_replicas + step->by.value_or(0);
      } else {
        p.desired_replicas = action.replicas;  // approved or manual: what was asked
      }
      p.desired_replicas = std::max(1, p.desired_replicas);
      action.target = action.service;
    }
    v = chain_.check(p, now, /*cluster_phase=*/true, notes);
    if (!v.allowed) return refuse(v);
    if (action.kind == ActionKind::ScaleDeployment) {
      action.replicas = p.desired_replicas;
      if (action.replicas == p.current_replicas)
        return refuse(Verdict{false, "max_replicas", action.service + " already has " +
                                                         std::to_string(p.current_replicas) + " replicas", {}});
    }
  }
  if (!notes.empty() && action.reason.find(notes) == std::string::npos) action.reason += " [" + notes + "]";

  if (approvals_.required() && !approved) {
    action.ts = now;
    action.status = ActionStatus::Pending;
    action.reason += "; waiting for approval (timeout " + format_duration(approvals_.timeout_ms()) + ")";
    publish(action);
    approvals_.hold(action, run ? run->key : std::string(), now);
    if (step) held_steps_[action.id] = step;
    pending_gauge_->set(static_cast<double>(approvals_.size()));
    if (run) {
      run->phase = Phase::AwaitingApproval;
      run->action_id = action.id;
    }
    return;
  }
  execute(run, std::move(action), p, now);
  if (run && run->phase == Phase::Verifying && step) {
    // start_verification already set the default deadline; a step may ask for its own.
    if (step->verify_within_ms > 0) run->verify_deadline = run->verify_since + step->verify_within_ms;
  }
}

void Remediator::execute(Run* run, RemediationAction action, const ProposedAction& proposed, TimeMs now) {
  action.ts = now;
  if (dry_run_.enabled) {
    action.status = ActionStatus::DryRun;
    action.dry_run = true;
    action.reason += "; dry run: not executed";
    publish(action);
    chain_.record(proposed, now);
    if (run) start_verification(*run, action.id, nullptr, now);
    return;
  }
  action.status = ActionStatus::Executing;
  publish(action);
  K8sResult r = call_kubernetes(action, now);
  if (!r.ok) {
    std::string why = std::string(to_string(action.kind)) + " " + action.namespace_name + "/" + action.target +
                      " failed: " + describe_result(r);
    action.status = ActionStatus::Failed;
    action.reason += "; " + why;
    publish(action);
    publish_result(action, ActionStatus::Failed, describe_result(r), now);
    if (run) step_failed(*run, action.id, why, now);
    return;
  }
  action.status = ActionStatus::Succeeded;
  publish(action);
  publish_result(action, ActionStatus::Succeeded, describe_result(r), now);
  chain_.record(proposed, now);
  if (run) start_verification(*run, action.id, nullptr, now);
}

K8sResult Remediator::call_kubernetes(const RemediationAction& a, TimeMs now) {
  std::int64_t t0 = monotonic_ns();
  K8sResult r;
  switch (a.kind) {
    case ActionKind::DeletePod: r = kubernetes_->delete_pod(a.namespace_name, a.target); break;
    case ActionKind::RolloutRestart: r = kubernetes_->rollout_restart(a.namespace_name, a.target, now); break;
    case ActionKind::ScaleDeployment: r = kubernetes_->scale_deployment(a.namespace_name, a.target, a.replicas); break;
    case ActionKind::ClearState: r = kubernetes_->clear_state(a.namespace_name, a.service); break;
    case ActionKind::NotifyOnly: r.ok = true; break;
  }
  if (kubernetes_seconds_) kubernetes_seconds_->observe(static_cast<double>(monotonic_ns() - t0) / 1e9);
  return r;
}

void Remediator::start_verification(Run& run, const std::string& action_id, const PlaybookStep*, TimeMs now) {
  run.phase = Phase::Verifying;
  run.action_id = action_id;
  run.last_action_id = action_id;
  run.verify_since = now;
  run.verify_deadline = now + options_.verify_deadline_ms;
  run.healthy_streak = 0;
  run.still_wrong.clear();
}

void Remediator::step_failed(Run& run, const std::string& action_id, const std::string& why, TimeMs now) {
  run.last_action_id = action_id;
  run.carry = run.step_in_flight + " failed: " + why;
  run.phase = Phase::Ready;  // drive() takes the next step, or escalates
}

void Remediator::stop_run(Run& run, const std::string& action_id, const std::string& why, TimeMs now, bool escalate) {
  run.phase = Phase::Done;
  if (!escalate) return;
  // not_recovered is the remediator giving up: the classifier escalates the incident to a human.
  publish_result(action_ref(action_id, run.incident.id, run.incident.service), ActionStatus::NotRecovered,
                 why + "; escalating to a human", now);
}

void Remediator::cancel_held(Run& run, const std::string& why, TimeMs now) {
  for (auto& held : approvals_.cancel_run(run.key)) {
    held_steps_.erase(held.action.id);
    RemediationAction action = held.action;
    action.ts = now;
    action.status = ActionStatus::Skipped;
    action.reason = "approval: withdrawn, " + why;
    publish(action);
  }
  if (pending_gauge_) pending_gauge_->set(static_cast<double>(approvals_.size()));
}

Remediator::Run* Remediator::run_for_key(const std::string& key) {
  if (key.empty()) return nullptr;
  auto it = runs_.find(key.substr(0, key.rfind('#')));
  return it != runs_.end() && it->second.key == key ? &it->second : nullptr;
}

bool Remediator::service_under_incident(const std::string& service) const {
  for (const auto& [id, run] : runs_)
    if (run.incident.service == service && run.phase != Phase::Done) return true;
  for (const auto& [id, run] : runs_)
    if (run.incident.service == service &&
        (run.incident.status == IncidentStatus::Open || run.incident.status == IncidentStatus::Mitigating))
      return true;
  return false;
}

void Remediator::publish(RemediationAction action) {
  issued_ids_.insert(action.id);
  if (action.status == ActionStatus::Pending) unechoed_pending_[action.id] = action.service;
  checkpoint_soon();  // a decision was made: its state must not be lost even for an interval
  ctx().metrics
      .counter("selfheal_remediator_decisions_total", "Remediation decisions published, by status",
               {{"status", std::string(to_string(action.status))}})
      .inc();
  const char* outcome = nullptr;
  switch (action.status) {
    case ActionStatus::Succeeded: outcome = "succeeded"; break;
    case ActionStatus::Failed: outcome = "failed"; break;
    case ActionStatus::Skipped:
    case ActionStatus::Rejected: outcome = "skipped"; break;
    case ActionStatus::Pending: outcome = "pending"; break;
    case ActionStatus::DryRun: outcome = "dry_run"; break;
    default: break;  // executing / approved are steps on the way to one of the above
  }
  if (outcome)
    ctx().metrics
        .counter("selfheal_remediation_actions_total", "Remediation actions by kind and outcome (each decision once)",
                 {{"kind", std::string(to_string(action.kind))}, {"outcome", outcome}})
        .inc();
  if (action.status == ActionStatus::Skipped) {
    std::string guardrail = action.reason.substr(0, action.reason.find(':'));
    ctx().metrics
        .counter("selfheal_remediator_guardrail_refusals_total", "Actions refused, by guardrail",
                 {{"guardrail", guardrail}})
        .inc();
  }
  log::info(kComponent, "{} {} {}/{} [{}]: {}", action.id, to_string(action.kind), action.namespace_name,
            action.target, to_string(action.status), action.reason);
  emit(topics::kActions, std::move(action));
}

void Remediator::publish_result(const RemediationAction& action, ActionStatus status, std::string detail, TimeMs now) {
  ActionResult r;
  r.id = make_id();
  r.ts = now;
  r.action_id = action.id;
  r.incident_id = action.incident_id;
  r.service = action.service;
  r.status = status;
  r.detail = std::move(detail);
  checkpoint_soon();  // verified or given up: the run's end must not be lost either
  ctx().metrics
      .counter("selfheal_remediator_results_total", "Action results published, by status",
               {{"status", std::string(to_string(status))}})
      .inc();
  emit(topics::kActions, std::move(r));
}


// ---------------------------------------------------------------------------------------------------
// Checkpoints (KeyedState): what is kept per service, see remediator.hpp
// ---------------------------------------------------------------------------------------------------

namespace {

constexpr int kStateFormat = 1;

[[noreturn]] void bad_field(const std::string& field, const std::string& why) {
  throw std::invalid_argument(field + ": " + why);
}
std::string join(const std::string& path, const std::string& name) { return path.empty() ? name : path + "." + name; }
const nlohmann::json& member(const nlohmann::json& obj, const std::string& name, const std::string& path) {
  auto it = obj.find(name);
  if (it == obj.end()) bad_field(join(path, name), "missing");
  return *it;
}
std::string string_at(const nlohmann::json& obj, const std::string& name, const std::string& path) {
  const auto& v = member(obj, name, path);
  if (!v.is_string()) bad_field(join(path, name), "expected a string");
  return v.get<std::string>();
}
std::int64_t int_at(const nlohmann::json& obj, const std::string& name, const std::string& path, std::int64_t min = 0) {
  const auto& v = member(obj, name, path);
  if (!v.is_number_integer()) bad_field(join(path, name), "expected an integer");
  auto n = v.get<std::int64_t>();
  if (n < min) bad_field(join(path, name), "expected an integer >= " + std::to_string(min));
  return n;
}
bool bool_at(const nlohmann::json& obj, const std::string& name, const std::string& path) {
  const auto& v = member(obj, name, path);
  if (!v.is_boolean()) bad_field(join(path, name), "expected true or false");
  return v.get<bool>();
}
const nlohmann::json& object_at(const nlohmann::json& obj, const std::string& name, const std::string& path) {
  const auto& v = member(obj, name, path);
  if (!v.is_object()) bad_field(join(path, name), "expected an object");
  return v;
}

// Events inside the state keep their own versioned encoding (events_json.hpp).
nlohmann::json encode_json(const Event& e) { return nlohmann::json::parse(encode_event(e)); }
template <typename T>
T decode_json(const nlohmann::json& j, const std::string& field) {
  DecodeResult r = decode_event(j.dump());
  if (!r.ok) bad_field(field, r.error);
  if (!std::holds_alternative<T>(r.event)) bad_field(field, "expected another type of event");
  return std::get<T>(std::move(r.event));
}

}  // namespace

const Playbook* Remediator::playbook_named(const std::string& name, IncidentType type) const {
  for (const auto& pb : playbooks_.all())
    if (pb.name == name) return &pb;
  const Playbook& fallback = playbooks_.for_type(type);
  return fallback.name == name ? &fallback : nullptr;
}

namespace {
constexpr std::string_view kPhaseNames[] = {"ready", "awaiting_approval", "verifying", "deferred", "done"};
}  // namespace

nlohmann::json Remediator::save_key(const std::string& service) const {
  nlohmann::json incidents = nlohmann::json::object();
  for (const auto& [id, t] : incidents_)
    if (t.service == service)
      incidents[id] = {{"revision", t.revision}, {"status", std::string(to_string(t.status))}, {"episode", t.episode}};

  nlohmann::json runs = nlohmann::json::object();
  for (const auto& [id, run] : runs_) {
    if (run.incident.service != service) continue;
    // A finished run of a resolved or escalated incident is read by nothing again (its next
    // snapshot is a relapse, which starts a new run): not worth carrying.
    if (run.phase == Phase::Done &&
        (run.incident.status == IncidentStatus::Resolved || run.incident.status == IncidentStatus::Escalated))
      continue;
    runs[id] = {{"key", run.key},
                {"incident", encode_json(run.incident)},
                {"playbook", run.playbook->name},
                {"next_step", run.next_step},
                {"phase", std::string(kPhaseNames[static_cast<int>(run.phase)])},
                {"action_id", run.action_id},
                {"last_action_id", run.last_action_id},
                {"verified", run.verified},
                {"verify_since", run.verify_since},
                {"verify_deadline", run.verify_deadline},
                {"healthy_streak", run.healthy_streak},
                {"still_wrong", run.still_wrong},
                {"carry", run.carry},
                {"step_in_flight", run.step_in_flight},
                {"retry_at", run.retry_at},
                {"deferred_id", run.deferred_id}};
  }

  nlohmann::json approvals = nlohmann::json::array();
  for (const auto& held : approvals_.of_service(service))
    approvals.push_back({{"action", encode_json(held.action)},
                         {"run_key", held.run_key},
                         {"deadline", held.deadline},
                         {"step", held_steps_.count(held.action.id) > 0}});

  nlohmann::json own_pending = nlohmann::json::array();
  for (const auto& [id, svc] : unechoed_pending_)
    if (svc == service) own_pending.push_back(id);

  nlohmann::json cooldown = nlohmann::json::object();
  for (const auto& [workload, last] : cooldown_->entries_of(service))
    cooldown[workload] = {{"at", last.at}, {"run_key", last.run_key}, {"incident_id", last.incident_id}};

  nlohmann::json rate_limit = nlohmann::json::object();
  for (const auto& [workload, times] : rate_limit_->entries_of(service))
    rate_limit[workload] = nlohmann::json(std::vector<TimeMs>(times.begin(), times.end()));

  nlohmann::json band = recovery_.encode(service);
  auto w = latest_windows_.find(service);
  nlohmann::json window = w == latest_windows_.end() ? nlohmann::json() : encode_json(w->second);

  if (incidents.empty() && runs.empty() && approvals.empty() && own_pending.empty() && cooldown.empty() &&
      rate_limit.empty() && band.is_null() && window.is_null())
    return nullptr;
  return {{"format", kStateFormat},    {"incidents", std::move(incidents)}, {"runs", std::move(runs)},
          {"approvals", std::move(approvals)}, {"own_pending", std::move(own_pending)},
          {"cooldown", std::move(cooldown)},   {"rate_limit", std::move(rate_limit)},
          {"band", std::move(band)},           {"window", std::move(window)}};
}

void Remediator::restore_key(const std::string& service, const nlohmann::json& state) {
  if (service.empty()) throw std::invalid_argument("key: empty service name");
  // Everything is decoded and validated into these first; only then is anything replaced.
  std::map<std::string, IncidentTrack> tracks;
  std::map<std::string, Run> runs;
  std::vector<std::pair<ApprovalGate::Held, const PlaybookStep*>> held;
  std::set<std::string> own_pending;
  std::map<std::string, Cooldown::Last> cooldown;
  std::map<std::string, std::deque<TimeMs>> rate_limit;
  RecoveryCheck::Bands band;
  std::optional<FeatureWindow> window;

  if (!state.is_null()) {  // null: save_key had nothing for the service
    if (!state.is_object()) bad_field("state", "expected an object or null");
    if (int_at(state, "format", "") != kStateFormat) bad_field("format", "expected " + std::to_string(kStateFormat));

    const auto& incidents = object_at(state, "incidents", "");
    for (auto it = incidents.begin(); it != incidents.end(); ++it) {
      const std::string path = "incidents." + it.key();
      if (!it.value().is_object()) bad_field(path, "expected an object");
      IncidentTrack t;
      t.revision = static_cast<std::uint32_t>(int_at(it.value(), "revision", path));
      if (!parse_enum(string_at(it.value(), "status", path), t.status))
        bad_field(path + ".status", "not an incident status");
      t.episode = static_cast<int>(int_at(it.value(), "episode", path));
      t.service = service;
      tracks.emplace(it.key(), t);
    }

    const auto& run_objects = object_at(state, "runs", "");
    for (auto it = run_objects.begin(); it != run_objects.end(); ++it) {
      const std::string& id = it.key();
      const std::string path = "runs." + id;
      const auto& j = it.value();
      if (!j.is_object()) bad_field(path, "expected an object");
      Run run;
      run.incident = decode_json<Incident>(member(j, "incident", path), path + ".incident");
      if (run.incident.id != id) bad_field(path + ".incident.id", "'" + run.incident.id + "' is not the run's incident");
      if (run.incident.service != service)
        bad_field(path + ".incident.service", "'" + run.incident.service + "' is not " + service);
      auto track = tracks.find(id);
      if (track == tracks.end()) bad_field(path, "no entry for the incident in incidents");
      run.key = string_at(j, "key", path);
      if (run.key != id + "#" + std::to_string(track->second.episode))
        bad_field(path + ".key", "'" + run.key + "' is not <incident>#<its episode>");
      const std::string pb = string_at(j, "playbook", path);
      run.playbook = playbook_named(pb, run.incident.type);
      if (!run.playbook) bad_field(path + ".playbook", "no playbook named '" + pb + "' here");
      run.next_step = static_cast<std::size_t>(int_at(j, "next_step", path));
      if (run.next_step > run.playbook->steps.size())
        bad_field(path + ".next_step", "past the " + std::to_string(run.playbook->steps.size()) + " steps of " + pb);
      const std::string phase = string_at(j, "phase", path);
      auto p = std::find(std::begin(kPhaseNames), std::end(kPhaseNames), phase);
      if (p == std::end(kPhaseNames)) bad_field(path + ".phase", "'" + phase + "' is not a run phase");
      run.phase = static_cast<Phase>(p - std::begin(kPhaseNames));
      run.action_id = string_at(j, "action_id", path);
      run.last_action_id = string_at(j, "last_action_id", path);
      run.verified = bool_at(j, "verified", path);
      run.verify_since = int_at(j, "verify_since", path);
      run.verify_deadline = int_at(j, "verify_deadline", path);
      run.healthy_streak = static_cast<int>(int_at(j, "healthy_streak", path));
      run.still_wrong = string_at(j, "still_wrong", path);
      run.carry = string_at(j, "carry", path);
      run.step_in_flight = string_at(j, "step_in_flight", path);
      run.retry_at = int_at(j, "retry_at", path);
      run.deferred_id = string_at(j, "deferred_id", path);
      // Timer-made ids derive from these: a run waiting on a timer without them cannot go on.
      if ((run.phase == Phase::Verifying || run.phase == Phase::AwaitingApproval) && run.action_id.empty())
        bad_field(path + ".action_id", "empty while the run is " + phase);
      if (run.phase == Phase::Deferred && run.deferred_id.empty())
        bad_field(path + ".deferred_id", "empty while the run is deferred");
      runs.emplace(id, std::move(run));
    }

    const auto& approvals = member(state, "approvals", "");
    if (!approvals.is_array()) bad_field("approvals", "expected an array");
    for (std::size_t i = 0; i < approvals.size(); ++i) {
      const std::string path = "approvals[" + std::to_string(i) + "]";
      const auto& j = approvals[i];
      if (!j.is_object()) bad_field(path, "expected an object");
      ApprovalGate::Held h;
      h.action = decode_json<RemediationAction>(member(j, "action", path), path + ".action");
      if (h.action.service != service)
        bad_field(path + ".action.service", "'" + h.action.service + "' is not " + service);
      if (h.action.status != ActionStatus::Pending) bad_field(path + ".action.status", "a held action is pending");
      h.run_key = string_at(j, "run_key", path);
      h.deadline = int_at(j, "deadline", path);
      const PlaybookStep* step = nullptr;
      if (bool_at(j, "step", path)) {
        const Playbook* pb = playbook_named(h.action.playbook, IncidentType::Unknown);
        if (!pb) bad_field(path + ".action.playbook", "no playbook named '" + h.action.playbook + "' here");
        if (h.action.step < 0 || static_cast<std::size_t>(h.action.step) >= pb->steps.size() ||
            pb->steps[static_cast<std::size_t>(h.action.step)].action != h.action.kind)
          bad_field(path + ".action.step", "not a " + std::string(to_string(h.action.kind)) + " step of " + pb->name);
        step = &pb->steps[static_cast<std::size_t>(h.action.step)];
      }
      held.emplace_back(std::move(h), step);
    }

    const auto& pending = member(state, "own_pending", "");
    if (!pending.is_array()) bad_field("own_pending", "expected an array");
    for (std::size_t i = 0; i < pending.size(); ++i) {
      if (!pending[i].is_string() || pending[i].get<std::string>().empty())
        bad_field("own_pending[" + std::to_string(i) + "]", "expected an action id");
      own_pending.insert(pending[i].get<std::string>());
    }

    const auto& cooldowns = object_at(state, "cooldown", "");
    for (auto it = cooldowns.begin(); it != cooldowns.end(); ++it) {
      const std::string path = "cooldown." + it.key();
      if (workload_service(it.key()) != service) bad_field(path, "not a workload of " + service);
      if (!it.value().is_object()) bad_field(path, "expected an object");
      cooldown[it.key()] = Cooldown::Last{int_at(it.value(), "at", path), string_at(it.value(), "run_key", path),
                                          string_at(it.value(), "incident_id", path)};
    }

    const auto& rates = object_at(state, "rate_limit", "");
    for (auto it = rates.begin(); it != rates.end(); ++it) {
      const std::string path = "rate_limit." + it.key();
      if (workload_service(it.key()) != service) bad_field(path, "not a workload of " + service);
      if (!it.value().is_array()) bad_field(path, "expected an array of times");
      std::deque<TimeMs> times;
      for (const auto& t : it.value()) {
        if (!t.is_number_integer()) bad_field(path, "expected an array of times");
        if (!times.empty() && t.get<TimeMs>() < times.back()) bad_field(path, "times out of order");
        times.push_back(t.get<TimeMs>());
      }
      rate_limit[it.key()] = std::move(times);
    }

    band = RecoveryCheck::decode(member(state, "band", ""), "band");

    const auto& w = member(state, "window", "");
    if (!w.is_null()) {
      window = decode_json<FeatureWindow>(w, "window");
      if (window->service != service) bad_field("window.service", "'" + window->service + "' is not " + service);
    }
  }

  // Valid: replace everything held for the service.
  std::erase_if(incidents_, [&](const auto& e) { return e.second.service == service; });
  for (auto& [id, t] : tracks) incidents_[id] = std::move(t);
  std::erase_if(runs_, [&](const auto& e) { return e.second.incident.service == service; });
  for (auto& [id, run] : runs) runs_.insert_or_assign(id, std::move(run));
  for (const auto& id : approvals_.drop_service(service)) held_steps_.erase(id);
  for (auto& [h, step] : held) {
    if (step) held_steps_[h.action.id] = step;
    approvals_.put_back(std::move(h));
  }
  std::erase_if(unechoed_pending_, [&](const auto& e) { return e.second == service; });
  for (const auto& id : own_pending) {
    unechoed_pending_[id] = service;
    issued_ids_.insert(id);
  }
  cooldown_->replace_entries_of(service, std::move(cooldown));
  rate_limit_->replace_entries_of(service, std::move(rate_limit));
  recovery_.replace(service, std::move(band));
  if (window) latest_windows_[service] = std::move(*window);
  else latest_windows_.erase(service);
  if (pending_gauge_) pending_gauge_->set(static_cast<double>(approvals_.size()));
}

}  // namespace selfheal::remediation
