// Names of the window features the processors emit and the detector, rule engine and classifier
// read. A window carries only the features it could compute.
#pragma once

#include <string_view>

namespace selfheal::feature_names {

// From metrics (per pod and per service; per service = over the service's pods).
inline constexpr std::string_view kCpuMillicoresMean = "cpu_millicores_mean";
inline constexpr std::string_view kCpuUtilMean = "cpu_utilization_mean";      // fraction of limit
inline constexpr std::string_view kCpuUtilMax = "cpu_utilization_max";
inline constexpr std::string_view kMemoryBytesMean = "memory_bytes_mean";
inline constexpr std::string_view kMemoryBytesMax = "memory_bytes_max";
inline constexpr std::string_view kMemoryUtilMax = "memory_utilization_max";  // fraction of limit
inline constexpr std::string_view kMemorySlope = "memory_slope_bytes_per_s";   // least squares over the window
inline constexpr std::string_view kRestarts = "restarts";                      // restarts in the window
inline constexpr std::string_view kPodsReady = "pods_ready";                   // service windows
inline constexpr std::string_view kPods = "pods";
inline constexpr std::string_view kRequestsPerS = "requests_per_s";
inline constexpr std::string_view kErrorsPerS = "errors_per_s";
inline constexpr std::string_view kErrorRatio = "error_ratio";                 // errors / requests
inline constexpr std::string_view kLatencyP50 = "latency_p50_s";
inline constexpr std::string_view kLatencyP95 = "latency_p95_s";
inline constexpr std::string_view kLatencyP99 = "latency_p99_s";
inline constexpr std::string_view kDbQueryP95 = "db_query_p95_s";
inline constexpr std::string_view kDbConnectionsActive = "db_connections_active_mean";
inline constexpr std::string_view kDbPoolWaitsPerS = "db_pool_waits_per_s";

// From logs (per service).
inline constexpr std::string_view kLogLines = "log_lines";
inline constexpr std::string_view kLogInfo = "log_info";
inline constexpr std::string_view kLogWarn = "log_warn";
inline constexpr std::string_view kLogError = "log_error";   // ERROR and FATAL
inline constexpr std::string_view kLogErrorRatio = "log_error_ratio";
inline constexpr std::string_view kLogNewTemplates = "log_new_templates";
inline constexpr std::string_view kLogUnparsed = "log_unparsed";
inline constexpr std::string_view kLogDistinctTemplates = "log_distinct_templates";

}  // namespace selfheal::feature_names
