// A small, portable random generator for the simulation. std::mt19937 plus std::normal_distribution
// would be deterministic on one standard library only; this one gives the same stream everywhere,
// which is what "same scenario + seed = byte-identical output" needs.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>

namespace selfheal::sim {

inline std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// FNV-1a: stable across processes and platforms (std::hash is not).
inline std::uint64_t stable_hash(std::string_view s, std::uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

inline std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  std::uint64_t x = a ^ (b * 0x9E3779B97F4A7C15ULL);
  return splitmix64(x);
}

// xoshiro256**. Not thread-safe; one per owner.
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 1) { reseed(seed); }
  void reseed(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& v : s_) v = splitmix64(x);
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // [0, 1)
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // [0, n)
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool chance(double p) { return uniform() < p; }
  double normal() {
    // Box-Muller; the second value is dropped to keep the generator state simple to reason about.
    double u1 = uniform();
    double u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  double lognormal(double median, double sigma) { return median * std::exp(sigma * normal()); }
  // A count with mean `mean`: Poisson for small means (exact inversion), normal approximation above.
  std::uint32_t poisson(double mean) {
    if (!(mean > 0)) return 0;
    if (mean > 30) {
      double v = mean + std::sqrt(mean) * normal();
      return v < 0 ? 0u : static_cast<std::uint32_t>(v + 0.5);
    }
    double l = std::exp(-mean), p = 1.0;
    std::uint32_t k = 0;
    do {
      ++k;
      p *= uniform();
    } while (p > l);
    return k - 1;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

// Standard normal CDF.
inline double normal_cdf(double z) { return 0.5 * std::erfc(-z * 0.7071067811865476); }

// P(X <= x) for X log-normal with this median and log-space sigma.
inline double lognormal_cdf(double x, double median, double sigma) {
  if (x <= 0) return 0;
  if (!(median > 0)) return 1;
  if (!(sigma > 0)) return x >= median ? 1 : 0;
  return normal_cdf((std::log(x) - std::log(median)) / sigma);
}

}  // namespace selfheal::sim
