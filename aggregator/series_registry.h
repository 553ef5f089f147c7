// aggregator/series_registry.h: the process-wide table of series identities, shared by every
// shard and the flush side. A shard asks it only on its slow path (a series its own table does
// not know yet); lines of known series never reach it.
//
// It owns what makes max_series exact whatever the number of workers: one key block per series
// (the shards' tables and the flush side share it by reference count), one live count, and each
// series' process-wide id, its cell pool and slot (series_key.h), which every shard's cells, the
// flush side's records and the intervals between them are indexed by.
//
// A series lives from the first Acquire until the flush side forgets it, which TryForget allows
// only while no shard refers to it: a shard holds one reference from its Acquire until the flush
// side has merged the interval in which the shard evicted the series (Release). The key block
// itself lives as long as anyone (a shard's table, a snapshot, a backend) holds a SeriesKeyRef.
//
// Locking: 32 stripes by hash, each a mutex and an open-addressing table of keys, plus one small
// mutex for the counts and slot free lists (taken after a stripe's, on creation and forgetting).
// The tables are up to 3/4 full and grow by half (any size: the home slot is a multiply-shift
// of the hash, not a mask), so they hold 8 / (1/2..3/4) bytes a series, where a power of two at
// <= 1/2 held 16.8 at 1M series: they are read only on a shard's slow path.
#ifndef TALLYD_AGGREGATOR_SERIES_REGISTRY_H_
#define TALLYD_AGGREGATOR_SERIES_REGISTRY_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "aggregator/series_key.h"
#include "mapping/mapping.h"

namespace tallyd::aggregator {

class SeriesRegistry {
 public:
  enum class Refusal : uint8_t { kNone, kMaxSeries, kPerMetric };

  SeriesRegistry() = default;
  ~SeriesRegistry();
  SeriesRegistry(const SeriesRegistry&) = delete;
  SeriesRegistry& operator=(const SeriesRegistry&) = delete;

  // Any thread. A change of max_series_per_metric from 0 to not 0 counts the live series by name.
  void SetLimits(size_t max_series, size_t max_series_per_metric);

  // A shard's slow path: the series (type, name, canonical tags), `hash` = HashSeries of them,
  // with one more shard reference; created (holding `options`) when new. Null, with *why, when
  // creating it would pass max_series or max_series_per_metric.
  SeriesKeyRef Acquire(MetricType type, std::string_view name, std::string_view tags, uint64_t hash,
                       std::shared_ptr<const mapping::SeriesOptions> options, Refusal* why);
  // Flush side: a shard's reference ends (the flush side merged the interval that evicted it).
  void Release(const SeriesKey& key);
  // Flush side: forgets `key`'s series (its slot may be reused from now on) unless a shard still
  // refers to it; true when forgotten.
  bool TryForget(const SeriesKey& key);

  size_t size() const;  // live series

 private:
  // SetLimits holds every stripe at once: ThreadSanitizer follows at most 64 locks per thread.
  static constexpr size_t kStripes = 32;
  struct Stripe {
    std::mutex mu;
    std::vector<const SeriesKey*> slots;  // <= 3/4 full; the table's references
    size_t size = 0;
  };
  static size_t Mix(uint32_t hash32) {
    const uint64_t x = (uint64_t{hash32} << 32 | hash32) * 0x9e3779b97f4a7c15ULL;
    return static_cast<size_t>(x ^ (x >> 29));
  }
  Stripe& StripeOf(uint32_t hash32) { return stripes_[Mix(hash32) >> 59]; }
  // The home slot among `slots` (any count): the mix's low 32 bits scaled, as the stripe came
  // from its top 5.
  static size_t HomeOf(uint32_t hash32, size_t slots) {
    return static_cast<size_t>((Mix(hash32) & 0xffffffffu) * slots >> 32);
  }
  static void Place(Stripe& stripe, const SeriesKey* key);
  // Grows the stripe's table when one more key would pass 3/4.
  static void Reserve(Stripe& stripe);
  static void Erase(Stripe& stripe, const SeriesKey* key);
  // A new slot in `pool` under the limits, or false (and why). Under alloc_mu_.
  bool Admit(int pool, std::string_view name, uint32_t* slot, Refusal* why);

  std::array<Stripe, kStripes> stripes_;
  std::atomic<uint64_t> next_id_{1};

  mutable std::mutex alloc_mu_;  // after a stripe's mutex, never before
  size_t live_ = 0;
  size_t max_series_ = 0;
  size_t max_series_per_metric_ = 0;
  NameMap<uint32_t> live_per_name_;  // while max_series_per_metric_ != 0
  uint32_t next_slot_[kCellPools] = {};
  std::vector<uint32_t> free_slots_[kCellPools];
};

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_SERIES_REGISTRY_H_
