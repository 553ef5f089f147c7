#include "aggregator/series_table.h"

#include <cstdint>
#include <stdexcept>

namespace tallyd::aggregator {

namespace {
constexpr size_t kMinSlots = 64;
}  // namespace

SeriesTable::~SeriesTable() {
  for (uint64_t slot : slots_) {
    if (slot != 0) SeriesKeyRef::Adopt(KeyOf(slot));
  }
}

SeriesKeyRef SeriesTable::Insert(uint64_t hash, uint64_t id, MetricType type, std::string_view name,
                                 std::string_view tags, uint32_t series,
                                 std::shared_ptr<const mapping::SeriesOptions> options) {
  SeriesKeyRef key = SeriesKey::Make(id, type, name, tags, hash, series, std::move(options));
  Insert(key);
  return key;
}

void SeriesTable::Insert(const SeriesKeyRef& key) {
  const auto address = reinterpret_cast<uintptr_t>(key.get());
  // See the header: 45 address bits. A wider address would corrupt the table; refuse it instead.
  if ((address >> 48) != 0) throw std::length_error("key address above 2^48");
  if ((size_ + 1) * 2 > slots_.size()) Rebuild(slots_.empty() ? kMinSlots : 2 * slots_.size());
  Place(SeriesKeyRef::Share(key.get()).Leak());
  ++size_;
}

void SeriesTable::Place(const SeriesKey* key) {
  const size_t mask = slots_.size() - 1;
  const uint32_t hash = key->hash32();
  size_t i = hash & mask;
  while (slots_[i] != 0) i = (i + 1) & mask;
  slots_[i] = (reinterpret_cast<uintptr_t>(key) >> 3) << kHashBits | Fingerprint(hash);
}

size_t SeriesTable::SlotsFor(size_t keys) {
  size_t count = kMinSlots;
  while (count < 2 * (keys + 1)) count *= 2;
  return count;
}

// Home positions come from each key's stored hash: one read per key, no rehashing of bytes.
void SeriesTable::Rebuild(size_t slot_count) {
  std::vector<uint64_t, HugePageAllocator<uint64_t>> old;
  old.swap(slots_);
  slots_.assign(slot_count, 0);
  for (uint64_t slot : old) {
    if (slot != 0) Place(KeyOf(slot));
  }
}

}  // namespace tallyd::aggregator
