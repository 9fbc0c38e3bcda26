// Renders one tick of a service's simulated state into the log lines its pods would have written,
// in the layout that service uses (JSON lines, logfmt, Java/Spring text with multi-line stack
// traces, nginx access/error logs, PostgreSQL's stderr log). Healthy pods write requests (sampled),
// background chatter and harmless WARN/ERROR noise; fault conditions add the messages real
// services print for them.
//
// Lifecycle: one per log generator; render() may be called for any service in any order.
// Deterministic: a line's content depends only on the ServiceState (its seed, time, pods).
// Not thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "contracts/events.hpp"

namespace selfheal::sim {

enum class LogStyle { Json, Logfmt, Java, Nginx, Postgres };

bool parse_log_style(std::string_view s, LogStyle& out);
std::string_view to_string(LogStyle s);

struct LogRendererOptions {
  double request_sample = 0.15;   // fraction of requests that leave an access/request line
  double background_per_s = 0.4;  // chatter lines per pod per second (includes harmless WARN/ERROR)
  std::size_t max_lines_per_pod_tick = 400;  // safety cap for extreme scenarios
  std::map<std::string, LogStyle> styles;    // service -> layout; others use `default_style`
  LogStyle default_style = LogStyle::Json;
  // "frontend=nginx,orders=java" pairs (config form). Returns the problem, "" when valid.
  std::string set_styles(const std::vector<std::string>& pairs);
};

class LogRenderer {
 public:
  explicit LogRenderer(LogRendererOptions options = {});
  // Appends the tick's lines to `out`, ordered by time within each pod; ids are left empty.
  void render(const ServiceState& state, std::vector<RawLog>& out);
  LogStyle style_of(const std::string& service) const;

 private:
  LogRendererOptions options_;
};

}  // namespace selfheal::sim
