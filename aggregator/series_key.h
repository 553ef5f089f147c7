// aggregator/series_key.h: what names a series — (name, type, canonical tag set) — and the tag
// canonicalization that makes `#a:1,b:2` and `#b:2,a:1,a:1` one series (SPEC 2, 3).
//
// A canonical tag list is one string: tags sorted bytewise, exact duplicates removed, global tags
// merged (a line's own tag with the same key wins), joined with ','. A series' key is allocated
// once, by the process-wide SeriesRegistry when a shard first meets the series, and then shared
// by reference count: every shard's table finds lines' series through it, the flush side and
// every snapshot reporting the series hold it.
#ifndef TALLYD_AGGREGATOR_SERIES_KEY_H_
#define TALLYD_AGGREGATOR_SERIES_KEY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "mapping/mapping.h"
#include "protocol/parser.h"

namespace tallyd::aggregator {

using protocol::MetricType;

// One tag split at its first ':' ("k:v:w" -> key "k", value "v:w"); a bare tag has no value.
struct TagView {
  std::string_view text;  // as written: "k:v" or "k"
  std::string_view key;
  std::string_view value;  // "" for a bare tag
  bool bare = false;
};
TagView SplitTag(std::string_view tag);

class SeriesKey;

// A counted reference to a SeriesKey: 8 bytes, copied once per reported series per flush (into
// the snapshot), never on the hot path. Thread-safe like std::shared_ptr: copies may be made and
// dropped on any thread.
class SeriesKeyRef {
 public:
  SeriesKeyRef() = default;
  SeriesKeyRef(std::nullptr_t) {}  // NOLINT: implicit, as for std::shared_ptr
  SeriesKeyRef(const SeriesKeyRef& other);
  SeriesKeyRef(SeriesKeyRef&& other) noexcept : key_(std::exchange(other.key_, nullptr)) {}
  SeriesKeyRef& operator=(SeriesKeyRef other) noexcept {
    std::swap(key_, other.key_);
    return *this;
  }
  ~SeriesKeyRef();

  const SeriesKey* get() const { return key_; }
  const SeriesKey& operator*() const { return *key_; }
  const SeriesKey* operator->() const { return key_; }
  explicit operator bool() const { return key_ != nullptr; }
  friend bool operator==(const SeriesKeyRef& a, std::nullptr_t) { return a.key_ == nullptr; }
  friend bool operator==(const SeriesKeyRef& a, const SeriesKeyRef& b) { return a.key_ == b.key_; }

  // For containers that hold keys as raw pointers (the shard's table): Share() adds a reference,
  // Adopt() takes over one the pointer already owns, Leak() hands this one over to the pointer.
  static SeriesKeyRef Share(const SeriesKey* key);
  static SeriesKeyRef Adopt(const SeriesKey* key) { return SeriesKeyRef(key); }
  const SeriesKey* Leak() && { return std::exchange(key_, nullptr); }

 private:
  friend class SeriesKey;
  explicit SeriesKeyRef(const SeriesKey* adopted) : key_(adopted) {}
  const SeriesKey* key_ = nullptr;
};

// Cell pools, by metric type: a series' cells live in its type's pool of every interval.
inline constexpr int kCellPools = 4;  // counters, gauges, samples (timers, histograms,
                                      // distributions), sets
inline int PoolOf(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return 0;
    case MetricType::kGauge:
      return 1;
    case MetricType::kSet:
      return 3;
    default:
      return 2;
  }
}
// A series' process-wide id while it lives (SeriesRegistry assigns it, and reuses it once the
// series is forgotten): its pool in the top two bits, its cell slot in that pool below. Every
// shard's cells and the flush side's records are indexed by it.
inline constexpr int kPoolShift = 30;
inline constexpr uint32_t kSlotMask = (uint32_t{1} << kPoolShift) - 1;
inline uint32_t SeriesOf(int pool, uint32_t slot) {
  return static_cast<uint32_t>(pool) << kPoolShift | slot;
}
inline int PoolOfSeries(uint32_t series) { return static_cast<int>(series >> kPoolShift); }
inline uint32_t SlotOfSeries(uint32_t series) { return series & kSlotMask; }

