// Topic names. Every event is keyed by its service, so one service's events keep their order.
#pragma once

#include <array>
#include <string_view>

namespace selfheal::topics {

inline constexpr std::string_view kLogsRaw = "logs.raw";               // RawLog
inline constexpr std::string_view kMetricsRaw = "metrics.raw";         // MetricBatch
inline constexpr std::string_view kLogsStructured = "logs.structured"; // LogRecord
inline constexpr std::string_view kFeatures = "features";              // FeatureWindow
inline constexpr std::string_view kAnomalies = "anomalies";            // Anomaly (models and rules)
inline constexpr std::string_view kIncidents = "incidents";            // Incident snapshots
inline constexpr std::string_view kActions = "actions";                // RemediationAction, ActionResult
inline constexpr std::string_view kSimState = "sim.state";             // ServiceState (test bench)
inline constexpr std::string_view kGroundTruth = "sim.truth";          // FaultLabel (test bench)
// Not events: the changelog of per-key state checkpoints (runtime/keyed_state.hpp), keyed
// "<service>/<key>"; read back by a process that gains a partition, consumed by no service.
inline constexpr std::string_view kState = "state";

inline constexpr std::array<std::string_view, 10> kAll = {
    kLogsRaw, kMetricsRaw, kLogsStructured, kFeatures, kAnomalies,
    kIncidents, kActions, kSimState, kGroundTruth, kState};

}  // namespace selfheal::topics
