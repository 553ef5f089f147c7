// aggregator/series_key.h: what names a series — (name, type, canonical tag set) — and the tag
// canonicalization that makes `#a:1,b:2` and `#b:2,a:1,a:1` one series (SPEC 2, 3).
//
// A canonical tag list is one string: tags sorted bytewise, exact duplicates removed, global tags
// merged (a line's own tag with the same key wins), joined with ','. Snapshots share SeriesKeys
// by pointer, so a series' strings are allocated once, when the series is created.
#ifndef TALLYD_AGGREGATOR_SERIES_KEY_H_
#define TALLYD_AGGREGATOR_SERIES_KEY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

 private:
  friend class SeriesKey;
  explicit SeriesKeyRef(const SeriesKey* adopted) : key_(adopted) {}
  const SeriesKey* key_ = nullptr;
};

// The identity of one series, immutable once created. `id` is stable for the series' lifetime
// (until it expires) and never reused, so backends may key their own state on it.
//
// One allocation holds a 24-byte header and the name and tag bytes, shared by reference count
// between the flush side and every snapshot reporting the series: at a million series, the
// make_shared object with two std::strings it replaces cost ~100 bytes more per series.
class SeriesKey {
 public:
  static SeriesKeyRef Make(uint64_t id, MetricType type, std::string_view name,
                           std::string_view tags);

  uint64_t id() const { return id_; }
  MetricType type() const { return type_; }
  std::string_view name() const { return {bytes(), name_length_}; }
  std::string_view tags() const { return {bytes() + name_length_, tags_length_}; }  // canonical

  // Calls fn(const TagView&) for each canonical tag, in order.
  template <typename Fn>
  void ForEachTag(Fn&& fn) const {
    protocol::ForEachTag(tags(), [&](std::string_view tag) { fn(SplitTag(tag)); });
  }
  std::vector<TagView> TagList() const;

  SeriesKey(const SeriesKey&) = delete;
  SeriesKey& operator=(const SeriesKey&) = delete;

 private:
  friend class SeriesKeyRef;
  SeriesKey(uint64_t id, MetricType type, uint32_t name_length, uint32_t tags_length)
      : type_(type), name_length_(name_length), tags_length_(tags_length), id_(id) {}
  const char* bytes() const { return reinterpret_cast<const char*>(this + 1); }
  static void Release(const SeriesKey* key);

  mutable std::atomic<uint32_t> refs_{1};
  MetricType type_;
  uint32_t name_length_;
  uint32_t tags_length_;
  uint64_t id_;
};

inline SeriesKeyRef::SeriesKeyRef(const SeriesKeyRef& other) : key_(other.key_) {
  if (key_ != nullptr) key_->refs_.fetch_add(1, std::memory_order_relaxed);
}
inline SeriesKeyRef::~SeriesKeyRef() {
  if (key_ != nullptr) SeriesKey::Release(key_);
}

// The series hash, computed once per line on the raw tags and reused for the table lookup.
uint64_t HashSeries(MetricType type, std::string_view name, std::string_view tags);
// Hash of an opaque set value.
uint64_t HashSetValue(std::string_view value);

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