// The identity of one series, immutable once created. `id` is stable for the series' lifetime
// (until it expires) and not reused before 2^44 more series were created (kIdBits), so backends
// may key their own state on it.
//
// One block (KeyArena, 8-byte size classes) holds a 24-byte header and the name and tag bytes
// (and, for a series a mapping file named, a pointer to its rule's options after them). Name
// and tags of up to 65534 bytes each have their lengths in the header; a longer one (a long
// max_line_length, global tags or a mapping's output can make one) stores both lengths in 8
// bytes after the header, and the name at once after them. The header also carries what a shard
// needs to turn a line into its cell without another lookup (the key's hash and the series'
// process-wide pool and slot, `series()`), so that one block serves as every shard's table
// entry, the flush side's series identity and the snapshots' key: a series' bytes are held once,
// whatever the number of workers (SeriesRegistry hands the same block to each). Raw tag
// spellings a shard also maps to the series (unsorted tags) are keys of their own that never
// leave the shard.
class alignas(8) SeriesKey {  // 8: blocks hold an options pointer after the bytes
 public:
  static SeriesKeyRef Make(uint64_t id, MetricType type, std::string_view name,
                           std::string_view tags);
  // With the shards' fields: `hash` is HashSeries(type, name, tags) (or any hash the table was
  // probed with), `series` the process-wide pool and slot (SeriesOf).
  static SeriesKeyRef Make(uint64_t id, MetricType type, std::string_view name,
                           std::string_view tags, uint64_t hash, uint32_t series,
                           std::shared_ptr<const mapping::SeriesOptions> options = nullptr);

  // Ids wrap at 2^44 (Make keeps the low kIdBits bits).
  static constexpr int kIdBits = 44;
  uint64_t id() const { return static_cast<uint64_t>(id_high_type_ >> 4) << 32 | id_low_; }
  MetricType type() const { return static_cast<MetricType>(id_high_type_ & kTypeMask); }
  std::string_view name() const {
    if (name_length_ != kLongLength) [[likely]] {
      return {bytes(), name_length_};
    }
    return {long_bytes(), long_lengths()[0]};
  }
  std::string_view tags() const {  // canonical
    if (name_length_ != kLongLength) [[likely]] {
      return {bytes() + name_length_, tags_length_};
    }
    return {long_bytes() + long_lengths()[0], long_lengths()[1]};
  }

  // Calls fn(const TagView&) for each canonical tag, in order.
  template <typename Fn>
  void ForEachTag(Fn&& fn) const {
    protocol::ForEachTag(tags(), [&](std::string_view tag) { fn(SplitTag(tag)); });
  }
  std::vector<TagView> TagList() const;

  // What the mapping rule that named this series (or the mapping file's defaults) says about it:
  // timer type, buckets, quantiles, help, ttl (SPEC 7). Null without a mapping file. Fixed at
  // creation: a reload does not change the options of series created before it.
  const mapping::SeriesOptions* mapping_options() const {
    return (id_high_type_ & kHasOptions) != 0 ? options_slot()->get() : nullptr;
  }

  // The aggregator's view (internal).
  uint32_t hash32() const { return hash32_; }  // low 32 bits of the hash given to Make
  uint32_t series() const { return series_; }  // SeriesOf(pool, slot)
  uint32_t cell() const { return SlotOfSeries(series_); }

  SeriesKey(const SeriesKey&) = delete;
  SeriesKey& operator=(const SeriesKey&) = delete;

 private:
  friend class SeriesKeyRef;
  friend class SeriesRegistry;
  SeriesKey() = default;
  const char* bytes() const { return reinterpret_cast<const char*>(this + 1); }
  // A long key's lengths (name, tags) and the bytes after them.
  const uint32_t* long_lengths() const { return reinterpret_cast<const uint32_t*>(this + 1); }
  const char* long_bytes() const { return bytes() + kLongPrefix; }
  static void Release(const SeriesKey* key);
  // The block's size, as Make allocated it.
  static size_t BlockSize(size_t name_size, size_t tags_size, bool has_options);
  size_t BlockSize() const {
    return BlockSize(name().size(), tags().size(), (id_high_type_ & kHasOptions) != 0);
  }

