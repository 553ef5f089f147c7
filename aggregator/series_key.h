// aggregator/series_key.h: what names a series — (name, type, canonical tag set) — and the tag
// canonicalization that makes `#a:1,b:2` and `#b:2,a:1,a:1` one series (SPEC 2, 3).
//
// A canonical tag list is one string: tags sorted bytewise, exact duplicates removed, global tags
// merged (a line's own tag with the same key wins), joined with ','. Snapshots share SeriesKeys
// by pointer, so a series' strings are allocated once, when the series is created.
#ifndef TALLYD_AGGREGATOR_SERIES_KEY_H_
#define TALLYD_AGGREGATOR_SERIES_KEY_H_

#include <cstdint>
#include <string>
#include <string_view>
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

// The identity of one series, immutable once created. `id` is stable for the series' lifetime
// (until it expires) and never reused, so backends may key their own state on it.
struct SeriesKey {
  uint64_t id = 0;
  MetricType type = MetricType::kCounter;
  std::string name;
  std::string tags;  // canonical, "" when none

  // Calls fn(const TagView&) for each canonical tag, in order.
  template <typename Fn>
  void ForEachTag(Fn&& fn) const {
    protocol::ForEachTag(tags, [&](std::string_view tag) { fn(SplitTag(tag)); });
  }
  std::vector<TagView> TagList() const;
};

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
