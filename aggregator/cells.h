// aggregator/cells.h: per-series interval state, as a shard accumulates it and the flush side
// merges it. Each type has its own compact cell so a counter carries 8 bytes, not a timer's
// vectors.
//
// Cells are recycled: Reset() forgets values but keeps vectors, sketches and hash sets allocated,
// so a steady stream of known series allocates nothing interval after interval.
#ifndef TALLYD_AGGREGATOR_CELLS_H_
#define TALLYD_AGGREGATOR_CELLS_H_

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "aggregator/hyperloglog.h"
#include "aggregator/options.h"
#include "aggregator/sketch.h"
#include "aggregator/snapshot.h"

namespace tallyd::aggregator {

// Adds `x` to `sum` unless the result would not be finite: then `sum` keeps its last finite value
// and this returns false, for the caller to count an overflow. Inputs are finite (the parser
// rejects the rest), so nothing reported ever becomes Inf or NaN (SPEC 2).
inline bool AddFinite(double& sum, double x) {
  const double s = sum + x;
  if (std::fabs(s) <= std::numeric_limits<double>::max()) [[likely]] {
    sum = s;
    return true;
  }
  return false;
}

// `x`, or the largest finite value of its sign when it is not finite (counted in *overflows), for
// results that are not running sums (a quotient, a difference).
inline double ClampFinite(double x, uint64_t* overflows) {
  constexpr double kMax = std::numeric_limits<double>::max();
  if (std::fabs(x) <= kMax) [[likely]] {
    return x;
  }
  if (overflows != nullptr) ++*overflows;
  return std::isnan(x) ? 0 : std::copysign(kMax, x);
}

struct GaugeCell {
  double value = 0;
  // When the last absolute value of this interval was received (Shard::set_receive_time,
  // monotonic ns, > 0), or 0: none came, and `value` is a sum of Etsy deltas to apply to the
  // gauge's previous value. One sender's gauge may be set on several workers in one interval
  // (datagrams are spread over them): the flush side keeps the value received last, not the
  // last shard's it happens to merge. Same 16 bytes as the bool it replaced.
  int64_t set_ns = 0;
  bool absolute() const { return set_ns != 0; }
  void Reset() { *this = GaugeCell(); }
};

// Timers, histograms, distributions: exact samples up to a limit, a DDSketch beyond. count, sum,
// sum_squares, min and max stay exact either way (sums held finite, see AddFinite).
struct SampleCell {
  double weighted_count = 0;  // sum of 1/sample_rate
  uint64_t n = 0;             // unweighted samples
  double sum = 0;
  double sum_squares = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  bool sketched = false;
  uint32_t overflows = 0;       // additions AddFinite held back, here and in the cells merged in
  std::vector<double> samples;  // while !sketched
  std::unique_ptr<DDSketch> sketch;  // when sketched (kept allocated once created)

  void Add(double value, double weight, size_t exact_limit, double accuracy);
  void MergeFrom(const SampleCell& other, size_t exact_limit, double accuracy);
  void Reset();

 private:
  void SwitchToSketch(double accuracy);
};

// The distinct value hashes of one set cell: open addressing with linear probing over the hashes
// themselves (already well mixed), at most half full. Unlike absl::flat_hash_set, whose clear()
// in Debian's Abseil (20220623) frees a table above 127 slots and whose erase leaves tombstones,
// clear() here keeps the slots, so a busy set allocates its table once, not every interval.
class ValueHashSet {
 public:
  bool insert(uint64_t hash);  // true when the hash was not there yet
  void clear();                // forgets the hashes, keeps the capacity
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return slots_.size(); }
  // Calls fn(uint64_t) for every hash, in no particular order.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    if (has_zero_) fn(uint64_t{0});
    for (uint64_t slot : slots_) {
      if (slot != 0) fn(slot);
    }
  }

 private:
  void Grow();

  std::vector<uint64_t> slots_;  // power of two; 0 marks an empty slot
  size_t size_ = 0;              // hashes held, the 0 hash included
  bool has_zero_ = false;        // the 0 hash, which has no slot
};

// Sets: 64-bit hashes of the distinct values up to a limit, HyperLogLog beyond. Reset() and the
// switch to HyperLogLog keep the exact table's capacity (see ValueHashSet).
struct SetCell {
  ValueHashSet exact;
  std::unique_ptr<HyperLogLog> hll;
  bool sketched = false;

  void Add(uint64_t hash, size_t exact_limit);
  void MergeFrom(const SetCell& other, size_t exact_limit);
  double Count() const;
  void Reset();

 private:
  void SwitchToHll();
};

// Etsy statsd 0.9.0's timer stats (lib/process_metrics.js) for one interval. Sorts the cell's
// samples in place and copies them (or the sketch) into the summary. Every reported figure is
// finite: sums that would overflow are held (AddFinite), and the holds, the cell's own included,
// are added to *overflows when it is given.
SampleSummary SummarizeSamples(SampleCell& cell, const std::vector<PercentileSpec>& percentiles,
                               absl::Duration interval, bool keep_sketch, double accuracy,
                               uint64_t* overflows = nullptr);

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_CELLS_H_
