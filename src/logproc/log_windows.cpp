#include "logproc/log_windows.hpp"

#include <algorithm>
#include <stdexcept>

#include "contracts/feature_names.hpp"

namespace selfheal::logproc {
namespace {
// A service quiet for longer than this many steps gets its last windows only: the skipped ones
// would all be identical and empty.
constexpr int kMaxWindowsPerClose = 720;
}  // namespace

LogWindowAggregator::LogWindowAggregator(WindowOptions options, TemplateLookup lookup)
    : opt_(options), lookup_(std::move(lookup)) {
  if (opt_.step_ms <= 0) throw std::invalid_argument("log window step must be positive");
  if (opt_.window_ms < opt_.step_ms || opt_.window_ms % opt_.step_ms != 0)
    throw std::invalid_argument("log window (" + std::to_string(opt_.window_ms) + " ms) must be a positive multiple of the step (" +
                                std::to_string(opt_.step_ms) + " ms)");
  if (opt_.allowed_lateness_ms < 0) throw std::invalid_argument("allowed lateness must not be negative");
}

TimeMs LogWindowAggregator::bucket_start(TimeMs ts) const {
  TimeMs q = ts / opt_.step_ms;
  if (ts % opt_.step_ms != 0 && ts < 0) --q;  // floor for times before the epoch
  return q * opt_.step_ms;
}

bool LogWindowAggregator::add(const std::string& service, const WindowRecord& r) {
  auto [it, inserted] = services_.try_emplace(service);
  ServiceWindows& s = it->second;
  const TimeMs b = bucket_start(r.ts);
  if (inserted) {
    s.next_end = b + opt_.step_ms;
    s.max_event_ts = r.ts;
  }
  // The last window this record belongs to ends at b + window; if that one is closed, all are.
  if (b + opt_.window_ms < s.next_end) {
    ++late_;
    return false;
  }
  s.max_event_ts = std::max(s.max_event_ts, r.ts);
  Bucket& bucket = s.buckets[b];
  bucket.lines++;
  switch (r.level) {
    case LogLevel::Trace: bucket.trace++; break;
    case LogLevel::Debug: bucket.debug++; break;
    case LogLevel::Info: bucket.info++; break;
    case LogLevel::Warn: bucket.warn++; break;
    case LogLevel::Error: case LogLevel::Fatal: bucket.error++; break;
    case LogLevel::Unknown: break;
  }
  if (r.unparsed) bucket.unparsed++;
  TemplateEntry& t = bucket.templates[r.cluster];
  if (t.count == 0) t.example.assign(r.example.substr(0, opt_.max_example_bytes));
  t.count++;
  t.is_new = t.is_new || r.new_template;
  return true;
}

void LogWindowAggregator::close(TimeMs clock_watermark, std::vector<FeatureWindow>& out) {
  for (auto& [service, s] : services_) {
    const TimeMs watermark = std::max(s.max_event_ts - opt_.allowed_lateness_ms, clock_watermark);
    const TimeMs behind = (watermark - s.next_end) / opt_.step_ms;
    if (behind > kMaxWindowsPerClose) s.next_end += (behind - kMaxWindowsPerClose) * opt_.step_ms;
    while (s.next_end <= watermark) {
      emit_window(service, s, s.next_end, out);
      s.next_end += opt_.step_ms;
      // Buckets no future window reaches.
      const TimeMs keep_from = s.next_end - opt_.window_ms;
      s.buckets.erase(s.buckets.begin(), s.buckets.lower_bound(keep_from));
    }
  }
}

void LogWindowAggregator::emit_window(const std::string& service, ServiceWindows& s, TimeMs end,
                                      std::vector<FeatureWindow>& out) {
  namespace fn = feature_names;
  const TimeMs start = end - opt_.window_ms;
  Bucket sum;
  for (auto it = s.buckets.lower_bound(start); it != s.buckets.end() && it->first < end; ++it) {
    const Bucket& b = it->second;
    sum.lines += b.lines;
    sum.trace += b.trace;
    sum.debug += b.debug;
    sum.info += b.info;
    sum.warn += b.warn;
    sum.error += b.error;
    sum.unparsed += b.unparsed;
    for (const auto& [cluster, t] : b.templates) {
      TemplateEntry& m = sum.templates[cluster];
      if (m.count == 0) m.example = t.example;
      m.count += t.count;
      m.is_new = m.is_new || t.is_new;
    }
  }
  FeatureWindow w;
  w.start = start;
  w.end = end;
  w.service = service;
  w.source = FeatureSource::Logs;
  std::size_t new_templates = 0;
  for (const auto& [c, t] : sum.templates) new_templates += t.is_new ? 1 : 0;
  w.set(std::string(fn::kLogLines), static_cast<double>(sum.lines));
  w.set(std::string(fn::kLogInfo), static_cast<double>(sum.info));
  w.set(std::string(fn::kLogWarn), static_cast<double>(sum.warn));
  w.set(std::string(fn::kLogError), static_cast<double>(sum.error));
  w.set(std::string(fn::kLogErrorRatio), sum.lines ? static_cast<double>(sum.error) / static_cast<double>(sum.lines) : 0.0);
  w.set(std::string(fn::kLogNewTemplates), static_cast<double>(new_templates));
  w.set(std::string(fn::kLogUnparsed), static_cast<double>(sum.unparsed));
  w.set(std::string(fn::kLogDistinctTemplates), static_cast<double>(sum.templates.size()));

  std::vector<TemplateCount> top;
  top.reserve(sum.templates.size());
  for (auto& [cluster, t] : sum.templates) {
    TemplateCount tc;
    auto [id, text] = lookup_(cluster);
    tc.template_id = id;
    tc.template_text = std::move(text);
    tc.count = t.count;
    tc.example = std::move(t.example);
    tc.is_new = t.is_new;
    top.push_back(std::move(tc));
  }
  const std::size_t n = std::min(opt_.top_templates, top.size());
  std::partial_sort(top.begin(), top.begin() + static_cast<std::ptrdiff_t>(n), top.end(),
                    [](const TemplateCount& a, const TemplateCount& b) {
                      if (a.count != b.count) return a.count > b.count;
                      if (a.is_new != b.is_new) return a.is_new;  // new templates are news
                      return a.template_id < b.template_id;
                    });
  top.resize(n);
  w.top_templates = std::move(top);
  out.push_back(std::move(w));
}

}  // namespace selfheal::logproc
