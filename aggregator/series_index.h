// aggregator/series_index.h: the flush side's index from a series key to its global series.
//
// Open addressing with linear probing over 4-byte global indices, at most half full: 8 bytes per
// series at worst, where a hash set of (hash, index) pairs took ~19. The index stores neither
// hashes nor key bytes: both are read through the series' own SeriesKey (`key_of(global)`), whose
// hash32() is the same for equal keys from any shard. That costs a key read per probe, which is
// fine here: the index is only used when a shard reports a new series and when a series expires,
// never per line.
#ifndef TALLYD_AGGREGATOR_SERIES_INDEX_H_
#define TALLYD_AGGREGATOR_SERIES_INDEX_H_

#include <cstdint>
#include <vector>

#include "aggregator/series_key.h"

namespace tallyd::aggregator {

// KeyOf: const SeriesKey& (uint32_t global) const, valid for every global in the index.
template <typename KeyOf>
class SeriesIndex {
 public:
  static constexpr uint32_t kAbsent = UINT32_MAX;

  explicit SeriesIndex(KeyOf key_of) : key_of_(std::move(key_of)) {}

  // The global series whose key equals `key`, or kAbsent.
  uint32_t Find(const SeriesKey& key) const {
    if (slots_.empty()) return kAbsent;
    const size_t mask = slots_.size() - 1;
    for (size_t i = Home(key.hash32()) & mask;; i = (i + 1) & mask) {
      const uint32_t g = slots_[i];
      if (g == kAbsent) return kAbsent;
      const SeriesKey& other = key_of_(g);
      if (other.hash32() == key.hash32() && other.type() == key.type() &&
          other.name() == key.name() && other.tags() == key.tags()) {
        return g;
      }
    }
  }

  // `global`'s key must not be in the index yet.
  void Insert(uint32_t global) {
    if ((size_ + 1) * 2 > slots_.size()) Rebuild(slots_.empty() ? 64 : 2 * slots_.size());
    Place(global);
    ++size_;
  }

  // Removes `global` (present) while its key is still readable. Backward-shift deletion keeps
  // every other entry reachable from its home slot without tombstones.
  void Erase(uint32_t global) {
    const size_t mask = slots_.size() - 1;
    size_t i = Home(key_of_(global).hash32()) & mask;
    while (slots_[i] != global) i = (i + 1) & mask;
    for (size_t j = i;;) {
      j = (j + 1) & mask;
      if (slots_[j] == kAbsent) break;
      const size_t home = Home(key_of_(slots_[j]).hash32()) & mask;
      // slots_[j] may fill the hole at i unless its home lies cyclically in (i, j].
      const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (stays) continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i] = kAbsent;
    --size_;
  }

  size_t size() const { return size_; }

 private:
  // The table's low bits come from all 32 hash bits (the shard's table uses the low ones as is).
  static size_t Home(uint32_t h) {
    const uint64_t x = (uint64_t{h} << 32 | h) * 0x9e3779b97f4a7c15ULL;
    return static_cast<size_t>(x ^ (x >> 29));
  }
  void Place(uint32_t global) {
    const size_t mask = slots_.size() - 1;
    size_t i = Home(key_of_(global).hash32()) & mask;
    while (slots_[i] != kAbsent) i = (i + 1) & mask;
    slots_[i] = global;
  }
  void Rebuild(size_t slot_count) {
    std::vector<uint32_t> old(slot_count, kAbsent);
    old.swap(slots_);
    for (uint32_t g : old) {
      if (g != kAbsent) Place(g);
    }
  }

  KeyOf key_of_;
  std::vector<uint32_t> slots_;  // power of two; kAbsent or a global index
  size_t size_ = 0;
};

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_SERIES_INDEX_H_
