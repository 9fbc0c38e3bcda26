// A mergeable quantile sketch for raw non-negative values (latencies, sizes), in the style of
// DDSketch: values fall into logarithmic buckets of ratio gamma = (1+a)/(1-a), so any quantile is
// answered within relative error `a` of the exact order statistic, and two sketches built with the
// same accuracy merge by adding their bucket counts (pods -> service, panes -> window).
//
// Lifecycle/threading: a plain value type, used from one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace selfheal {

class QuantileSketch {
 public:
  // relative_accuracy in (0, 0.5); max_buckets bounds memory: when exceeded, the lowest buckets are
  // folded together (the high quantiles we alert on keep their accuracy).
  explicit QuantileSketch(double relative_accuracy = 0.005, std::size_t max_buckets = 2048);

  // Negative and non-finite values are the caller's to refuse; here they count as zero.
  void add(double value, std::uint64_t weight = 1);
  // Adds another sketch's counts. Both must share the relative accuracy (else returns false).
  bool merge(const QuantileSketch& other);
  // The q-quantile (q in [0,1]) of the values added, as the lower order statistic at rank
  // floor(q*(n-1)); NaN when empty.
  double quantile(double q) const;

  std::uint64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  void clear();
  double relative_accuracy() const { return accuracy_; }
  std::size_t memory_bytes() const { return sizeof(*this) + counts_.capacity() * sizeof(std::uint64_t); }

  // Values at or below this are counted in the zero bucket.
  static constexpr double kMinPositive = 1e-9;

 private:
  int index_of(double value) const;
  double value_of(int index) const;
  void grow_to_include(int index);

  double accuracy_;
  double gamma_;
  double inv_log_gamma_;
  std::size_t max_buckets_;
  std::vector<std::uint64_t> counts_;  // counts_[i] is the bucket of index offset_ + i
  int offset_ = 0;
  std::uint64_t zero_count_ = 0;
  std::uint64_t count_ = 0;
};

}  // namespace selfheal
