#include "aggregator/series_table.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "aggregator/series_key.h"

namespace tallyd::aggregator {

namespace {
constexpr size_t kFirstChunk = 16 << 10;  // small shards stay small
constexpr size_t kMinSlots = 64;
}  // namespace

SeriesTable::~SeriesTable() {
  for (const Chunk& c : chunks_) FreeHugeAware(c.data);
}

void SeriesTable::Insert(uint64_t hash, protocol::MetricType type, std::string_view name,
                         std::string_view tags, uint32_t series, uint32_t cell) {
  if ((size_ + 1) * 2 > slots_.size()) Grow();
  Place(Append(type, name, tags, series, cell), static_cast<uint32_t>(hash));
  ++size_;
}

uint32_t SeriesTable::Append(protocol::MetricType type, std::string_view name,
                             std::string_view tags, uint32_t series, uint32_t cell) {
  const size_t bytes = RecordBytes(name.size() + tags.size());
  if (chunks_.empty() || chunks_.back().capacity - chunks_.back().used < bytes) {
    // Chunks double up to 2 MiB (one huge page); a key larger than that gets a chunk of its own.
    size_t capacity = chunks_.empty()
                          ? kFirstChunk
                          : std::min<size_t>(2 * chunks_.back().capacity, kHugePageSize);
    capacity = std::max(capacity, bytes);
    // Addresses hold 14 bits of chunk index: 16k chunks, 32 GiB of keys at the least. Far past
    // what max_series admits in practice; a hard stop rather than a corrupt table.
    if (chunks_.size() >= (size_t{1} << (32 - kChunkShift)) - 1) throw std::length_error("keys");
    void* data = AllocateHugeAware(capacity);
    if (data == nullptr) throw std::bad_alloc();
    chunks_.push_back({static_cast<char*>(data), static_cast<uint32_t>(capacity), 0});
  }
  Chunk& c = chunks_.back();
  const uint32_t address =
      static_cast<uint32_t>((chunks_.size() - 1) << kChunkShift) | (c.used >> 3);
  auto* r = reinterpret_cast<Record*>(c.data + c.used);
  r->series = series;
  r->cell = cell;
  r->name_length_type = static_cast<uint32_t>(name.size() << 3) | static_cast<uint32_t>(type);
  r->tags_length = static_cast<uint32_t>(tags.size());
  char* out = c.data + c.used + sizeof(Record);
  // An empty view may have a null data(), which memcpy must not see.
  if (!name.empty()) std::memcpy(out, name.data(), name.size());
  if (!tags.empty()) std::memcpy(out + name.size(), tags.data(), tags.size());
  c.used += static_cast<uint32_t>(bytes);
  return address;
}

void SeriesTable::Place(uint32_t address, uint32_t low_hash) {
  const size_t mask = slots_.size() - 1;
  size_t i = low_hash & mask;
  while (slots_[i] != 0) i = (i + 1) & mask;
  slots_[i] = (uint64_t{address + 1} << 32) | low_hash;
}

// Doubles the slots. The slots keep the hash bits that pick a home position, so no key is read.
void SeriesTable::Grow() {
  std::vector<uint64_t, HugePageAllocator<uint64_t>> old;
  old.swap(slots_);
  slots_.assign(old.empty() ? kMinSlots : old.size() * 2, 0);
  for (uint64_t slot : old) {
    if (slot != 0) Place(static_cast<uint32_t>(slot >> 32) - 1, static_cast<uint32_t>(slot));
  }
}

void SeriesTable::Reset(size_t expected) {
  size_t count = kMinSlots;
  while (count < 2 * (expected + 1)) count *= 2;
  slots_.assign(count, 0);
  size_ = 0;
}

void SeriesTable::Reinsert(const Record& r) {
  const uint64_t hash = HashSeries(r.type(), r.name(), r.tags());
  Place(Append(r.type(), r.name(), r.tags(), r.series, r.cell), static_cast<uint32_t>(hash));
  ++size_;
}

}  // namespace tallyd::aggregator
