// Names of the raw metrics the metrics generator emits per pod and the metrics processor reads.
// They follow Prometheus/cAdvisor conventions so the same processor works on real scrapes.
#pragma once

#include <string_view>

namespace selfheal::metric_names {

inline constexpr std::string_view kCpuUsage = "container_cpu_usage_millicores";          // gauge
inline constexpr std::string_view kCpuLimit = "container_cpu_limit_millicores";          // gauge
inline constexpr std::string_view kMemoryWorkingSet = "container_memory_working_set_bytes";  // gauge
inline constexpr std::string_view kMemoryLimit = "container_memory_limit_bytes";         // gauge
inline constexpr std::string_view kRestarts = "kube_pod_container_status_restarts_total";  // counter
inline constexpr std::string_view kPodReady = "kube_pod_ready";                           // gauge 0/1
inline constexpr std::string_view kRequests = "http_requests_total";                     // counter
inline constexpr std::string_view kErrors = "http_requests_errors_total";                // counter (5xx)
inline constexpr std::string_view kRequestDuration = "http_request_duration_seconds";    // histogram
inline constexpr std::string_view kDbQueryDuration = "db_query_duration_seconds";        // histogram
inline constexpr std::string_view kDbConnectionsActive = "db_connections_active";        // gauge
inline constexpr std::string_view kDbPoolWaits = "db_pool_waits_total";                  // counter

}  // namespace selfheal::metric_names
