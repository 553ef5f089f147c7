#include "aggregator/series_table.h"

#include <cstring>

namespace tallyd::aggregator {

uint32_t SeriesTable::Find(uint64_t hash, protocol::MetricType type, std::string_view name,
                           std::string_view tags) const {
  if (slots_.empty()) return kNotFound;
  const size_t mask = slots_.size() - 1;
  const uint32_t high = static_cast<uint32_t>(hash >> 32);
  const size_t length = name.size() + tags.size();
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.entry_plus_one == 0) return kNotFound;
    if (slot.hash_high != high) continue;
    const Entry& e = entries_[slot.entry_plus_one - 1];
    if (e.hash == hash && e.type == type && e.name_length == name.size() &&
        e.bytes.size() == length && std::string_view(e.bytes.data(), name.size()) == name &&
        // string_view compares, unlike memcmp, accept the null data() of an empty view.
        std::string_view(e.bytes.data() + name.size(), tags.size()) == tags) {
      return e.series;
    }
  }
}

void SeriesTable::Insert(uint64_t hash, protocol::MetricType type, std::string_view name,
                         std::string_view tags, uint32_t series) {
  Entry e;
  e.hash = hash;
  e.bytes.reserve(name.size() + tags.size());
  e.bytes.append(name).append(tags);
  e.name_length = static_cast<uint32_t>(name.size());
  e.series = series;
  e.type = type;
  entries_.push_back(std::move(e));
  if ((entries_.size()) * 2 > slots_.size()) {
    Rebuild(slots_.empty() ? 64 : slots_.size() * 2);
  } else {
    Place(static_cast<uint32_t>(entries_.size() - 1));
  }
}

void SeriesTable::Place(uint32_t entry_index) {
  const uint64_t hash = entries_[entry_index].hash;
  const size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  while (slots_[i].entry_plus_one != 0) i = (i + 1) & mask;
  slots_[i] = {entry_index + 1, static_cast<uint32_t>(hash >> 32)};
}

void SeriesTable::Rebuild(size_t slot_count) {
  while (slot_count > 64 && entries_.size() * 4 < slot_count) slot_count /= 2;  // shrink
  slots_.assign(slot_count, Slot{});
  for (uint32_t i = 0; i < entries_.size(); ++i) Place(i);
}

}  // namespace tallyd::aggregator
