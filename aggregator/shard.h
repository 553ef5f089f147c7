// aggregator/shard.h: the worker side. Each receive worker owns one Shard and feeds it parsed
// lines without locks; the flush side collects the shard's interval by pointer swap.
//
// Worker loop, in short:
//   Shard* shard = aggregator.AddShard();          // before the worker starts
//   for each batch of lines: shard->AddBatch(lines, n, on_invalid_utf8) / AddEvent / ...
//   after each batch, and when idle (a receive timeout): shard->RotateIfRequested();
//   at shutdown, once the worker stopped: shard->Rotate(MonotonicNow()) from any one thread.
// A steady stream of known series allocates nothing: the series table interns names and tag sets
// once, and intervals are recycled between the worker and the flush side. What a series must be
// (valid UTF-8, within max_series and max_series_per_metric) is checked once, when a line would
// create it. The shard's table is a cache in front of the process-wide SeriesRegistry: a series
// the shard has not met yet is looked up there (one striped mutex, never per known line), so
// every shard shares one key block per series and max_series holds for the whole process.
#ifndef TALLYD_AGGREGATOR_SHARD_H_
#define TALLYD_AGGREGATOR_SHARD_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "aggregator/options.h"
#include "aggregator/series_key.h"
#include "aggregator/series_registry.h"
#include "aggregator/series_table.h"
#include "mapping/mapping.h"
#include "protocol/parser.h"

namespace tallyd::aggregator {

struct Interval;

class Shard {
 public:
  // `registry` (the aggregator's) outlives the shard.
  Shard(std::shared_ptr<const Options> options, SeriesRegistry* registry);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // ---- Owning worker thread only (or any single thread once the worker stopped). ----
  // Returns false when the line is rejected as invalid_utf8: it would create a series (or a new
  // raw spelling of one) whose name or tags are not valid UTF-8 (SPEC 2). The caller counts that
  // rejection; known series never pay for the check. Lines the series caps refuse return true and
  // are counted in the interval (FlushStats).
  bool Add(const protocol::MetricLine& line);
  // Same as Add() on lines[0], ..., lines[n - 1] in that order (same series creation order, caps,
  // timestamped points, Etsy gauge deltas), but faster for known series: the lines are looked up
  // in groups, hashing all of them and prefetching their table slots, then their key records,
  // then their cells, so the cache misses of a group overlap instead of being paid one line after
  // the other. Lines not found (new series, new raw spellings) take Add()'s path. Allocates
  // nothing for known series. The lines' views must stay valid for the call only. With a small
  // table (below kBatchMinKeys keys) it is plain Add() per line. Calls on_invalid_utf8(line) for
  // each line Add() would return false for, and returns how many there were.
  size_t AddBatch(
      const protocol::MetricLine* lines, size_t n,
      absl::FunctionRef<void(const protocol::MetricLine&)> on_invalid_utf8 =
          [](const protocol::MetricLine&) {});
  // When the lines about to be added were received, on MonotonicNow()'s clock in nanoseconds
  // (> 0): a gauge's cell records it with each absolute value, so that the flush side keeps the
  // value received last among the shards that set the gauge in one interval. Called once per
  // receive batch (not per line); the receive order within one shard needs no stamp.
  void set_receive_time(int64_t mono_ns) { receive_ns_ = mono_ns; }
  // Events and service checks are copied, "\\n" escapes in their text turned into newlines as the
  // Datadog Agent does (SPEC 4.3).
  void AddEvent(const protocol::Event& event);
  void AddServiceCheck(const protocol::ServiceCheck& check);
  // Rotates when the flush side asked (Aggregator::RequestRotation). One atomic load when it did
  // not: call it after every batch and whenever the worker wakes up idle.
  bool RotateIfRequested();
  // Publishes the active interval to the flush side and starts a new one. `mono_now`, a reading
  // of a monotonic clock (only differences matter, see MonotonicNow), drives the shard's own
  // forgetting of series idle for series_ttl, so a wall-clock step cannot expire series early or
  // keep them forever. Returns false, keeping the data in the active interval, while the
  // previously published interval has not been collected.
  bool Rotate(absl::Time mono_now);
  size_t series_count() const { return live_series_; }  // series this shard refers to
  // The key this shard's table holds for (type, name, canonical tags), or null: tests and
  // debugging (shards share one block per series).
  const SeriesKey* FindSeries(protocol::MetricType type, std::string_view name,
                              std::string_view tags) const {
    return table_.Find(HashSeries(type, name, tags), type, name, tags);
  }

  // ---- Any thread. ----
  // `mono_now` is the clock Rotate gets.
  void RequestRotation(absl::Time mono_now);
  bool rotation_requested() const { return rotate_requested_.load(std::memory_order_acquire); }

 private:
  friend class Aggregator;
  // Below this many table keys (~1 MiB of table, records and cells, about this machine's L2)
  // AddBatch() just calls Add() per line: lookups hit the caches and group prefetching is
  // overhead (~10 % at 1k series).
  static constexpr size_t kBatchMinKeys = 8192;

