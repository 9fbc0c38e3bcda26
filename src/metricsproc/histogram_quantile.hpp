// Quantiles from Prometheus-style cumulative histogram buckets, and the bucket arithmetic the
// windows need (deltas between scrapes, merging pods whose bucket layouts may differ).
#pragma once

#include <string>
#include <vector>

#include "contracts/events.hpp"

namespace selfheal {

// Observation counts per bucket over some interval, cumulative over bounds like Prometheus
// buckets (bounds strictly increasing, the last one may be +inf).
struct BucketCounts {
  std::vector<double> upper_bounds;
  std::vector<double> cumulative;

  bool empty() const { return upper_bounds.empty(); }
  double total() const { return cumulative.empty() ? 0.0 : cumulative.back(); }
  // Adds `other`; if the layouts differ, both are re-expressed on the union of bounds (a
  // histogram's cumulative count at a bound it lacks is taken at its next lower bound).
  void add(const BucketCounts& other);
  void clear() { upper_bounds.clear(); cumulative.clear(); }
};

// Returns an empty string if the buckets are well formed, else what is wrong ("bucket bounds are
// not increasing at index 3").
std::string check_buckets(const std::vector<HistogramBucket>& buckets);

// The q-quantile by linear interpolation inside the bucket holding rank q*total, as PromQL's
// histogram_quantile does: the first bucket starts at 0; a rank in the +inf bucket answers the
// highest finite bound. NaN when the histogram is empty.
double histogram_quantile(double q, const BucketCounts& counts);

}  // namespace selfheal
