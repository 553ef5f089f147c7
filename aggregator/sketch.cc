#include "aggregator/sketch.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tallyd::aggregator {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Bucket edges are computed with log(); a value sitting on an edge may land one bucket off by a
// rounding error, so buckets are built 1 % narrower than asked to keep the promise strictly.
constexpr double kAccuracyHeadroom = 0.99;

}  // namespace

DDSketch::DDSketch(double relative_accuracy)
    : accuracy_(relative_accuracy), min_(kInf), max_(-kInf) {
  double a = std::clamp(relative_accuracy, 1e-6, 0.5) * kAccuracyHeadroom;
  gamma_ = (1 + a) / (1 - a);
  log_gamma_ = std::log(gamma_);
  multiplier_ = 1 / log_gamma_;
}

int DDSketch::Index(double magnitude) const {
  return static_cast<int>(std::ceil(std::log(magnitude) * multiplier_));
}

// The point of (gamma^(i-1), gamma^i] with equal relative distance to both ends; for the bucket
// of the largest doubles that point may lie beyond them, and is then the largest finite double.
double DDSketch::Representative(int index) const {
  return std::min(2 * std::exp(index * log_gamma_) / (1 + gamma_),
                  std::numeric_limits<double>::max());
}

void DDSketch::Store::CollapseBelow(int new_low) {
  size_t n = std::min(bins.size(), static_cast<size_t>(new_low - offset));
  uint64_t folded = 0;
  for (size_t i = 0; i < n; ++i) folded += bins[i];
  bins.erase(bins.begin(), bins.begin() + n);
  offset = new_low;
  if (bins.empty()) bins.resize(1, 0);
  bins[0] += folded;
}

void DDSketch::Store::Add(int index, uint64_t count) {
  if (bins.empty()) {
    bins.resize(1, 0);
    offset = index;
  }
  int high = offset + static_cast<int>(bins.size()) - 1;
  if (index > high) {
    int new_low = std::max(offset, index - kMaxBins + 1);
    if (new_low > offset) CollapseBelow(new_low);
    bins.resize(index - offset + 1, 0);
  } else if (index < offset) {
    // Folding into the lowest bucket we may keep is the bounded-memory trade-off.
    index = std::max(index, high - kMaxBins + 1);
    if (index < offset) {
      bins.insert(bins.begin(), offset - index, 0);
      offset = index;
    }
  }
  bins[index - offset] += count;
}

void DDSketch::Add(double value, uint64_t count) {
  if (count == 0 || std::isnan(value)) return;
  if (value > 0) {
    positive_.Add(Index(value), count);
  } else if (value < 0) {
    negative_.Add(Index(-value), count);
  } else {
    zero_count_ += count;
  }
  count_ += count;
  sum_ += value * static_cast<double>(count);
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void DDSketch::Merge(const DDSketch& other) {
  if (other.empty()) return;
  if (other.gamma_ != gamma_) {
    double sum = sum_;
    other.ForEachBin([this](double v, uint64_t c) { Add(v, c); });
    sum_ = sum + other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    return;
  }
  for (size_t i = 0; i < other.positive_.bins.size(); ++i) {
    if (other.positive_.bins[i])
      positive_.Add(other.positive_.offset + int(i), other.positive_.bins[i]);
  }
  for (size_t i = 0; i < other.negative_.bins.size(); ++i) {
    if (other.negative_.bins[i])
      negative_.Add(other.negative_.offset + int(i), other.negative_.bins[i]);
  }
  zero_count_ += other.zero_count_;
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void DDSketch::Clear() {
  positive_.bins.clear();
  negative_.bins.clear();
  zero_count_ = 0;
  count_ = 0;
  sum_ = 0;
  min_ = kInf;
  max_ = -kInf;
}

double DDSketch::ValueAtRank(uint64_t rank) const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  if (rank == 0) return min_;
  if (rank >= count_ - 1) return max_;
  uint64_t seen = 0;
  double found = max_;
  bool done = false;
  ForEachBin([&](double v, uint64_t c) {
    if (done) return;
    seen += c;
    if (seen > rank) {
      found = v;
      done = true;
    }
  });
  return std::clamp(found, min_, max_);
}

double DDSketch::Quantile(double q) const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  double r = std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_)) - 1;
  return ValueAtRank(r <= 0 ? 0 : static_cast<uint64_t>(r));
}

uint64_t DDSketch::CountAtOrBelow(double x) const {
  if (count_ == 0 || x < min_) return 0;
  if (x >= max_) return count_;
  uint64_t below = 0;
  ForEachBin([&](double v, uint64_t c) {
    if (v <= x) below += c;
  });
  return below;
}

}  // namespace tallyd::aggregator
