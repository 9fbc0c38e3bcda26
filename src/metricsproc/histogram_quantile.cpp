#include "metricsproc/histogram_quantile.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace selfheal {

namespace {
// Cumulative count of `h` at bound `b`: its count at the largest own bound <= b.
double cumulative_at(const BucketCounts& h, double b) {
  auto it = std::upper_bound(h.upper_bounds.begin(), h.upper_bounds.end(), b);
  if (it == h.upper_bounds.begin()) return 0.0;
  return h.cumulative[static_cast<std::size_t>(it - h.upper_bounds.begin() - 1)];
}
}  // namespace

void BucketCounts::add(const BucketCounts& other) {
  if (other.empty()) return;
  if (empty()) {
    *this = other;
    return;
  }
  if (upper_bounds == other.upper_bounds) {
    for (std::size_t i = 0; i < cumulative.size(); ++i) cumulative[i] += other.cumulative[i];
    return;
  }
  std::vector<double> bounds;
  bounds.reserve(upper_bounds.size() + other.upper_bounds.size());
  std::merge(upper_bounds.begin(), upper_bounds.end(), other.upper_bounds.begin(),
             other.upper_bounds.end(), std::back_inserter(bounds));
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  std::vector<double> merged(bounds.size());
  for (std::size_t i = 0; i < bounds.size(); ++i)
    merged[i] = cumulative_at(*this, bounds[i]) + cumulative_at(other, bounds[i]);
  // The totals must survive even when one layout ends below the other's last bound.
  merged.back() = total() + other.total();
  upper_bounds = std::move(bounds);
  cumulative = std::move(merged);
}

std::string check_buckets(const std::vector<HistogramBucket>& buckets) {
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    const HistogramBucket& b = buckets[i];
    if (std::isnan(b.upper_bound)) return "bucket bound is NaN at index " + std::to_string(i);
    if (!std::isfinite(b.cumulative_count) || b.cumulative_count < 0)
      return "bucket count is negative or not finite at index " + std::to_string(i);
    if (i > 0 && !(b.upper_bound > buckets[i - 1].upper_bound))
      return "bucket bounds are not increasing at index " + std::to_string(i);
    if (i > 0 && b.cumulative_count < buckets[i - 1].cumulative_count)
      return "bucket counts are not monotonic at index " + std::to_string(i);
  }
  return {};
}

double histogram_quantile(double q, const BucketCounts& h) {
  const double total = h.total();
  if (h.empty() || !(total > 0) || !(q >= 0 && q <= 1)) return std::numeric_limits<double>::quiet_NaN();
  const double rank = q * total;
  std::size_t i = 0;
  while (i + 1 < h.cumulative.size() && h.cumulative[i] < rank) ++i;
  const double upper = h.upper_bounds[i];
  if (std::isinf(upper)) {
    // Nothing is known above the last finite bound: answer it, as PromQL does.
    for (std::size_t j = i; j-- > 0;)
      if (std::isfinite(h.upper_bounds[j])) return h.upper_bounds[j];
    return std::numeric_limits<double>::quiet_NaN();
  }
  const double lower = i == 0 ? std::min(0.0, upper) : h.upper_bounds[i - 1];
  const double below = i == 0 ? 0.0 : h.cumulative[i - 1];
  const double in_bucket = h.cumulative[i] - below;
  if (!(in_bucket > 0)) return upper;
  return lower + (upper - lower) * (rank - below) / in_bucket;
}

}  // namespace selfheal
