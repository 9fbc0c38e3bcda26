#include "sim/simulated_cluster.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

#include "core/clock.hpp"

namespace selfheal::sim {
namespace {

constexpr double kPi = 3.141592653589793;
constexpr double kExternalCallLatencyS = 0.060;  // a healthy call to a dependency outside the cluster
constexpr std::int64_t kJitWarmupMs = 30000;     // a fresh pod is slower for its first 30 s of serving
constexpr std::size_t kMaxEvents = 1000;

// Queueing slowdown at utilisation rho. A pod serves with a pool of workers, so it behaves like an
// M/M/c queue: waiting stays small until the pool is nearly busy, then grows fast (Sakasegawa's
// approximation Wq/S = rho^(sqrt(2(c+1))-1) / (c(1-rho))). Past 95% the queue grows without bound
// and requests end in timeouts; a steep power law stands in for that.
constexpr double kWorkersPerPod = 4;
double queue_factor(double rho) {
  static const double exponent = std::sqrt(2 * (kWorkersPerPod + 1)) - 1;
  double r = std::clamp(rho, 0.0, 0.95);
  double f = 1.0 + std::pow(r, exponent) / (kWorkersPerPod * (1.0 - r));
  if (rho > 0.95) f *= std::pow(rho / 0.95, 8);
  return f;
}

std::string hex_chars(std::uint64_t v, int n) {
  static const char* kHex = "0123456789abcdef";
  std::string s(n, '0');
  for (int i = n - 1; i >= 0; --i) {
    s[i] = kHex[v & 15];
    v >>= 4;
  }
  return s;
}

}  // namespace

SimulatedCluster::SimulatedCluster(Scenario scenario, TimeMs origin)
    : scenario_(std::move(scenario)), origin_(origin), now_(origin), rng_(mix(scenario_.seed, 0x5eed)) {
  const int n = static_cast<int>(scenario_.services.size());
  // Topological order of the call graph (the scenario parser has refused cycles).
  std::vector<int> state(n, 0);
  std::function<void(int)> visit = [&](int i) {
    if (state[i]) return;
    state[i] = 1;
    for (int c = 0; c < n; ++c)
      for (const auto& call : scenario_.services[c].calls)
        if (call.service == scenario_.services[i].name) visit(c);
    state[i] = 2;
    topo_.push_back(i);
  };
  for (int i = 0; i < n; ++i) visit(i);

  for (int i = 0; i < n; ++i) {
    const auto& spec = scenario_.services[i];
    service_seeds_.push_back(mix(scenario_.seed, stable_hash(spec.name)));
    Deployment d;
    d.replicas = spec.replicas;
    d.uid = make_uid();
    d.template_hash = template_hash_for(i, d.revision);
    d.created_at = origin_ - 86400000;  // deployed a day before the scenario starts
    d.resource_version = bump();
    deployments_.push_back(d);
  }
  // The scenario starts with every pod warmed up and serving.
  for (int i = 0; i < n; ++i)
    for (int r = 0; r < scenario_.services[i].replicas; ++r) {
      Pod& p = create_pod(i, origin_ - 3600000);
      p.state = ContainerState::Running;
      p.started_at = p.created_at + FaultModel::kPodCreateMs;
      p.ready_at = p.started_at + scenario_.services[i].startup_ms;
      p.ready = true;
      p.tick_events.clear();
    }
  events_.clear();
  for (std::size_t i = 0; i < scenario_.faults.size(); ++i) {
    ActiveFault f;
    f.spec = scenario_.faults[i];
    f.label_id = "fault-" + std::to_string(i + 1);
    faults_.push_back(std::move(f));
  }
}

SimulatedCluster::~SimulatedCluster() = default;

TimeMs SimulatedCluster::now() const {
  std::lock_guard lock(mu_);
  return now_;
}

std::string SimulatedCluster::make_uid() {
  std::uint64_t a = rng_.next(), b = rng_.next();
  ++uid_seq_;
  return hex_chars(a >> 32, 8) + "-" + hex_chars(a >> 16, 4) + "-4" + hex_chars(a, 3) + "-a" +
         hex_chars(b >> 48, 3) + "-" + hex_chars(b, 12);
}

std::string SimulatedCluster::template_hash_for(int service, int revision) const {
  std::uint64_t h = mix(mix(scenario_.seed, stable_hash(scenario_.services[service].name)), revision);
  return hex_chars(h, 10);
}

SimulatedCluster::Pod& SimulatedCluster::create_pod(int service, TimeMs now) {
  static const char* kAlnum = "bcdfghjklmnpqrstvwxz2456789";  // what Kubernetes uses for suffixes
  Pod p;
  p.service = service;
  p.template_hash = deployments_[service].template_hash;
  std::string suffix(5, 'x');
  for (;;) {
    for (auto& c : suffix) c = kAlnum[rng_.below(27)];
    p.name = scenario_.services[service].name + "-" + p.template_hash + "-" + suffix;
    bool taken = false;
    for (const auto& q : pods_) taken = taken || q.name == p.name;
    if (!taken) break;
  }
  p.uid = make_uid();
  p.node = "node-" + std::to_string(next_node_ % scenario_.nodes + 1);
  ++next_node_;
  p.created_at = now;
  p.state = ContainerState::Creating;
  p.state_until = now + FaultModel::kPodCreateMs;
  p.memory_noise = 0;
  p.resource_version = bump();
  p.tick_events.push_back("scheduled");
  pods_.push_back(std::move(p));
  Pod& ref = pods_.back();
  record_event(now, "Pod", ref.name, "Normal", "Scheduled",
               "Successfully assigned " + scenario_.namespace_name + "/" + ref.name + " to " + ref.node);
  return ref;
}

void SimulatedCluster::terminate_pod(Pod& pod, TimeMs now, const std::string& reason) {
  if (pod.state == ContainerState::Terminating) return;
  pod.state = ContainerState::Terminating;
  pod.state_until = now + FaultModel::kTerminationGraceMs;
  pod.ready = false;
  pod.resource_version = bump();
  pod.tick_events.push_back(reason);
  record_event(now, "Pod", pod.name, "Normal", "Killing",
               "Stopping container " + scenario_.services[pod.service].name);
}

void SimulatedCluster::crash_container(Pod& pod, TimeMs now, const std::string& reason) {
  ++pod.restarts;
  ++pod.consecutive_crashes;
  pod.last_termination = reason;
  pod.ready = false;
  pod.leaked_bytes = 0;
  pod.stuck = false;  // a fresh process has a fresh cache
  pod.state = ContainerState::BackOff;
  std::int64_t backoff = FaultModel::kBackoffBaseMs;
  for (int i = 1; i < pod.consecutive_crashes && backoff < FaultModel::kBackoffCapMs; ++i) backoff *= 2;
  backoff = std::min(backoff, FaultModel::kBackoffCapMs);
  pod.state_until = now + backoff;
  pod.resource_version = bump();
  pod.tick_events.push_back(reason == "OOMKilled" ? "oom_killed" : "crashed");
  pod.tick_events.push_back("back_off");
  const std::string& c = scenario_.services[pod.service].name;
  if (reason == "OOMKilled")
    record_event(now, "Pod", pod.name, "Warning", "OOMKilling",
                 "Memory cgroup out of memory: Killed process (" + c + ") in container " + c);
  record_event(now, "Pod", pod.name, "Warning", "BackOff",
               "Back-off " + format_duration(backoff) + " restarting failed container=" + c + " pod=" + pod.name);
}

void SimulatedCluster::record_event(TimeMs now, const std::string& kind, const std::string& name,
                                    const std::string& type, const std::string& reason,
                                    const std::string& message) {
  // Kubernetes folds repeats of the same event into a count.
  for (auto& e : events_)
    if (e.involved_name == name && e.reason == reason && e.message == message) {
      ++e.count;
      e.last_ts = now;
      e.resource_version = bump();
      return;
    }
  ClusterEvent e;
  e.name = name + "." + hex_chars(0x17a0000000000000ULL + (++event_seq_), 16);
  e.namespace_name = scenario_.namespace_name;
  e.involved_kind = kind;
  e.involved_name = name;
  e.type = type;
  e.reason = reason;
  e.message = message;
  e.first_ts = e.last_ts = now;
  e.resource_version = bump();
  events_.push_back(std::move(e));
  while (events_.size() > kMaxEvents) events_.pop_front();
}

const SimulatedCluster::ActiveFault* SimulatedCluster::fault_of(const std::string& type, int service) const {
  const std::string& name = scenario_.services[service].name;
  for (const auto& f : faults_)
    if (f.started && !f.ended && f.spec.type == type && f.spec.target == name) return &f;
  return nullptr;
}
bool SimulatedCluster::fault_active(const std::string& type, int service) const {
  return fault_of(type, service) != nullptr;
}
double SimulatedCluster::fault_strength(const std::string& type, int service) const {
  double s = 0;
  const std::string& name = scenario_.services[service].name;
  for (const auto& f : faults_)
    if (f.started && !f.ended && f.spec.type == type && f.spec.target == name) s += f.spec.strength;
  return s;
}

FaultLabel SimulatedCluster::make_label(const ActiveFault& f, TimeMs ts) const {
  FaultLabel l;
  l.id = f.label_id;
  l.ts = ts;
  l.service = f.spec.target;
  l.fault_type = f.spec.type;
  l.expected_incident_type = std::string(expected_incident_type(f.spec.type));
  l.start = f.started_at;
  l.end = f.ended ? ts : 0;
  l.strength = f.spec.strength;
  return l;
}

void SimulatedCluster::update_faults(TimeMs now, std::vector<FaultLabel>& labels) {
  for (auto& f : faults_) {
    int target = scenario_.service_index(f.spec.target);
    if (!f.started && now >= origin_ + f.spec.start_ms) {
      f.started = true;
      f.started_at = now;
      f.bad_template = deployments_[target].template_hash;
      if (f.spec.type == "stuck_state")
        for (auto& p : pods_)
          if (p.service == target && p.state == ContainerState::Running) p.stuck = true;
      labels.push_back(make_label(f, now));
      record_event(now, "Deployment", f.spec.target, "Normal", "FaultInjected",
                   "selfheal chaos: " + f.spec.type + " (strength " + std::to_string(f.spec.strength).substr(0, 4) + ")");
      continue;
    }
    if (!f.started || f.ended) continue;
    bool over = f.spec.duration_ms > 0 && now >= f.started_at + f.spec.duration_ms;
    if (f.spec.type == "error_burst" || f.spec.type == "crash_loop") {
      // The bad release is gone once no pod of it is left (a rollout replaced them all).
      bool any_bad = false;
      for (const auto& p : pods_)
        any_bad = any_bad || (p.service == target && p.template_hash == f.bad_template &&
                              p.state != ContainerState::Terminating);
      over = over || !any_bad;
    }
    if (f.spec.type == "stuck_state") {
      bool any_stuck = false;
      for (const auto& p : pods_) any_stuck = any_stuck || (p.service == target && p.stuck);
      over = over || !any_stuck;
    }
    if (over) {
      f.ended = true;
      if (f.spec.type == "stuck_state")
        for (auto& p : pods_)
          if (p.service == target) p.stuck = false;
      labels.push_back(make_label(f, now));
    }
  }
}

void SimulatedCluster::advance_pods(TimeMs now, std::int64_t dt_ms) {
  const double dt = static_cast<double>(dt_ms) / 1000.0;
  for (auto& p : pods_) {
    const ServiceSpec& spec = scenario_.services[p.service];
    switch (p.state) {
      case ContainerState::Creating:
        if (now >= p.state_until) {
          p.state = ContainerState::Running;
          p.started_at = p.state_until;
          p.ready_at = p.started_at + spec.startup_ms;
          p.resource_version = bump();
          p.tick_events.push_back("started");
          record_event(now, "Pod", p.name, "Normal", "Pulled", "Container image \"" + spec.image + "\" already present on machine");
          record_event(now, "Pod", p.name, "Normal", "Started", "Started container " + spec.name);
        }
        break;
      case ContainerState::BackOff:
        if (now >= p.state_until) {
          p.state = ContainerState::Running;
          p.started_at = now;
          p.ready_at = now + spec.startup_ms;
          p.resource_version = bump();
          p.tick_events.push_back("started");
          record_event(now, "Pod", p.name, "Normal", "Started", "Started container " + spec.name);
        }
        break;
      case ContainerState::Terminating:
        if (now >= p.state_until) {
          p.removed = true;
          p.tick_events.push_back("terminated");
        }
        break;
      case ContainerState::Running:
        break;
    }
    if (p.state != ContainerState::Running) continue;

    const ActiveFault* crash = fault_of("crash_loop", p.service);
    if (crash && p.template_hash == crash->bad_template &&
        now - p.started_at >= FaultModel::kCrashAfterStartMs) {
      crash_container(p, now, "Error");
      continue;
    }
    if (p.consecutive_crashes > 0 && now - p.started_at >= FaultModel::kBackoffResetMs) p.consecutive_crashes = 0;
    if (!p.ready && now >= p.ready_at) {
      p.ready = true;
      p.resource_version = bump();
      p.tick_events.push_back("ready");
    }
    if (double leak = fault_strength("memory_leak", p.service); leak > 0) {
      double headroom = spec.memory_limit_bytes - spec.base_memory_bytes;
      p.leaked_bytes += leak * headroom / FaultModel::kLeakSecondsToLimitAtStrength1 * dt;
    }
    // Working set: a warm baseline, buffers that follow load, the leak, and slow jitter.
    p.memory_noise = 0.95 * p.memory_noise + 0.05 * rng_.normal() * 0.02 * spec.base_memory_bytes;
    double warm = std::min(1.0, static_cast<double>(now - p.started_at) / std::max<double>(1, spec.startup_ms));
    p.memory_bytes = spec.base_memory_bytes * (0.6 + 0.4 * warm) + spec.memory_per_rps_bytes * p.rps +
                     p.leaked_bytes + p.memory_noise;
    if (p.memory_bytes >= spec.memory_limit_bytes) {
      p.memory_bytes = spec.memory_limit_bytes;
      crash_container(p, now, "OOMKilled");
    }
  }
}

void SimulatedCluster::reconcile(TimeMs now) {
  for (std::size_t s = 0; s < deployments_.size(); ++s) {
    Deployment& d = deployments_[s];
    std::vector<Pod*> live_new, live_old;
    for (auto& p : pods_) {
      if (p.service != static_cast<int>(s) || p.state == ContainerState::Terminating) continue;
      (p.template_hash == d.template_hash ? live_new : live_old).push_back(&p);
    }
    const int live = static_cast<int>(live_new.size() + live_old.size());
    auto ready_count = [](const std::vector<Pod*>& v) {
      int n = 0;
      for (auto* p : v) n += p->ready;
      return n;
    };
    if (!live_old.empty()) {
      // Rolling update with maxSurge 1, maxUnavailable 0 (Kubernetes' 25%/25% for small counts).
      for (auto* p : live_old)
        if (!p->ready) terminate_pod(*p, now, "replaced");
      int ready_live = ready_count(live_new) + ready_count(live_old);
      if (ready_live > d.replicas) {
        for (auto* p : live_old)
          if (p->state != ContainerState::Terminating) {
            terminate_pod(*p, now, "replaced");
            break;
          }
      }
      int live_now = 0;
      for (auto& p : pods_)
        live_now += p.service == static_cast<int>(s) && p.state != ContainerState::Terminating;
      if (live_now < d.replicas + 1 && static_cast<int>(live_new.size()) < d.replicas) create_pod(static_cast<int>(s), now);
      continue;
    }
    if (live < d.replicas) {
      for (int i = live; i < d.replicas; ++i) create_pod(static_cast<int>(s), now);
    } else if (live > d.replicas) {
      // Scale down: not-ready pods first, then the newest.
      std::vector<Pod*> order = live_new;
      std::stable_sort(order.begin(), order.end(), [](const Pod* a, const Pod* b) {
        if (a->ready != b->ready) return !a->ready;
        return a->created_at > b->created_at;
      });
      for (int i = 0; i < live - d.replicas; ++i) terminate_pod(*order[i], now, "scaled_down");
    }
  }
}

double SimulatedCluster::load_factor(TimeMs now, std::int64_t dt_ms) {
  const LoadSpec& l = scenario_.load;
  double hour = static_cast<double>(((now / 1000) % 86400 + 86400) % 86400) / 3600.0;
  double daily = 1.0 + l.daily_amplitude * std::cos(2 * kPi * (hour - l.peak_hour) / 24.0);
  load_noise_ = 0.9 * load_noise_ + std::sqrt(1 - 0.81) * l.noise * rng_.normal();
  double burst = 1.0;
  if (now >= burst_until_ && rng_.chance(l.bursts_per_hour * static_cast<double>(dt_ms) / 3600000.0))
    burst_until_ = now + l.burst_duration_ms;
  if (now < burst_until_) burst += l.burst_strength;
  return daily * std::exp(load_noise_) * burst;
}

void SimulatedCluster::compute_traffic(TimeMs now, std::int64_t dt_ms, StepOutput& out) {
  const int n = static_cast<int>(scenario_.services.size());
  const double load = load_factor(now, dt_ms);
  std::vector<Flow> flow(n);
  std::vector<int> ready(n, 0);
  for (const auto& p : pods_)
    if (p.ready && p.state == ContainerState::Running) ++ready[p.service];

  // Arrivals flow from callers to callees (topo_ lists callers first).
  std::vector<double> rps(n, 0);
  for (int k = 0; k < n; ++k) {
    int s = topo_[k];
    const ServiceSpec& spec = scenario_.services[s];
    double r = spec.entry_rps * load;
    for (int c = 0; c < n; ++c)
      for (const auto& call : scenario_.services[c].calls)
        if (call.service == spec.name) r += rps[c] * call.calls_per_request;
    if (double surge = fault_strength("traffic_surge", s); surge > 0) r *= 1 + FaultModel::kSurgePerStrength * surge;
    rps[s] = r;
    flow[s].rps = r;
    flow[s].ready_pods = ready[s];
    flow[s].available = ready[s] > 0;
  }

  out.states.assign(n, ServiceState{});
  std::vector<double> db_waits(n, 0);
  // Latency and errors flow from callees back to callers.
  for (int k = n - 1; k >= 0; --k) {
    const int s = topo_[k];
    const ServiceSpec& spec = scenario_.services[s];
    ServiceState& st = out.states[s];
    st.ts = now;
    st.tick_ms = dt_ms;
    st.service = spec.name;
    st.namespace_name = scenario_.namespace_name;
    st.seed = service_seeds_[s];

    const double per_pod_rps = ready[s] > 0 ? rps[s] / ready[s] : 0;
    const double spike = 1 + FaultModel::kCpuSpikeCostPerStrength * fault_strength("cpu_spike", s);
    const double db_slow = 1 + FaultModel::kDbSlowdownPerStrength * fault_strength("db_latency", s);
    const ActiveFault* burst = fault_of("error_burst", s);
    const ActiveFault* outage = fault_of("dependency_outage", s);
    double lat_sum = 0, err_sum = 0;
    int served = 0;

    for (auto& p : pods_) {
      if (p.service != s) continue;
      PodState ps;
      ps.pod = p.name;
      ps.node = p.node;
      switch (p.state) {
        case ContainerState::Creating: ps.phase = "Pending"; break;
        case ContainerState::Running: ps.phase = "Running"; break;
        case ContainerState::BackOff: ps.phase = "CrashLoopBackOff"; break;
        case ContainerState::Terminating: ps.phase = "Terminating"; break;
      }
      ps.ready = p.ready;
      ps.cpu_limit_millicores = spec.cpu_limit_millicores;
      ps.memory_limit_bytes = spec.memory_limit_bytes;
      ps.restarts = p.restarts;
      ps.events = std::move(p.tick_events);
      p.tick_events.clear();
      const bool running = p.state == ContainerState::Running;
      ps.memory_bytes = running ? std::max(0.0, p.memory_bytes) : 0;
      ps.latency_sigma = spec.latency_sigma;
      ps.latency_median_s = spec.service_time_s;
      const bool serving = p.ready && running;
      p.rps = serving ? per_pod_rps : 0;

      double demand = running ? spec.idle_cpu_millicores * (serving ? 1.0 : 3.0) : 0;  // warm-up burns CPU
      if (serving) demand += per_pod_rps * spec.cpu_ms_per_request * spike;
      const double rho = demand / spec.cpu_limit_millicores;
      ps.cpu_millicores = std::min(demand, spec.cpu_limit_millicores) * (1 + 0.03 * rng_.normal());
      if (ps.cpu_millicores < 0) ps.cpu_millicores = 0;

      if (serving) {
        ps.requests_per_s = per_pod_rps;
        double own = spec.service_time_s * queue_factor(rho);
        if (now - p.ready_at < kJitWarmupMs)
          own *= 1 + 1.5 * (1 - static_cast<double>(now - p.ready_at) / kJitWarmupMs);
        double deps = 0, ok = 1;
        if (spec.kind == "database") {
          own *= db_slow;
          double active = per_pod_rps * own + 2;
          if (active > spec.max_connections) {
            db_waits[s] += per_pod_rps * (1 - spec.max_connections / active);
            own *= active / spec.max_connections;  // waiting for a free connection
            ps.conditions.push_back("too_many_connections");
          }
          ps.db_query_median_s = own;
          ps.db_connections_active = std::min<double>(active, spec.max_connections);
          ps.db_pool_waits_per_s = active > spec.max_connections ? per_pod_rps * (1 - spec.max_connections / active) : 0;
          if (db_slow > 1.5) ps.conditions.push_back("slow_queries");
        }
        for (const auto& call : spec.calls) {
          int d = scenario_.service_index(call.service);
          const Flow& f = flow[d];
          if (!f.available) {
            ok *= 1 - std::min(1.0, call.calls_per_request);
            ps.conditions.push_back("connection_refused:" + call.service);
            continue;
          }
          deps += call.calls_per_request * std::min(f.latency_median_s, spec.timeout_s);
          ok *= 1 - std::min(1.0, call.calls_per_request * f.error_fraction);
          if (f.error_fraction > 0.05) ps.conditions.push_back("upstream_errors:" + call.service);
          if (f.latency_median_s > 0.25 * spec.timeout_s) ps.conditions.push_back("upstream_slow:" + call.service);
          if (scenario_.services[d].kind == "database") {
            if (db_waits[d] > 0) ps.conditions.push_back("pool_exhausted");
            if (f.latency_median_s > 10 * scenario_.services[d].service_time_s) ps.conditions.push_back("slow_query");
          }
        }
        for (const auto& ext : spec.external) {
          deps += kExternalCallLatencyS;
          if (outage && (outage->spec.dependency.empty() ? ext == spec.external.front() : ext == outage->spec.dependency)) {
            ok *= 1 - std::min(1.0, outage->spec.strength);
            ps.conditions.push_back("connection_refused:" + ext);
          }
        }
        double own_err = spec.error_rate;
        if (burst && p.template_hash == burst->bad_template) {
          own_err += FaultModel::kErrorBurstRatePerStrength * burst->spec.strength;
          ps.conditions.push_back("bad_release");
        }
        if (p.stuck) {
          own_err += FaultModel::kStuckErrorRatePerStrength * fault_strength("stuck_state", s);
          ps.conditions.push_back("stuck_state");
        }
        ps.latency_median_s = own + deps;
        double timeouts = 1 - lognormal_cdf(spec.timeout_s, ps.latency_median_s, spec.latency_sigma);
        if (timeouts > 0.01) ps.conditions.push_back("request_timeout");
        if (rho > 0.9) ps.conditions.push_back("cpu_throttled");
        double err = 1 - (1 - std::min(1.0, own_err)) * (1 - timeouts) * ok;
        ps.errors_per_s = per_pod_rps * err;
        lat_sum += ps.latency_median_s;
        err_sum += err;
        ++served;
      }
      if (running) {
        double frac = ps.memory_bytes / spec.memory_limit_bytes;
        if (frac > 0.75) ps.conditions.push_back("gc_pressure");
        if (frac > 0.9) ps.conditions.push_back("memory_pressure");
      }
      if (running && fault_active("crash_loop", s)) ps.conditions.push_back("crash_loop");
      st.pods.push_back(std::move(ps));
    }
    flow[s].latency_median_s = served ? lat_sum / served : 0;
    flow[s].error_fraction = served ? err_sum / served : 1;
  }
}

void SimulatedCluster::step(TimeMs now, StepOutput& out) {
  std::lock_guard lock(mu_);
  out.states.clear();
  out.labels.clear();
  if (now <= now_) return;
  const std::int64_t dt = now - now_;
  now_ = now;
  update_faults(now, out.labels);
  advance_pods(now, dt);
  reconcile(now);
  compute_traffic(now, dt, out);
  pods_.erase(std::remove_if(pods_.begin(), pods_.end(), [](const Pod& p) { return p.removed; }), pods_.end());
  ++state_seq_;
}

std::string SimulatedCluster::inject_fault(FaultSpec fault, std::string* label_id) {
  std::lock_guard lock(mu_);
  if (fault.start_ms < 0) fault.start_ms = now_ - origin_;
  if (std::string err = validate_fault(scenario_, fault, "fault"); !err.empty()) return err;
  ActiveFault f;
  f.spec = std::move(fault);
  f.label_id = "fault-" + std::to_string(faults_.size() + 1);
  if (label_id) *label_id = f.label_id;
  faults_.push_back(std::move(f));
  return {};
}

// ---------------------------------------------------------------------------------------------------
// ClusterControl
// ---------------------------------------------------------------------------------------------------

std::vector<std::string> SimulatedCluster::namespaces() const {
  std::vector<std::string> v = {"default", "kube-system", scenario_.namespace_name};
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::vector<PodView> SimulatedCluster::pods(const std::string& ns) const {
  std::lock_guard lock(mu_);
  std::vector<PodView> out;
  if (!ns.empty() && ns != scenario_.namespace_name) return out;
  for (const auto& p : pods_) {
    if (p.removed) continue;
    const ServiceSpec& spec = scenario_.services[p.service];
    PodView v;
    v.name = p.name;
    v.namespace_name = scenario_.namespace_name;
    v.uid = p.uid;
    v.deployment = spec.name;
    v.node = p.node;
    v.phase = p.state == ContainerState::Creating ? "Pending" : "Running";
    switch (p.state) {
      case ContainerState::Creating: v.container_state = "waiting"; v.waiting_reason = "ContainerCreating"; break;
      case ContainerState::BackOff: v.container_state = "waiting"; v.waiting_reason = "CrashLoopBackOff"; break;
      case ContainerState::Running:
      case ContainerState::Terminating: v.container_state = "running"; break;
    }
    v.last_termination_reason = p.last_termination;
    v.ready = p.ready;
    v.terminating = p.state == ContainerState::Terminating;
    v.restarts = p.restarts;
    v.created_at = p.created_at;
    v.started_at = p.started_at;
    v.image = spec.image;
    v.cpu_request_millicores = spec.cpu_request_millicores;
    v.cpu_limit_millicores = spec.cpu_limit_millicores;
    v.memory_request_bytes = spec.memory_request_bytes;
    v.memory_limit_bytes = spec.memory_limit_bytes;
    v.resource_version = p.resource_version;
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<DeploymentView> SimulatedCluster::deployments(const std::string& ns) const {
  std::lock_guard lock(mu_);
  std::vector<DeploymentView> out;
  if (!ns.empty() && ns != scenario_.namespace_name) return out;
  for (std::size_t s = 0; s < deployments_.size(); ++s) {
    const Deployment& d = deployments_[s];
    const ServiceSpec& spec = scenario_.services[s];
    DeploymentView v;
    v.name = spec.name;
    v.namespace_name = scenario_.namespace_name;
    v.uid = d.uid;
    v.replicas = d.replicas;
    for (const auto& p : pods_) {
      if (p.service != static_cast<int>(s) || p.state == ContainerState::Terminating || p.removed) continue;
      v.ready_replicas += p.ready;
      v.available_replicas += p.ready;
      v.updated_replicas += p.template_hash == d.template_hash;
    }
    v.generation = d.generation;
    v.observed_generation = d.generation;
    v.image = spec.image;
    v.restarted_at = d.restarted_at;
    v.created_at = d.created_at;
    v.cpu_request_millicores = spec.cpu_request_millicores;
    v.cpu_limit_millicores = spec.cpu_limit_millicores;
    v.memory_request_bytes = spec.memory_request_bytes;
    v.memory_limit_bytes = spec.memory_limit_bytes;
    v.resource_version = d.resource_version;
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<ClusterEvent> SimulatedCluster::events(const std::string& ns) const {
  std::lock_guard lock(mu_);
  if (!ns.empty() && ns != scenario_.namespace_name) return {};
  return {events_.begin(), events_.end()};
}

std::uint64_t SimulatedCluster::resource_version() const {
  std::lock_guard lock(mu_);
  return resource_version_;
}

ControlResult SimulatedCluster::delete_pod(const std::string& ns, const std::string& name) {
  std::lock_guard lock(mu_);
  for (auto& p : pods_) {
    if (p.name != name || p.removed || ns != scenario_.namespace_name) continue;
    terminate_pod(p, now_, "deleted");
    reconcile(now_);  // the ReplicaSet notices at once and creates the replacement
    return {};
  }
  return {ControlError::NotFound, "pods \"" + name + "\" not found"};
}

ControlResult SimulatedCluster::patch_deployment(const std::string& ns, const std::string& name,
                                                 const DeploymentPatch& patch) {
  std::lock_guard lock(mu_);
  int s = ns == scenario_.namespace_name ? scenario_.service_index(name) : -1;
  if (s < 0) return {ControlError::NotFound, "deployments.apps \"" + name + "\" not found"};
  Deployment& d = deployments_[s];
  if (patch.expected_resource_version && *patch.expected_resource_version != d.resource_version)
    return {ControlError::Conflict, "Operation cannot be fulfilled on deployments.apps \"" + name +
                                        "\": the object has been modified; please apply your changes to the latest version and try again"};
  if (patch.replicas && (*patch.replicas < 0 || *patch.replicas > 100))
    return {ControlError::Invalid, "Deployment.apps \"" + name + "\" is invalid: spec.replicas: Invalid value: " +
                                       std::to_string(*patch.replicas) + ": must be between 0 and 100"};
  bool changed = false;
  if (patch.replicas && *patch.replicas != d.replicas) {
    record_event(now_, "Deployment", name, "Normal", "ScalingReplicaSet",
                 "Scaled " + std::string(*patch.replicas > d.replicas ? "up" : "down") + " replica set " + name + "-" +
                     d.template_hash + " to " + std::to_string(*patch.replicas) + " from " + std::to_string(d.replicas));
    d.replicas = *patch.replicas;
    changed = true;
  }
  if (patch.restarted_at && *patch.restarted_at != d.restarted_at) {
    d.restarted_at = *patch.restarted_at;
    ++d.revision;
    d.template_hash = template_hash_for(s, d.revision);
    record_event(now_, "Deployment", name, "Normal", "ScalingReplicaSet",
                 "Scaled up replica set " + name + "-" + d.template_hash + " to 1");
    changed = true;
  }
  if (changed) {
    ++d.generation;
    d.resource_version = bump();
    reconcile(now_);
  }
  return {};
}

ControlResult SimulatedCluster::clear_state(const std::string& ns, const std::string& service) {
  std::lock_guard lock(mu_);
  int s = ns == scenario_.namespace_name ? scenario_.service_index(service) : -1;
  if (s < 0) return {ControlError::NotFound, "service \"" + service + "\" not found"};
  int cleared = 0;
  for (auto& p : pods_)
    if (p.service == s && p.stuck) {
      p.stuck = false;
      p.tick_events.push_back("state_cleared");
      ++cleared;
    }
  record_event(now_, "Deployment", service, "Normal", "StateCleared",
               "admin /clear-state answered by " + std::to_string(cleared) + " stuck pod(s)");
  return {ControlError::None, "cleared state in " + std::to_string(cleared) + " pod(s)"};
}

}  // namespace selfheal::sim