  // Written once by Make; only refs_ (atomically) and shard_refs_ (under a lock) change later.
  mutable std::atomic<uint32_t> refs_{1};
  uint32_t hash32_ = 0;
  uint32_t series_ = 0;
  uint16_t name_length_ = 0;  // kLongLength: a long key (both lengths after the header)
  uint16_t tags_length_ = 0;
  uint32_t id_low_ = 0;  // the id's low 32 bits
  // The id's bits 32..43 << 4 | kHasOptions | MetricType (3 bits).
  uint16_t id_high_type_ = 0;
  // Shards referring to the series (SeriesRegistry); guarded by the registry stripe's mutex.
  // Its own member (not bits of the id's word), so that writing it races with no reader.
  mutable uint16_t shard_refs_ = 0;

  static constexpr uint16_t kLongLength = 0xffff;
  static constexpr size_t kLongPrefix = 8;  // two uint32_t lengths
  static constexpr uint16_t kTypeMask = 0x7;
  // The block ends with a shared_ptr to the options (which keeps the rule's Mapping alive),
  // 8-aligned after the bytes. Series without a mapping pay nothing.
  static constexpr uint16_t kHasOptions = 0x8;
  using OptionsPtr = std::shared_ptr<const mapping::SeriesOptions>;
  static size_t OptionsOffset(size_t bytes) { return (bytes + 7) & ~size_t{7}; }
  const OptionsPtr* options_slot() const {
    const std::string_view n = name(), t = tags();
    const char* begin = n.data();
    return reinterpret_cast<const OptionsPtr*>(begin + OptionsOffset(n.size() + t.size()));
  }
};
static_assert(protocol::kMetricTypeCount <= 8, "SeriesKey keeps the type in 3 bits");

inline SeriesKeyRef::SeriesKeyRef(const SeriesKeyRef& other) : key_(other.key_) {
  if (key_ != nullptr) key_->refs_.fetch_add(1, std::memory_order_relaxed);
}
inline SeriesKeyRef SeriesKeyRef::Share(const SeriesKey* key) {
  if (key != nullptr) key->refs_.fetch_add(1, std::memory_order_relaxed);
  return SeriesKeyRef(key);
}
inline SeriesKeyRef::~SeriesKeyRef() {
  if (key_ != nullptr) SeriesKey::Release(key_);
}

// The series hash: the parser computes it once per line on the raw tags
// (MetricLine::series_hash) and the tables are probed with it; keys made here hash alike.
using protocol::HashSeries;
// Hash of an opaque set value.
uint64_t HashSetValue(std::string_view value);

// A map keyed by metric name, looked up with std::string_view without building a std::string
// (Debian's Abseil has its own absl::string_view, which its default string hash expects).
struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
};
struct NameEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};
template <typename V>
using NameMap = absl::flat_hash_map<std::string, V, NameHash, NameEq>;

// The count of `name`, created at 0 the first time (the one allocation, for the name's copy).
template <typename V>
V& CountOf(NameMap<V>& counts, std::string_view name) {
  auto it = counts.find(name);
  if (it == counts.end()) it = counts.emplace(name, V{}).first;
  return it->second;
}

// max_series_per_metric (SeriesRegistry, process-wide): takes one more live
// series of `name` unless it already has `limit` (0: no limit, nothing counted).
inline bool AdmitSeriesOfName(NameMap<uint32_t>& live, std::string_view name, size_t limit) {
  if (limit == 0) return true;
  uint32_t& n = CountOf(live, name);
  if (n >= limit) return false;
  ++n;
  return true;
}
// The other end: a series of `name` was forgotten (nothing to do when no limit is counted).
inline void ReleaseSeriesOfName(NameMap<uint32_t>& live, std::string_view name) {
  if (live.empty()) return;
  if (auto it = live.find(name); it != live.end() && --it->second == 0) live.erase(it);
}

// Canonicalizes tag lists with reused scratch buffers: after warm-up it allocates nothing.
class TagCanonicalizer {
 public:
  explicit TagCanonicalizer(const std::vector<std::string>& global_tags);
  // The canonical form of `raw_tags` (a raw "#" section). Valid until the next call.
  std::string_view Canonicalize(std::string_view raw_tags);
  const std::vector<std::string>& global_tags() const { return global_; }

 private:
  std::vector<std::string> global_;  // sorted, de-duplicated
  std::vector<std::string_view> scratch_tags_;
  std::string scratch_;
};

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_SERIES_KEY_H_