  // series_gen_[pool][slot]: the interval generation of the series' last sample as of the last
  // rotation, or kFree for a series this shard does not refer to. Everything else about a series
  // is in its SeriesKey.
  static constexpr uint32_t kFree = 0;  // generations start at 1

  // Why a line found no series.
  enum class Refusal : uint8_t { kInvalidUtf8, kMaxSeries, kPerMetric, kMappingDrop };

  // Add() with the line's raw-key hash already computed.
  bool AddHashed(const protocol::MetricLine& line, uint64_t hash);
  // Counts a line no series took; false for invalid_utf8 (the caller's to count).
  bool Refuse(const protocol::MetricLine& line, Refusal why);
  // Applies a line to the active interval once its series (pool and slot) is known.
  void Apply(uint32_t series, const protocol::MetricLine& line);
  uint32_t& GenOf(uint32_t series) {
    return series_gen_[PoolOfSeries(series)][SlotOfSeries(series)];
  }
  void PrefetchCell(protocol::MetricType type, uint32_t slot) const;
  // The canonical key of the line's series, created if new; nullptr (and why) when refused.
  const SeriesKey* Resolve(const protocol::MetricLine& line, uint64_t raw_hash, Refusal* why);
  const SeriesKey* Create(protocol::MetricType type, std::string_view name, std::string_view tags,
                          uint64_t hash, Refusal* why,
                          std::shared_ptr<const mapping::SeriesOptions> series_options);
  // The mapping file's say on a line about to create a series: false (why = kMappingDrop) when a
  // rule drops it, else the series' name and raw tags (the line's own with the mapped labels;
  // views into match_ and mapped_tags_) and the rule's options.
  bool MapLine(const mapping::Mapping& mapping, const protocol::MetricLine& line, Refusal* why,
               std::string_view* name, std::string_view* tags,
               std::shared_ptr<const mapping::SeriesOptions>* series_options);
  void AddTimed(uint32_t series, const protocol::MetricLine& line);
  void MarkActive(const Interval& closed);
  void EvictIdle(absl::Time mono_now, Interval& closed);
  void Evict(uint32_t series, Interval& closed);
  // Drops the table's keys of evicted series (their registry references go when the flush side
  // merges the interval that lists them).
  void EraseEvicted();
  void ApplyOptions(std::shared_ptr<const Options> options, Interval& closed);
  void SizePools(Interval& interval) const;

  // Flush side (Aggregator), under mu_.
  std::unique_ptr<Interval> TakeInterval();
  void ReturnInterval(std::unique_ptr<Interval> interval);
  bool AwaitInterval(absl::Time deadline);
  void SetOptions(std::shared_ptr<const Options> options);

  // Worker-owned state.
  std::shared_ptr<const Options> options_;
  int64_t receive_ns_ = 1;  // set_receive_time; 1 (the oldest) until the first call
  TagCanonicalizer canonicalizer_;
  SeriesRegistry* registry_;
  SeriesTable table_;
  // Per pool, by slot; as long as the highest slot this shard met (its cells are sized alike).
  std::vector<uint32_t> series_gen_[kCellPools];
  size_t live_series_ = 0;
  std::unique_ptr<Interval> active_;
  uint32_t gen_ = 1;
  std::deque<std::pair<uint32_t, absl::Time>> gen_closed_at_;  // monotonic, for idle eviction
  uint32_t evicted_up_to_ = 0;
  uint32_t floor_gen_ = 0;  // the newest generation dropped from gen_closed_at_
  // Series (SeriesOf) whose mapping rule set a ttl of its own, and the longest such ttl seen (how
  // long gen_closed_at_ must reach back).
  absl::flat_hash_map<uint32_t, absl::Duration> series_ttl_;
  absl::Duration longest_ttl_;
  // Mapping scratch (reused, so series creation allocates only what the key needs), and the raw
  // names a rule dropped, with a bit per MetricType, so that a dropped name is not matched again
  // (bounded by max_series; cleared when the mapping changes).
  mapping::MatchResult match_;
  std::string mapped_tags_;
  std::vector<bool> label_taken_;
  NameMap<uint8_t> dropped_names_;

  // Hand-over between the worker and the flush side. The mutex is taken once per rotation, never
  // per line. (std::mutex rather than absl::Mutex: the system Abseil is not built for
  // ThreadSanitizer, which then cannot see absl::Mutex's ordering.)
  std::atomic<bool> rotate_requested_{false};
  std::atomic<int64_t> requested_at_ns_{0};  // mono_now of RequestRotation
  std::mutex mu_;
  std::condition_variable published_;
  std::unique_ptr<Interval> ready_;                 // under mu_: published, not yet collected
  std::unique_ptr<Interval> spare_;                 // under mu_: drained, back for reuse
  std::shared_ptr<const Options> pending_options_;  // under mu_
};

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_SHARD_H_
