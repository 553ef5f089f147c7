// aggregator/series_table.h: a shard's interning table, (type, name, tag bytes) -> local series.
//
// Open addressing with linear probing over 8-byte slots (entry index + 32 hash bits), so a lookup
// of a known series costs one hash (computed by the caller), usually one slot and one key compare,
// and no allocation. Keys are raw tag lists as received, or canonical ones: several raw spellings
// may alias one series. Only the owning worker thread touches it.
#ifndef TALLYD_AGGREGATOR_SERIES_TABLE_H_
#define TALLYD_AGGREGATOR_SERIES_TABLE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/parser.h"

namespace tallyd::aggregator {

class SeriesTable {
 public:
  static constexpr uint32_t kNotFound = UINT32_MAX;

  uint32_t Find(uint64_t hash, protocol::MetricType type, std::string_view name,
                std::string_view tags) const;
  // The key must not be present yet.
  void Insert(uint64_t hash, protocol::MetricType type, std::string_view name,
              std::string_view tags, uint32_t series);
  // Removes every key whose series satisfies dead(series); rebuilds the slots when any went.
  template <typename Pred>
  size_t EraseIf(Pred&& dead) {
    size_t kept = 0;
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (dead(entries_[i].series)) continue;
      if (kept != i) entries_[kept] = std::move(entries_[i]);
      ++kept;
    }
    size_t erased = entries_.size() - kept;
    if (erased != 0) {
      entries_.resize(kept);
      Rebuild(slots_.size());
    }
    return erased;
  }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    uint64_t hash;
    std::string bytes;  // name followed by tags
    uint32_t name_length;
    uint32_t series;
    protocol::MetricType type;
  };
  struct Slot {
    uint32_t entry_plus_one = 0;  // 0: empty
    uint32_t hash_high = 0;
  };
  void Rebuild(size_t slot_count);
  void Place(uint32_t entry_index);

  std::vector<Entry> entries_;
  std::vector<Slot> slots_;  // power of two, at most half full
};

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_SERIES_TABLE_H_
