#include "metricsproc/quantile_sketch.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace selfheal {

QuantileSketch::QuantileSketch(double relative_accuracy, std::size_t max_buckets)
    : accuracy_(std::clamp(relative_accuracy, 1e-6, 0.49)),
      gamma_((1 + accuracy_) / (1 - accuracy_)),
      inv_log_gamma_(1.0 / std::log(gamma_)),
      max_buckets_(std::max<std::size_t>(max_buckets, 16)) {}

// Bucket i holds (gamma^(i-1), gamma^i]; its representative 2*gamma^i/(gamma+1) is within `a` of
// every value in it.
int QuantileSketch::index_of(double value) const {
  return static_cast<int>(std::ceil(std::log(value) * inv_log_gamma_));
}

double QuantileSketch::value_of(int index) const {
  return 2.0 * std::pow(gamma_, index) / (gamma_ + 1.0);
}

void QuantileSketch::grow_to_include(int index) {
  if (counts_.empty()) {
    offset_ = index;
    counts_.assign(1, 0);
    return;
  }
  const int high_now = offset_ + static_cast<int>(counts_.size()) - 1;
  const int high = std::max(high_now, index);
  int low = std::min(offset_, index);
  const auto limit = static_cast<int>(max_buckets_);
  if (high - low + 1 > limit) low = high - limit + 1;  // fold the lowest buckets
  if (low == offset_) {
    counts_.resize(static_cast<std::size_t>(high - low + 1), 0);
    return;
  }
  // Rebuild at the exact size, so capacity never outgrows the cap. Buckets below `low` fold into
  // it: low quantiles lose accuracy, the high ones we alert on keep theirs.
  std::vector<std::uint64_t> next(static_cast<std::size_t>(high - low + 1), 0);
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    const int at = std::max(offset_ + static_cast<int>(i), low);
    next[static_cast<std::size_t>(at - low)] += counts_[i];
  }
  counts_.swap(next);
  offset_ = low;
}

void QuantileSketch::add(double value, std::uint64_t weight) {
  if (weight == 0) return;
  count_ += weight;
  if (!(value > kMinPositive) || !std::isfinite(value)) {
    zero_count_ += weight;
    return;
  }
  int index = index_of(value);
  if (counts_.empty() || index < offset_ || index >= offset_ + static_cast<int>(counts_.size())) {
    grow_to_include(index);
    index = std::max(index, offset_);  // folded away below the kept range
  }
  counts_[static_cast<std::size_t>(index - offset_)] += weight;
}

bool QuantileSketch::merge(const QuantileSketch& other) {
  if (other.accuracy_ != accuracy_) return false;
  if (other.count_ == 0) return true;
  zero_count_ += other.zero_count_;
  count_ += other.count_;
  if (other.counts_.empty()) return true;
  grow_to_include(other.offset_);
  grow_to_include(other.offset_ + static_cast<int>(other.counts_.size()) - 1);
  for (std::size_t i = 0; i < other.counts_.size(); ++i) {
    const int index = std::max(other.offset_ + static_cast<int>(i), offset_);
    counts_[static_cast<std::size_t>(index - offset_)] += other.counts_[i];
  }
  return true;
}

double QuantileSketch::quantile(double q) const {
  if (count_ == 0 || !(q >= 0 && q <= 1)) return std::numeric_limits<double>::quiet_NaN();
  const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1));
  std::uint64_t seen = zero_count_;
  if (seen > rank) return 0.0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen > rank) return value_of(offset_ + static_cast<int>(i));
  }
  return value_of(offset_ + static_cast<int>(counts_.size()) - 1);
}

void QuantileSketch::clear() {
  counts_.clear();
  offset_ = 0;
  zero_count_ = 0;
  count_ = 0;
}

}  // namespace selfheal
