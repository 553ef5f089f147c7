// aggregator/series_table.h: a shard's interning table, (type, name, tag bytes) -> local series
// and the series' cell slot.
//
// Layout, for a lookup of a known series in about two cache misses and no allocation:
// - slots_: open addressing with linear probing over 8-byte slots (record address + the low 32
//   hash bits, which also give the home position, so growing needs no rehash), at most half full.
// - an arena of records: a 16-byte header (series, cell slot, type, lengths) followed directly by
//   the name and tag bytes, in chunks that never move; no std::string per key.
// Find() hands the caller the candidate record before comparing its bytes, so the shard can
// prefetch the cell while the key compare runs. Keys are raw tag lists as received, or canonical
// ones: several raw spellings may alias one series (same series and cell). Only the owning worker
// thread touches it.
#ifndef TALLYD_AGGREGATOR_SERIES_TABLE_H_
#define TALLYD_AGGREGATOR_SERIES_TABLE_H_

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "aggregator/huge_pages.h"
#include "protocol/parser.h"

namespace tallyd::aggregator {

class SeriesTable {
 public:
  // One key, followed in memory by its name and tag bytes. 8-byte aligned.
  struct Record {
    uint32_t series;
    uint32_t cell;              // the series' slot in its type's cell pool
    uint32_t name_length_type;  // name length << 3 | MetricType
    uint32_t tags_length;

    protocol::MetricType type() const {
      return static_cast<protocol::MetricType>(name_length_type & 7);
    }
    uint32_t name_length() const { return name_length_type >> 3; }
    const char* bytes() const { return reinterpret_cast<const char*>(this + 1); }
    std::string_view name() const { return {bytes(), name_length()}; }
    std::string_view tags() const { return {bytes() + name_length(), tags_length}; }
  };

  SeriesTable() = default;
  ~SeriesTable();
  SeriesTable(const SeriesTable&) = delete;
  SeriesTable& operator=(const SeriesTable&) = delete;

  // The record of the key, or nullptr. Calls on_candidate(const Record&) for a record whose hash
  // bits match, before its bytes are compared (a prefetch hook; usually the one match).
  template <typename Fn>
  const Record* Find(uint64_t hash, protocol::MetricType type, std::string_view name,
                     std::string_view tags, Fn&& on_candidate) const {
    if (slots_.empty()) return nullptr;
    const size_t mask = slots_.size() - 1;
    const uint32_t low = static_cast<uint32_t>(hash);
    const uint32_t name_length_type =
        static_cast<uint32_t>(name.size() << 3) | static_cast<uint32_t>(type);
    for (size_t i = low & mask;; i = (i + 1) & mask) {
      const uint64_t slot = slots_[i];
      if (slot == 0) return nullptr;
      if (static_cast<uint32_t>(slot) != low) continue;
      const Record* r = RecordAt(static_cast<uint32_t>(slot >> 32) - 1);
      on_candidate(*r);
      if (r->name_length_type == name_length_type && r->tags_length == tags.size() &&
          // string_view compares, unlike memcmp, accept the null data() of an empty view.
          std::string_view(r->bytes(), name.size()) == name &&
          std::string_view(r->bytes() + name.size(), tags.size()) == tags) {
        return r;
      }
    }
  }
  const Record* Find(uint64_t hash, protocol::MetricType type, std::string_view name,
                     std::string_view tags) const {
    return Find(hash, type, name, tags, [](const Record&) {});
  }

