// aggregator/interval.h: one shard's data for one flush interval, the unit handed from a worker to
// the flush side by pointer swap (internal to aggregator/).
//
// Ownership: the worker writes its active Interval without locks; at rotation it is published to
// the flush side, which drains it (reading and resetting every touched cell) and returns it as the
// shard's spare. Cell vectors are indexed by the series' per-type slot and keep their size and
// capacity across intervals, so known series cost no allocation.
#ifndef TALLYD_AGGREGATOR_INTERVAL_H_
#define TALLYD_AGGREGATOR_INTERVAL_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "aggregator/cells.h"
#include "aggregator/huge_pages.h"
#include "aggregator/snapshot.h"
#include "protocol/parser.h"

namespace tallyd::aggregator {

// Grows `v` to at least `n` elements (new ones `fill...`, or value-initialized), doubling its
// capacity but never past `limit` (max_series: no pool holds more slots than live series) unless
// `n` needs it, so that at max_series the arrays are exact, not a power of two (at 1M series, 2^20:
// 5 % more).
template <typename Vector, typename... Fill>
void GrowTo(Vector& v, size_t n, size_t limit, const Fill&... fill) {
  if (v.size() >= n) return;
  if (const size_t c = v.capacity(); n > c) {
    // Past the limit (a raised max_series) doubling again, so growth stays amortized.
    v.reserve(std::max(n, c >= limit ? 2 * c : std::min(2 * c, limit)));
  }
  v.resize(n, fill...);
}

struct CounterCell {
  double sum = 0;
  void Reset() { sum = 0; }
};

// Cells of one kind, indexed by the series' slot in its pool (process-wide: SeriesRegistry), and
// which of them were touched this interval (a bitmap). Draining scans the bitmap (a word per 64
// slots: 16k words at a million series, cheap once per flush) rather than keeping a list of
// touches: that list cost 8 bytes per series in each of the two intervals, and a push on the hot
// path. The slot is the series (with the pool): no slot -> series map is needed.
template <typename Cell>
struct CellPool {
  // Indexed by slot in random order at line rate: huge pages spare the TLB misses.
  std::vector<Cell, HugePageAllocator<Cell>> cells;
  std::vector<uint64_t, HugePageAllocator<uint64_t>> touched_bits;

  // `limit`: see GrowTo.
  void EnsureSize(size_t n, size_t limit) {
    if (cells.size() < n) {
      GrowTo(cells, n, limit);
      GrowTo(touched_bits, (n + 63) / 64, (limit + 63) / 64, uint64_t{0});
    }
  }
  Cell& Touch(uint32_t slot) {
    touched_bits[slot >> 6] |= uint64_t{1} << (slot & 63);
    return cells[slot];
  }
  // fn(uint32_t slot) for every touched cell, in slot order.
  template <typename Fn>
  void ForEachTouched(Fn&& fn) const {
    for (size_t w = 0; w < touched_bits.size(); ++w) {
      for (uint64_t bits = touched_bits[w]; bits != 0; bits &= bits - 1) {
        fn(static_cast<uint32_t>(w * 64 + __builtin_ctzll(bits)));
      }
    }
  }
  // fn(uint32_t slot, Cell&) for every touched cell, in slot order, then resets them.
  template <typename Fn>
  void Drain(Fn&& fn) {
    for (size_t w = 0; w < touched_bits.size(); ++w) {
      for (uint64_t bits = touched_bits[w]; bits != 0; bits &= bits - 1) {
        const auto slot = static_cast<uint32_t>(w * 64 + __builtin_ctzll(bits));
        fn(slot, cells[slot]);
        cells[slot].Reset();
      }
      touched_bits[w] = 0;
    }
  }
};

// A series this shard began to refer to during the interval (SeriesRegistry::Acquire): the flush
// side learns its key from here. Several shards may announce one series.
struct NewSeries {
  SeriesKeyRef key;  // canonical; the same block the shards' tables hold (key->series())
};

struct ShardTimedPoint {
  uint32_t series;  // SeriesOf(pool, slot)
  double value;
  int64_t timestamp;
};

struct Interval {
  CellPool<CounterCell> counters;
  CellPool<GaugeCell> gauges;
  CellPool<SampleCell> samples;  // timers, histograms, distributions
  CellPool<SetCell> sets;
  // Applied by the flush side in this order: new_series, cells and points, then evicted (series
  // the shard forgot at the end of this interval: the flush side then releases its reference).
  std::vector<NewSeries> new_series;
  std::vector<ShardTimedPoint> points;
  std::vector<EventRecord> events;
  std::vector<ServiceCheckRecord> service_checks;
  std::vector<uint32_t> evicted;
  uint64_t series_dropped = 0;
  uint64_t points_dropped = 0;
  uint64_t events_dropped = 0;
  uint64_t service_checks_dropped = 0;
  // Lines refused by max_series_per_metric, in all and by metric name. A name is here only when
  // the shard holds max_series_per_metric series of it, so the map stays small.
  uint64_t series_dropped_per_metric = 0;
  NameMap<uint64_t> dropped_by_name;
  uint64_t overflows = 0;  // counter and gauge-delta sums held finite (AddFinite)
  // Lines a mapping rule dropped (action: drop, or a name that expanded to "").
  uint64_t mapping_dropped = 0;

  // Everything but the cells (which Drain resets), keeping capacity.
  void ResetLists() {
    // A burst of new series must not pin its capacity in every recycled interval.
    if (new_series.capacity() > 1024) {
      std::vector<NewSeries>().swap(new_series);
    } else {
      new_series.clear();
    }
    points.clear();
    events.clear();
    service_checks.clear();
    evicted.clear();
    dropped_by_name.clear();
    series_dropped = points_dropped = events_dropped = service_checks_dropped = 0;
    series_dropped_per_metric = overflows = mapping_dropped = 0;
  }
};

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_INTERVAL_H_
