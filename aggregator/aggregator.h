// aggregator/aggregator.h: the flush side. Owns the shards, merges their intervals into the
// persistent series store (gauge values, idle TTL, the max_series cap) and builds one immutable
// Snapshot per flush for the backends.
//
// Flush clock, in short (one thread; Flush is not reentrant):
//   const absl::Time mono = MonotonicNow();
//   aggregator.RequestRotation(mono);                       // workers rotate at their next check
//   aggregator.AwaitRotation(absl::Now() + absl::Seconds(1));  // optional: wait for the workers
//   std::shared_ptr<const Snapshot> s = aggregator.Flush(wall_flush_time, mono);
// A shard that has not rotated in time is counted (shards_late) and merged at the next flush; no
// sample is lost.
//
// Two clocks: snapshots carry wall-clock time (what backends stamp points with); series_ttl is
// measured on a monotonic clock, so a wall-clock step neither expires series early nor keeps them
// forever.
//
// Series life: a series is created in the process-wide SeriesRegistry when a shard first meets it
// (refused there, and the line counted, past max_series or max_series_per_metric, so both hold
// for the whole process whatever the number of workers), reported while it has samples, reported
// idle (snapshot.h) until series_ttl passes without samples, then forgotten once no shard refers
// to it any more (each shard evicts it after its own series_ttl without samples).
#ifndef TALLYD_AGGREGATOR_AGGREGATOR_H_
#define TALLYD_AGGREGATOR_AGGREGATOR_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "aggregator/cells.h"
#include "aggregator/interval.h"
#include "aggregator/options.h"
#include "aggregator/series_registry.h"
#include "aggregator/shard.h"
#include "aggregator/snapshot.h"

namespace tallyd::aggregator {

// A monotonic clock reading (std::chrono::steady_clock) as an absl::Time: absl::UnixEpoch() plus
// the time since the clock's own epoch (boot, on Linux). Only differences mean anything.
absl::Time MonotonicNow();

class Aggregator {
 public:
  Aggregator(Options options, absl::Duration flush_interval);
  ~Aggregator();
  Aggregator(const Aggregator&) = delete;
  Aggregator& operator=(const Aggregator&) = delete;

  // A new shard for one worker; owned by the aggregator, valid for its lifetime.
  Shard* AddShard();

  // Asks every shard to rotate at its next RotateIfRequested(); `mono_now` (MonotonicNow()) is
  // their eviction clock.
  void RequestRotation(absl::Time mono_now);
  // Waits until every shard has published an interval, or `deadline` (wall clock). True when all
  // did.
  bool AwaitRotation(absl::Time deadline);
  // Merges every published interval and builds the snapshot for the flush at `wall_now` (the
  // snapshot's time); `mono_now` (MonotonicNow(), or any monotonic reading: tests inject both)
  // is the clock for idle TTL.
  std::shared_ptr<const Snapshot> Flush(absl::Time wall_now, absl::Time mono_now);

  // Live reload (SIGHUP): flush-side options apply at the next flush, shards pick theirs up at
  // their next rotation. Changed global_tags re-key every series (old keys expire by TTL).
  void UpdateOptions(Options options);
  const Options& options() const { return *options_; }
  size_t series_count() const { return live_series_; }  // flush thread only

 private:
  // 24 bytes per live series, indexed like the cells by the series' pool and slot; the key's
  // bytes are held once, by the SeriesKey (whose type the flush reads: it touches the block for
  // the snapshot's reference anyway).
  struct GlobalSeries {
    SeriesKeyRef key;  // null: no series at this slot
    double value = 0;  // counter: this flush's count; gauge: current value
    // The last flush with samples (its number, FlushNumber()), or kNever; its monotonic time is
    // in flush_mono_ns_ while any ttl may still need it.
    uint32_t last_flush = kNever;
    int32_t acc : 30 = -1;  // this flush's sample or set accumulator, or gauge merge
    uint32_t touched : 1 = 0;
    uint32_t has_value : 1 = 0;  // gauges: a value exists (Etsy deltas apply to it)
  };
  static_assert(sizeof(GlobalSeries) == 24);
  static constexpr uint32_t kNever = 0;  // flush numbers start at 1
  uint32_t FlushNumber() const { return static_cast<uint32_t>(sequence_); }

  GlobalSeries& Record(uint32_t series) {
    return series_[PoolOfSeries(series)][SlotOfSeries(series)];
  }
  GlobalSeries& Touch(GlobalSeries& gs, absl::Time mono_now);
  void MergeInterval(Interval& interval, absl::Time mono_now, Snapshot& snapshot);
  // Forgets the record unless a shard still refers to its series; true when forgotten.
  bool TryForget(GlobalSeries& gs);
  // series_ttl, or the ttl of the mapping rule that named the series.
  bool Expired(const GlobalSeries& gs, absl::Time mono_now) const {
    absl::Duration ttl = options_->series_ttl;
    if (const mapping::SeriesOptions* o = gs.key->mapping_options();
        o != nullptr && o->ttl > absl::ZeroDuration()) {
      ttl = o->ttl;
    }
    const uint32_t age = FlushNumber() - gs.last_flush;  // flushes ago (wraps after 2^32)
    // Flushes older than every ttl are no longer listed: a series last seen then has expired.
    if (age >= flush_mono_ns_.size()) return true;
    const int64_t at = flush_mono_ns_[flush_mono_ns_.size() - 1 - age];
    return mono_now - absl::FromUnixNanos(at) >= ttl;
  }
  // Records this flush's monotonic time and drops the times no ttl can need any more.
  void RecordFlushTime(absl::Time mono_now);
  void BuildSeries(absl::Time mono_now, Snapshot& snapshot);
  void BuildOne(GlobalSeries& gs, absl::Time mono_now, double seconds, Snapshot& snapshot);
  // This flush's dropped_by_name_ into the snapshot's top names; clears it.
  void ReportTopDroppedNames(FlushStats& stats);

  absl::Duration flush_interval_;
  std::shared_ptr<const Options> options_;
  std::vector<PercentileSpec> percentiles_;
  uint64_t sequence_ = 0;
  // The monotonic time of each recent flush, the current one last, back to the first that is
  // not yet older than longest_ttl_ (series_ttl, or a longer mapping ttl seen).
  std::deque<int64_t> flush_mono_ns_;
  absl::Duration longest_ttl_;

  // Declared before the shards, which hold a pointer to it and references to its keys.
  SeriesRegistry registry_;
  mutable std::mutex shards_mu_;                // AddShard may race with the flush thread
  std::vector<std::unique_ptr<Shard>> shards_;  // under shards_mu_

  // Flush thread only.
  std::vector<GlobalSeries> series_[kCellPools];  // by pool, then slot
  size_t live_series_ = 0;
  // This flush's max_series_per_metric drops by name (the shards' counts).
  NameMap<uint64_t> dropped_by_name_;
  uint64_t series_created_ = 0;          // ever
  std::vector<SampleCell> sample_accs_;  // recycled across flushes
  std::vector<SetCell> set_accs_;
  size_t sample_accs_used_ = 0;
  size_t set_accs_used_ = 0;
  // A gauge's merge across shards this flush (MergeInterval), at GlobalSeries::acc.
  struct GaugeMerge {
    int64_t set_ns = 0;  // receive time of the value kept; 0: none yet
    double deltas = 0;   // Etsy deltas of the shards that set no value
  };
  std::vector<GaugeMerge> gauge_merges_;  // recycled across flushes
  size_t gauge_merges_used_ = 0;
};

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_AGGREGATOR_H_
