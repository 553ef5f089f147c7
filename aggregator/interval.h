// aggregator/interval.h: one shard's data for one flush interval, the unit handed from a worker to
// the flush side by pointer swap (internal to aggregator/).
//
// Ownership: the worker writes its active Interval without locks; at rotation it is published to
// the flush side, which drains it (reading and resetting every touched cell) and returns it as the
// shard's spare. Cell vectors are indexed by the series' per-type slot and keep their size and
// capacity across intervals, so known series cost no allocation.
#ifndef TALLYD_AGGREGATOR_INTERVAL_H_
#define TALLYD_AGGREGATOR_INTERVAL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "aggregator/cells.h"
#include "aggregator/huge_pages.h"
#include "aggregator/snapshot.h"
#include "protocol/parser.h"

namespace tallyd::aggregator {

struct CounterCell {
  double sum = 0;
  void Reset() { sum = 0; }
};

struct CellTouch {
  uint32_t series;  // shard-local series id
  uint32_t slot;    // index into the pool's cells
};

// Cells of one kind plus which of them were touched this interval (a bitmap for "first touch?"
// and a list so draining visits only those).
template <typename Cell>
struct CellPool {
  // Indexed by slot in random order at line rate: huge pages spare the TLB misses.
  std::vector<Cell, HugePageAllocator<Cell>> cells;
  std::vector<uint64_t, HugePageAllocator<uint64_t>> touched_bits;
  std::vector<CellTouch> touches;

  void EnsureSize(size_t n) {
    if (cells.size() < n) {
      cells.resize(n);
      touched_bits.resize((n + 63) / 64, 0);
    }
  }
  Cell& Touch(uint32_t series, uint32_t slot) {
    uint64_t& word = touched_bits[slot >> 6];
    const uint64_t bit = uint64_t{1} << (slot & 63);
    if (!(word & bit)) {
      word |= bit;
      touches.push_back({series, slot});
    }
    return cells[slot];
  }
  // fn(const CellTouch&, Cell&) for every touched cell, then resets them.
  template <typename Fn>
  void Drain(Fn&& fn) {
    for (const CellTouch& t : touches) {
      fn(t, cells[t.slot]);
      cells[t.slot].Reset();
      touched_bits[t.slot >> 6] = 0;
    }
    touches.clear();
  }
};

// A series this shard created during the interval: the flush side learns its key from here.
struct NewSeries {
  uint32_t series;
  SeriesKeyRef key;  // canonical; the same block the shard's table holds
};

struct ShardTimedPoint {
  uint32_t series;
  double value;
  int64_t timestamp;
};

struct Interval {
  CellPool<CounterCell> counters;
  CellPool<GaugeCell> gauges;
  CellPool<SampleCell> samples;  // timers, histograms, distributions
  CellPool<SetCell> sets;
  // Applied by the flush side in this order: new_series, cells and points, then evicted (ids the
  // shard forgot at the end of this interval; it may reuse them from the next interval on).
  std::vector<NewSeries> new_series;
  std::vector<ShardTimedPoint> points;
  std::vector<EventRecord> events;
  std::vector<ServiceCheckRecord> service_checks;
  std::vector<uint32_t> evicted;
  uint64_t series_dropped = 0;
  uint64_t points_dropped = 0;
  uint64_t events_dropped = 0;
  uint64_t service_checks_dropped = 0;

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
    series_dropped = points_dropped = events_dropped = service_checks_dropped = 0;
  }
};

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_INTERVAL_H_
