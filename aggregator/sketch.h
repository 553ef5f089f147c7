// aggregator/sketch.h: DDSketch, the mergeable relative-error quantile sketch (SPEC 3).
//
// A series switches to it past exact_samples; shards merge theirs at flush and distributions hand
// it to backends. Values land in logarithmic buckets of ratio gamma = (1+a)/(1-a), so every
// bucket's representative is within relative accuracy a of any value in it. Bucket count per sign
// is bounded (kMaxBins): past it the buckets nearest zero are collapsed, which keeps memory bounded
// and only degrades the smallest-magnitude quantiles.
#ifndef TALLYD_AGGREGATOR_SKETCH_H_
#define TALLYD_AGGREGATOR_SKETCH_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tallyd::aggregator {

class DDSketch {
 public:
  // 2048 buckets at 1 % accuracy span 17 decades of magnitude: 16 KiB per sign at most.
  static constexpr int kMaxBins = 2048;

  explicit DDSketch(double relative_accuracy = 0.01);

  void Add(double value, uint64_t count = 1);
  // Adds every sample of `other`. Sketches of the same accuracy merge bucket by bucket; otherwise
  // other's representatives are re-added (still bounded, slightly less accurate).
  void Merge(const DDSketch& other);
  // Forgets all samples but keeps the allocated buckets (sketches are recycled every interval).
  void Clear();

  uint64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  double min() const { return min_; }
  double max() const { return max_; }
  double sum() const { return sum_; }
  double relative_accuracy() const { return accuracy_; }

  // The sample of 0-based rank `rank` in ascending order (within the accuracy, clamped to
  // [min, max]). rank >= count() gives max(); an empty sketch gives NaN.
  double ValueAtRank(uint64_t rank) const;
  // Nearest-rank quantile: ValueAtRank(ceil(q * count) - 1), q in [0, 1].
  double Quantile(double q) const;
  // Samples whose bucket representative is <= x (exact at and beyond min / max).
  uint64_t CountAtOrBelow(double x) const;

  // Calls fn(double representative, uint64_t count) for every non-empty bucket, ascending.
  template <typename Fn>
  void ForEachBin(Fn&& fn) const {
    for (size_t i = negative_.bins.size(); i-- > 0;) {
      if (negative_.bins[i] != 0) fn(-Representative(negative_.offset + int(i)), negative_.bins[i]);
    }
    if (zero_count_ != 0) fn(0.0, zero_count_);
    for (size_t i = 0; i < positive_.bins.size(); ++i) {
      if (positive_.bins[i] != 0) fn(Representative(positive_.offset + int(i)), positive_.bins[i]);
    }
  }

  size_t bin_count() const { return negative_.bins.size() + positive_.bins.size(); }

 private:
  // Dense counts for bucket indices [offset, offset + bins.size()).
  struct Store {
    std::vector<uint64_t> bins;
    int offset = 0;
    void Add(int index, uint64_t count);
    void CollapseBelow(int new_low);
  };

  int Index(double magnitude) const;
  double Representative(int index) const;

  double accuracy_;
  double gamma_;
  double log_gamma_;
  double multiplier_;  // 1 / log(gamma)
  Store positive_;
  Store negative_;  // by magnitude
  uint64_t zero_count_ = 0;
  uint64_t count_ = 0;
  double min_;
  double max_;
  double sum_ = 0;
};

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_SKETCH_H_