  // Group prefetching for batch lookups (Shard::AddBatch): PrefetchSlot(hash) for every key of a
  // batch, then FirstCandidate(hash) for each (its record is the usual match: prefetch it), then
  // Matches() on the candidate, falling back to Find() when it is not the key. No allocation.
  void PrefetchSlot(uint64_t hash) const {
    if (!slots_.empty())
      __builtin_prefetch(&slots_[static_cast<uint32_t>(hash) & (slots_.size() - 1)]);
  }
  // The first record on the key's probe path whose slot has the key's hash bits, or nullptr when
  // the path reaches an empty slot first (the key is absent).
  const Record* FirstCandidate(uint64_t hash) const {
    if (slots_.empty()) return nullptr;
    const size_t mask = slots_.size() - 1;
    const uint32_t low = static_cast<uint32_t>(hash);
    for (size_t i = low & mask;; i = (i + 1) & mask) {
      const uint64_t slot = slots_[i];
      if (slot == 0) return nullptr;
      if (static_cast<uint32_t>(slot) == low)
        return RecordAt(static_cast<uint32_t>(slot >> 32) - 1);
    }
  }
  static bool Matches(const Record& r, protocol::MetricType type, std::string_view name,
                      std::string_view tags) {
    const uint32_t name_length_type =
        static_cast<uint32_t>(name.size() << 3) | static_cast<uint32_t>(type);
    return r.name_length_type == name_length_type && r.tags_length == tags.size() &&
           // string_view compares, unlike memcmp, accept the null data() of an empty view.
           std::string_view(r.bytes(), name.size()) == name &&
           std::string_view(r.bytes() + name.size(), tags.size()) == tags;
  }

  // The key must not be present yet.
  void Insert(uint64_t hash, protocol::MetricType type, std::string_view name,
              std::string_view tags, uint32_t series, uint32_t cell);

  // Removes every key whose series satisfies dead(series); when any went, compacts the arena
  // and rebuilds the slots (rehashing the survivors). Rare: idle eviction and re-tagging.
  template <typename Pred>
  size_t EraseIf(Pred&& dead) {
    size_t erased = 0;
    ForEachRecord(chunks_, [&](const Record& r) { erased += dead(r.series) ? 1 : 0; });
    if (erased == 0) return 0;
    std::vector<Chunk> old;
    old.swap(chunks_);
    Reset(size_ - erased);
    ForEachRecord(old, [&](const Record& r) {
      if (!dead(r.series)) Reinsert(r);
    });
    for (const Chunk& c : old) FreeHugeAware(c.data);
    return erased;
  }

  size_t size() const { return size_; }

 private:
  struct Chunk {
    char* data;
    uint32_t capacity;  // bytes
    uint32_t used;      // bytes
  };
  static constexpr uint32_t kChunkShift = 18;  // units of 8 bytes per full chunk: 2 MiB
  static constexpr uint32_t kUnitMask = (uint32_t{1} << kChunkShift) - 1;

  // Address: chunk index << kChunkShift | offset in 8-byte units.
  const Record* RecordAt(uint32_t address) const {
    return reinterpret_cast<const Record*>(chunks_[address >> kChunkShift].data +
                                           (size_t{address & kUnitMask} << 3));
  }
  static size_t RecordBytes(size_t key_bytes) {
    return (sizeof(Record) + key_bytes + 7) & ~size_t{7};
  }
  // Copies a key into the arena (a new chunk when the last one is full); returns its address.
  uint32_t Append(protocol::MetricType type, std::string_view name, std::string_view tags,
                  uint32_t series, uint32_t cell);
  void Place(uint32_t address, uint32_t low_hash);
  void Grow();
  void Reset(size_t expected);  // empty slots sized for `expected` keys
  void Reinsert(const Record& r);
  template <typename Fn>
  static void ForEachRecord(const std::vector<Chunk>& chunks, Fn&& fn) {
    for (const Chunk& c : chunks) {
      for (uint32_t at = 0; at < c.used;) {
        const auto* r = reinterpret_cast<const Record*>(c.data + at);
        fn(*r);
        at += static_cast<uint32_t>(RecordBytes(r->name_length() + r->tags_length));
      }
    }
  }

  std::vector<Chunk> chunks_;
  std::vector<uint64_t, HugePageAllocator<uint64_t>> slots_;  // power of two, <= half full
  size_t size_ = 0;
};

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_SERIES_TABLE_H_
