#include "core/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace selfheal {
namespace {

void atomic_add(std::atomic<double>& a, double v) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

std::string escape_label(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string render_labels(const Labels& labels, const std::string& extra_key = {},
                          const std::string& extra_value = {}) {
  if (labels.empty() && extra_key.empty()) return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    out += (first ? "" : ",") + k + "=\"" + escape_label(v) + "\"";
    first = false;
  }
  if (!extra_key.empty()) out += (first ? "" : ",") + extra_key + "=\"" + extra_value + "\"";
  return out + "}";
}

std::string fmt_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back exactly
  return std::string(buf, r.ptr);
}

Labels sorted(Labels l) {
  std::sort(l.begin(), l.end());
  return l;
}

}  // namespace

void Counter::inc(double v) {
  if (v < 0) return;  // counters only go up
  atomic_add(value_, v);
}

void Gauge::add(double v) { atomic_add(value_, v); }

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)),
      buckets_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  std::sort(bounds_.begin(), bounds_.end());
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) {
  std::size_t i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<std::uint64_t> Histogram::cumulative() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  std::uint64_t acc = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    acc += buckets_[i].load(std::memory_order_relaxed);
    out[i] = acc;
  }
  return out;
}

const std::vector<double>& MetricsRegistry::latency_buckets_seconds() {
  static const std::vector<double> kBuckets = {0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005,
                                               0.01,    0.05,    0.1,    0.5,    1,     5};
  return kBuckets;
}

MetricsRegistry::Family& MetricsRegistry::family(const std::string& name, Type type,
                                                 const std::string& help) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.type = type;
    it->second.help = help;
  } else if (it->second.type != type) {
    throw std::logic_error("metric " + name + " registered with two types");
  }
  return it->second;
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& f = family(name, Type::Counter, help);
  auto& slot = f.counters[sorted(labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& f = family(name, Type::Gauge, help);
  auto& slot = f.gauges[sorted(labels)];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      const std::vector<double>& upper_bounds, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& f = family(name, Type::Histogram, help);
  if (f.bounds.empty()) f.bounds = upper_bounds;
  auto& slot = f.histograms[sorted(labels)];
  if (!slot) slot = std::make_unique<Histogram>(f.bounds);
  return *slot;
}

void MetricsRegistry::gauge_fn(const std::string& name, const std::string& help, const Labels& labels,
                               std::function<double()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& f = family(name, Type::Gauge, help);
  f.gauge_fns[sorted(labels)] = std::move(fn);
}

std::string MetricsRegistry::render() const {
  // Computed gauges may take other locks (queue depths), so they are evaluated without ours held.
  std::map<std::string, std::vector<std::pair<Labels, std::function<double()>>>> fns;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, f] : families_)
      for (const auto& [labels, fn] : f.gauge_fns) fns[name].emplace_back(labels, fn);
  }
  std::map<std::string, std::vector<std::pair<Labels, double>>> computed;
  for (const auto& [name, list] : fns)
    for (const auto& [labels, fn] : list) computed[name].emplace_back(labels, fn());

  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  out.reserve(families_.size() * 256);
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + f.help + "\n";
    switch (f.type) {
      case Type::Counter:
        out += "# TYPE " + name + " counter\n";
        for (const auto& [labels, c] : f.counters)
          out += name + render_labels(labels) + " " + fmt_value(c->value()) + "\n";
        break;
      case Type::Gauge:
        out += "# TYPE " + name + " gauge\n";
        for (const auto& [labels, g] : f.gauges)
          out += name + render_labels(labels) + " " + fmt_value(g->value()) + "\n";
        if (auto c = computed.find(name); c != computed.end())
          for (const auto& [labels, v] : c->second)
            out += name + render_labels(labels) + " " + fmt_value(v) + "\n";
        break;
      case Type::Histogram:
        out += "# TYPE " + name + " histogram\n";
        for (const auto& [labels, h] : f.histograms) {
          auto cum = h->cumulative();
          for (std::size_t i = 0; i < h->upper_bounds().size(); ++i)
            out += name + "_bucket" + render_labels(labels, "le", fmt_value(h->upper_bounds()[i])) + " " +
                   std::to_string(cum[i]) + "\n";
          out += name + "_bucket" + render_labels(labels, "le", "+Inf") + " " + std::to_string(cum.back()) + "\n";
          out += name + "_sum" + render_labels(labels) + " " + fmt_value(h->sum()) + "\n";
          out += name + "_count" + render_labels(labels) + " " + std::to_string(h->count()) + "\n";
        }
        break;
    }
  }
  return out;
}

}  // namespace selfheal
