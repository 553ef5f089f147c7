#include "aggregator/hyperloglog.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace tallyd::aggregator {
namespace {

constexpr int kQ = 64 - HyperLogLog::kPrecision;  // hash bits left for the rank

// Callers' hashes may be weak in some bits; one more finalizer (splitmix64) makes every bit count.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

double Sigma(double x) {
  if (x == 1) return std::numeric_limits<double>::infinity();
  double y = 1;
  double z = x;
  while (true) {
    x *= x;
    double previous = z;
    z += x * y;
    y += y;
    if (previous == z) return z;
  }
}

double Tau(double x) {
  if (x == 0 || x == 1) return 0;
  double y = 1;
  double z = 1 - x;
  while (true) {
    x = std::sqrt(x);
    double previous = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y;
    if (previous == z) return z / 3;
  }
}

}  // namespace

HyperLogLog::HyperLogLog() : registers_(kRegisters, 0) {}

void HyperLogLog::Add(uint64_t hash) {
  uint64_t h = Mix(hash);
  uint32_t index = static_cast<uint32_t>(h >> kQ);
  uint64_t rest = h << kPrecision;
  uint8_t rank = rest == 0 ? kQ + 1 : static_cast<uint8_t>(std::countl_zero(rest) + 1);
  registers_[index] = std::max(registers_[index], rank);
}

void HyperLogLog::Merge(const HyperLogLog& other) {
  for (uint32_t i = 0; i < kRegisters; ++i) {
    registers_[i] = std::max(registers_[i], other.registers_[i]);
  }
}

void HyperLogLog::Clear() { std::fill(registers_.begin(), registers_.end(), 0); }

double HyperLogLog::Estimate() const {
  int histogram[kQ + 2] = {};
  for (uint8_t r : registers_) ++histogram[r];
  const double m = kRegisters;
  double z = m * Tau((m - histogram[kQ + 1]) / m);
  for (int k = kQ; k >= 1; --k) z = 0.5 * (z + histogram[k]);
  z += m * Sigma(histogram[0] / m);
  constexpr double kAlphaInf = 0.7213475204444817;  // 1 / (2 ln 2)
  return kAlphaInf * m * m / z;
}

}  // namespace tallyd::aggregator
