// aggregator/series_table.h: a shard's interning table, (type, name, tag bytes) -> the series'
// SeriesKey, which also names the series' cell pool and slot. It caches, for its one worker, the
// process-wide SeriesRegistry's keys (the same blocks), plus the shard's own raw spellings.
//
// Layout, for a lookup of a known series in about two cache misses and no allocation: open
// addressing with linear probing over 8-byte slots, at most half full. A slot packs the key's
// address (keys are 8-byte aligned and user-space addresses are below 2^48 on x86-64 and arm64
// Linux: 45 bits) and a 19-bit fingerprint, so a probe that meets another key rarely reads it.
// The home slot comes from the hash's low bits and the fingerprint from the high bits of its low
// 32 (all a key keeps), as in SwissTable: low bits would repeat the home bits and filter nothing
// among the keys that share a home.
// Find() hands the caller the candidate key before comparing its bytes, so the shard can prefetch
// the cell while the compare runs. Keys are raw tag lists as received, or canonical ones: several
// raw spellings may alias one series (same series and cell), each its own key. The table holds a
// reference to each of its keys; only the owning worker thread touches it.
#ifndef TALLYD_AGGREGATOR_SERIES_TABLE_H_
#define TALLYD_AGGREGATOR_SERIES_TABLE_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "aggregator/huge_pages.h"
#include "aggregator/series_key.h"
#include "protocol/parser.h"

namespace tallyd::aggregator {

class SeriesTable {
 public:
  SeriesTable() = default;
  ~SeriesTable();
  SeriesTable(const SeriesTable&) = delete;
  SeriesTable& operator=(const SeriesTable&) = delete;

  // The key equal to (type, name, tags), or nullptr. Calls on_candidate(const SeriesKey&) for a
  // key whose hash bits match, before its bytes are compared (a prefetch hook; usually the one
  // match).
  template <typename Fn>
  const SeriesKey* Find(uint64_t hash, MetricType type, std::string_view name,
                        std::string_view tags, Fn&& on_candidate) const {
    return Probe(hash, [&](const SeriesKey& key) {
      on_candidate(key);
      return Matches(key, type, name, tags);
    });
  }
  const SeriesKey* Find(uint64_t hash, MetricType type, std::string_view name,
                        std::string_view tags) const {
    return Find(hash, type, name, tags, [](const SeriesKey&) {});
  }

  // Group prefetching for batch lookups (Shard::AddBatch): PrefetchSlot(hash) for every key of a
  // batch, then FirstCandidate(hash) for each (its key is the usual match: prefetch it), then
  // Matches() on the candidate, falling back to Find() when it is not the key. No allocation.
  void PrefetchSlot(uint64_t hash) const {
    if (!slots_.empty())
      __builtin_prefetch(&slots_[static_cast<uint32_t>(hash) & (slots_.size() - 1)]);
  }
  // The first key on the hash's probe path whose slot has the hash's bits, or nullptr when the
  // path reaches an empty slot first (the key is absent).
  const SeriesKey* FirstCandidate(uint64_t hash) const {
    return Probe(hash, [](const SeriesKey&) { return true; });
  }
  static bool Matches(const SeriesKey& key, MetricType type, std::string_view name,
                      std::string_view tags) {
    return key.type() == type && key.name() == name && key.tags() == tags;
  }

  // Creates the key (which must not be present) naming `series` (pool and slot), and returns a
  // reference to it besides the table's own. `id` is the series id the flush side will see; 0
  // for a raw alias, which never leaves the shard.
  SeriesKeyRef Insert(uint64_t hash, uint64_t id, MetricType type, std::string_view name,
                      std::string_view tags, uint32_t series,
                      std::shared_ptr<const mapping::SeriesOptions> options = nullptr);
  // Adds an existing key (not present yet; found under its hash32()), with a reference of the
  // table's own.
  void Insert(const SeriesKeyRef& key);

  // Drops every key for which dead(const SeriesKey&) is true (called once per key) and rebuilds
  // the slots when any went. Rare: idle eviction and re-tagging.
  template <typename Pred>
  size_t EraseIf(Pred&& dead) {
    size_t erased = 0;
    for (uint64_t& slot : slots_) {
      if (slot != 0 && dead(*KeyOf(slot))) {
        SeriesKeyRef::Adopt(KeyOf(slot));  // drops the table's reference
        slot = 0;
        ++erased;
      }
    }
    if (erased == 0) return 0;
    size_ -= erased;
    Rebuild(SlotsFor(size_));
    return erased;
  }

  // Calls fn(const SeriesKey&) for every key, in no particular order.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (uint64_t slot : slots_) {
      if (slot != 0) fn(*KeyOf(slot));
    }
  }

  size_t size() const { return size_; }

 private:
  static constexpr int kHashBits = 19;
  static constexpr uint64_t kHashMask = (uint64_t{1} << kHashBits) - 1;

  // Walks the hash's probe path: the first key whose slot has the hash's bits and that
  // accept(const SeriesKey&) takes, or nullptr once the path reaches an empty slot.
  template <typename Accept>
  const SeriesKey* Probe(uint64_t hash, Accept&& accept) const {
    if (slots_.empty()) return nullptr;
    const size_t mask = slots_.size() - 1;
    const uint64_t bits = Fingerprint(static_cast<uint32_t>(hash));
    for (size_t i = static_cast<uint32_t>(hash) & mask;; i = (i + 1) & mask) {
      const uint64_t slot = slots_[i];
      if (slot == 0) return nullptr;
      if ((slot & kHashMask) == bits && accept(*KeyOf(slot))) return KeyOf(slot);
    }
  }
  static uint64_t Fingerprint(uint32_t hash32) { return hash32 >> (32 - kHashBits); }
  static const SeriesKey* KeyOf(uint64_t slot) {
    return reinterpret_cast<const SeriesKey*>((slot >> kHashBits) << 3);
  }
  // Puts a key the table owns a reference to into the first free slot of its probe path.
  void Place(const SeriesKey* key);
  static size_t SlotsFor(size_t keys);  // at most half full
  // Re-places every key into `slot_count` slots (growing, or closing the gaps erasure left).
  void Rebuild(size_t slot_count);

  std::vector<uint64_t, HugePageAllocator<uint64_t>> slots_;  // power of two, <= half full
  size_t size_ = 0;
};

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_SERIES_TABLE_H_
