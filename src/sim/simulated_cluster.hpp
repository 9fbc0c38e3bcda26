// The simulated shop: deployments, pods and a kubelet, a queueing model of traffic, and faults.
// step() advances it by one tick and reports every service's state (what the generators render) and
// the ground truth of faults; ClusterControl lets the Kubernetes API look at it and act on it.
//
// Lifecycle: construct from a Scenario and the time the scenario starts; then step() with
// increasing times. Threading: every public method takes one mutex, so the Kubernetes API server
// may call from its HTTP threads while the executor steps the simulation. Deterministic: the same
// scenario, seed, origin and sequence of calls give the same states.
#pragma once

#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "sim/cluster_control.hpp"
#include "sim/random.hpp"
#include "sim/scenario.hpp"

namespace selfheal::sim {

// Effect sizes of faults, shared with the README so the numbers stay explained in one place.
struct FaultModel {
  static constexpr double kLeakSecondsToLimitAtStrength1 = 900;  // base -> limit in 15 min
  static constexpr double kCpuSpikeCostPerStrength = 3;          // cost x (1 + 3*strength)
  static constexpr double kDbSlowdownPerStrength = 30;           // query time x (1 + 30*strength)
  static constexpr double kErrorBurstRatePerStrength = 0.25;     // +25% 5xx per unit of strength
  static constexpr double kSurgePerStrength = 2;                 // traffic x (1 + 2*strength)
  static constexpr double kStuckErrorRatePerStrength = 0.4;      // +40% failures on a stuck pod
  static constexpr std::int64_t kCrashAfterStartMs = 4000;       // a crash-looping container dies after 4s
  static constexpr std::int64_t kBackoffBaseMs = 10000;          // kubelet: 10s, 20s, 40s, ... 5m
  static constexpr std::int64_t kBackoffCapMs = 300000;
  static constexpr std::int64_t kBackoffResetMs = 600000;        // 10 min of running resets it
  static constexpr std::int64_t kPodCreateMs = 2000;             // scheduling + image pull + create
  static constexpr std::int64_t kTerminationGraceMs = 3000;
};

class SimulatedCluster final : public ClusterControl {
 public:
  struct StepOutput {
    std::vector<ServiceState> states;  // one per service, in scenario order
    std::vector<FaultLabel> labels;    // faults that started or ended in this tick
  };

  // `origin`: the scenario's time zero (event time of its start).
  SimulatedCluster(Scenario scenario, TimeMs origin);
  ~SimulatedCluster() override;

  // Advances the simulation to `now` (> the previous step) and fills `out` (cleared first).
  void step(TimeMs now, StepOutput& out);

  // Adds a fault at run time (chaos). Its start is taken as the current simulated time if
  // `fault.start_ms` is negative. Returns the problem, or "" when accepted; `label_id` gets the id
  // its FaultLabel will carry.
  std::string inject_fault(FaultSpec fault, std::string* label_id = nullptr);

  TimeMs origin() const { return origin_; }
  TimeMs end() const { return origin_ + scenario_.duration_ms; }
  TimeMs now() const;
  const Scenario& scenario() const { return scenario_; }

  // ClusterControl
  std::vector<std::string> namespaces() const override;
  std::vector<PodView> pods(const std::string& namespace_name) const override;
  std::vector<DeploymentView> deployments(const std::string& namespace_name) const override;
  std::vector<ClusterEvent> events(const std::string& namespace_name) const override;
  std::uint64_t resource_version() const override;
  ControlResult delete_pod(const std::string& namespace_name, const std::string& name) override;
  ControlResult patch_deployment(const std::string& namespace_name, const std::string& name,
                                 const DeploymentPatch& patch) override;
  ControlResult clear_state(const std::string& namespace_name, const std::string& service) override;

 private:
  enum class ContainerState { Creating, Running, BackOff, Terminating };

  struct Pod {
    std::string name;
    std::string uid;
    std::string node;
    std::string template_hash;
    int service = 0;
    TimeMs created_at = 0;
    TimeMs started_at = 0;   // current container's start
    TimeMs ready_at = 0;     // when warm-up ends
    TimeMs state_until = 0;  // Creating/BackOff/Terminating: when the state ends
    ContainerState state = ContainerState::Creating;
    bool ready = false;
    std::uint32_t restarts = 0;
    int consecutive_crashes = 0;
    std::string last_termination;
    double leaked_bytes = 0;
    double memory_noise = 0;
    double memory_bytes = 0;
    bool stuck = false;
    bool removed = false;     // termination finished this tick: reported once more, then erased
    double rps = 0;           // requests/s it served in the last tick (memory grows with load)
    std::uint64_t resource_version = 0;
    std::vector<std::string> tick_events;
  };

  struct Deployment {
    int replicas = 1;
    std::string uid;
    std::string template_hash;
    std::string restarted_at;
    std::int64_t generation = 1;
    TimeMs created_at = 0;
    std::uint64_t resource_version = 0;
    int revision = 1;
  };

  struct ActiveFault {
    FaultSpec spec;
    std::string label_id;
    bool started = false;
    bool ended = false;
    TimeMs started_at = 0;
    std::string bad_template;  // error_burst/crash_loop: the release that is bad
  };

  // Per-service results of the traffic model in one tick.
  struct Flow {
    double rps = 0;              // arriving requests/s
    double latency_median_s = 0;
    double error_fraction = 0;   // as seen by callers (includes unavailability)
    bool available = false;
    int ready_pods = 0;
  };

  // All of these run with mu_ held.
  void reconcile(TimeMs now);
  void advance_pods(TimeMs now, std::int64_t dt_ms);
  void update_faults(TimeMs now, std::vector<FaultLabel>& labels);
  void compute_traffic(TimeMs now, std::int64_t dt_ms, StepOutput& out);
  Pod& create_pod(int service, TimeMs now);
  void terminate_pod(Pod& pod, TimeMs now, const std::string& reason);
  void crash_container(Pod& pod, TimeMs now, const std::string& reason);
  void record_event(TimeMs now, const std::string& kind, const std::string& name, const std::string& type,
                    const std::string& reason, const std::string& message);
  double load_factor(TimeMs now, std::int64_t dt_ms);
  bool fault_active(const std::string& type, int service) const;
  double fault_strength(const std::string& type, int service) const;
  const ActiveFault* fault_of(const std::string& type, int service) const;
  FaultLabel make_label(const ActiveFault& f, TimeMs ts) const;
  std::string make_uid();
  std::string template_hash_for(int service, int revision) const;
  std::uint64_t bump() { return ++resource_version_; }

  Scenario scenario_;
  TimeMs origin_;
  mutable std::mutex mu_;
  TimeMs now_;
  Rng rng_;         // pod names, uids, noise: consumed in a fixed order each tick
  std::vector<Deployment> deployments_;   // index = service index
  std::vector<Pod> pods_;                 // creation order
  std::vector<ActiveFault> faults_;
  std::deque<ClusterEvent> events_;
  std::uint64_t resource_version_ = 1;
  std::uint64_t event_seq_ = 0;
  std::uint64_t uid_seq_ = 0;
  int next_node_ = 0;
  double load_noise_ = 0;
  TimeMs burst_until_ = 0;
  std::vector<std::uint64_t> service_seeds_;
  std::vector<int> topo_;  // callers before callees
  std::uint64_t state_seq_ = 0;
};

}  // namespace selfheal::sim
