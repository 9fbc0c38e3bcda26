// Log features per service over sliding event-time windows ([end - window, end), one window every
// `step`), built from per-step buckets so each record is counted once whatever the overlap. A window
// closes when the watermark passes its end: the watermark is the service's highest event time minus
// the allowed lateness, or the caller's clock (advance_to) so a service that went quiet, e.g.
// because it crashed, still gets (empty) windows.
//
// Threading: not thread-safe; owned by the log-processor service's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "contracts/events.hpp"

namespace selfheal::logproc {

struct WindowOptions {
  TimeMs window_ms = 60'000;
  TimeMs step_ms = 10'000;
  TimeMs allowed_lateness_ms = 5'000;
  std::size_t top_templates = 5;
  std::size_t max_example_bytes = 512;
};

// What the aggregator needs to know about one record.
struct WindowRecord {
  TimeMs ts = 0;
  LogLevel level = LogLevel::Unknown;
  bool unparsed = false;
  std::uint64_t cluster = 0;  // the miner's handle: stable while a template generalises
  bool new_template = false;  // the miner created the template for this record
  std::string_view example;   // the raw line
};

class LogWindowAggregator {
 public:
  // Current id and text of a miner cluster, asked when a window closes.
  using TemplateLookup = std::function<std::pair<std::uint64_t, std::string>(std::uint64_t cluster)>;

  LogWindowAggregator(WindowOptions options, TemplateLookup lookup);

  // Adds a record; returns false (and counts it in late()) when every window it belongs to has
  // already closed.
  bool add(const std::string& service, const WindowRecord& r);
  // Closes every window of every known service that ends at or before the service's watermark or
  // `clock_watermark`, oldest first; windows are handed to `out` (id left empty).
  void close(TimeMs clock_watermark, std::vector<FeatureWindow>& out);

  std::uint64_t late() const { return late_; }
  std::size_t services() const { return services_.size(); }

 private:
  struct TemplateEntry {
    std::uint64_t count = 0;
    bool is_new = false;
    std::string example;
  };
  struct Bucket {
    std::uint64_t lines = 0, trace = 0, debug = 0, info = 0, warn = 0, error = 0, unparsed = 0;
    std::map<std::uint64_t, TemplateEntry> templates;  // by cluster
  };
  struct ServiceWindows {
    std::map<TimeMs, Bucket> buckets;  // by bucket start
    TimeMs max_event_ts = 0;
    TimeMs next_end = 0;  // end of the next window to close
  };
  TimeMs bucket_start(TimeMs ts) const;
  void emit_window(const std::string& service, ServiceWindows& s, TimeMs end, std::vector<FeatureWindow>& out);

  WindowOptions opt_;
  TemplateLookup lookup_;
  std::map<std::string, ServiceWindows> services_;  // ordered: windows come out in a fixed order
  std::uint64_t late_ = 0;
};

}  // namespace selfheal::logproc
