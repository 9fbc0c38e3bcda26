// What the simulated cluster lets its Kubernetes API (sim/k8s_api) see and do. The workload
// simulation implements it; the API server translates HTTP requests into these calls, so the
// remediator talks real Kubernetes HTTP to a cluster whose pods really react.
//
// Threading: every method is thread-safe (the API server calls from its HTTP threads while the
// executor advances the simulation).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "contracts/events.hpp"

namespace selfheal::sim {

struct PodView {
  std::string name;        // "<deployment>-<template hash>-<5 chars>"
  std::string namespace_name;
  std::string uid;
  std::string deployment;  // owner; pods carry the label app=<deployment>
  std::string node;
  std::string phase;       // Pending | Running | Succeeded | Failed (Kubernetes pod phases)
  std::string container_state;  // running | waiting | terminated
  std::string waiting_reason;   // CrashLoopBackOff, ContainerCreating, ... when waiting
  std::string last_termination_reason;  // OOMKilled, Error, Completed
  bool ready = false;
  bool terminating = false;  // deletionTimestamp set
  std::uint32_t restarts = 0;
  TimeMs created_at = 0;
  TimeMs started_at = 0;
  std::string image;
  double cpu_request_millicores = 0, cpu_limit_millicores = 0;
  double memory_request_bytes = 0, memory_limit_bytes = 0;
  std::uint64_t resource_version = 0;
};

struct DeploymentView {
  std::string name;  // = the service name
  std::string namespace_name;
  std::string uid;
  int replicas = 0;  // spec.replicas
  int ready_replicas = 0, updated_replicas = 0, available_replicas = 0;
  std::int64_t generation = 1, observed_generation = 1;
  std::string image;
  std::string restarted_at;  // spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]
  TimeMs created_at = 0;
  double cpu_request_millicores = 0, cpu_limit_millicores = 0;
  double memory_request_bytes = 0, memory_limit_bytes = 0;
  std::uint64_t resource_version = 0;
};

struct ClusterEvent {
  std::string name;
  std::string namespace_name;
  std::string involved_kind;  // Pod | Deployment
  std::string involved_name;
  std::string type;           // Normal | Warning
  std::string reason;         // Killing, OOMKilling, BackOff, ScalingReplicaSet, Started, ...
  std::string message;
  TimeMs first_ts = 0, last_ts = 0;
  int count = 1;
  std::uint64_t resource_version = 0;
};

enum class ControlError { None, NotFound, Conflict, Invalid };

struct ControlResult {
  ControlError error = ControlError::None;
  std::string message;  // for the Kubernetes Status object
  bool ok() const { return error == ControlError::None; }
};

// A change to a deployment, as PATCH requests express it. Fields left empty are not touched.
struct DeploymentPatch {
  std::optional<int> replicas;
  std::optional<std::string> restarted_at;  // a new value triggers a rolling restart
  std::optional<std::uint64_t> expected_resource_version;  // Conflict if it does not match
};

class ClusterControl {
 public:
  virtual ~ClusterControl() = default;

  virtual std::vector<std::string> namespaces() const = 0;
  // `namespace_name` empty: all namespaces.
  virtual std::vector<PodView> pods(const std::string& namespace_name) const = 0;
  virtual std::vector<DeploymentView> deployments(const std::string& namespace_name) const = 0;
  virtual std::vector<ClusterEvent> events(const std::string& namespace_name) const = 0;
  // The cluster-wide resourceVersion (increases on every change).
  virtual std::uint64_t resource_version() const = 0;
  // The simulation's current time, for the AGE columns the API server renders (0: unknown; the
  // server then measures ages from the newest timestamp it sees).
  virtual TimeMs now() const { return 0; }

  // Deleting a pod replaces it (the deployment's ReplicaSet creates a new one).
  virtual ControlResult delete_pod(const std::string& namespace_name, const std::string& name) = 0;
  virtual ControlResult patch_deployment(const std::string& namespace_name, const std::string& name,
                                         const DeploymentPatch& patch) = 0;
  // The simulated service's admin hook: clears a poisoned cache or wedged worker in every pod.
  virtual ControlResult clear_state(const std::string& namespace_name, const std::string& service) = 0;
};

}  // namespace selfheal::sim
