// aggregator/cells.h: per-series interval state, as a shard accumulates it and the flush side
// merges it. Each type has its own compact cell so a counter carries 8 bytes, not a timer's
// vectors.
//
// Cells are recycled: Reset() forgets values but keeps vectors, sketches and hash sets allocated,
// so a steady stream of known series allocates nothing interval after interval.
#ifndef TALLYD_AGGREGATOR_CELLS_H_
#define TALLYD_AGGREGATOR_CELLS_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "aggregator/hyperloglog.h"
#include "aggregator/options.h"
#include "aggregator/sketch.h"
#include "aggregator/snapshot.h"

namespace tallyd::aggregator {

struct GaugeCell {
  double value = 0;
  // An absolute value arrived this interval; otherwise `value` is a sum of Etsy deltas to apply
  // to the gauge's previous value.
  bool absolute = false;
  void Reset() { *this = GaugeCell(); }
};

// Timers, histograms, distributions: exact samples up to a limit, a DDSketch beyond. count, sum,
// sum_squares, min and max stay exact either way.
struct SampleCell {
  double weighted_count = 0;  // sum of 1/sample_rate
  uint64_t n = 0;             // unweighted samples
  double sum = 0;
  double sum_squares = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  bool sketched = false;
  std::vector<double> samples;       // while !sketched
  std::unique_ptr<DDSketch> sketch;  // when sketched (kept allocated once created)

  void Add(double value, double weight, size_t exact_limit, double accuracy);
  void MergeFrom(const SampleCell& other, size_t exact_limit, double accuracy);
  void Reset();

 private:
  void SwitchToSketch(double accuracy);
};

// Sets: 64-bit hashes of the distinct values up to a limit, HyperLogLog beyond.
struct SetCell {
  absl::flat_hash_set<uint64_t> exact;
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
// samples in place and copies them (or the sketch) into the summary.
SampleSummary SummarizeSamples(SampleCell& cell, const std::vector<PercentileSpec>& percentiles,
                               absl::Duration interval, bool keep_sketch, double accuracy);

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_CELLS_H_
