#include "aggregator/series_key.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "aggregator/key_arena.h"

namespace tallyd::aggregator {

TagView SplitTag(std::string_view tag) {
  TagView view;
  view.text = tag;
  size_t colon = tag.find(':');
  if (colon == std::string_view::npos) {
    view.key = tag;
    view.bare = true;
  } else {
    view.key = tag.substr(0, colon);
    view.value = tag.substr(colon + 1);
  }
  return view;
}

SeriesKeyRef SeriesKey::Make(uint64_t id, MetricType type, std::string_view name,
                             std::string_view tags) {
  return Make(id, type, name, tags, HashSeries(type, name, tags), 0);
}

size_t SeriesKey::BlockSize(size_t name_size, size_t tags_size, bool has_options) {
  const bool long_key = name_size >= kLongLength || tags_size >= kLongLength;
  const size_t bytes_size = (long_key ? kLongPrefix : 0) + name_size + tags_size;
  return sizeof(SeriesKey) +
         (has_options ? OptionsOffset(bytes_size) + sizeof(OptionsPtr) : bytes_size);
}

SeriesKeyRef SeriesKey::Make(uint64_t id, MetricType type, std::string_view name,
                             std::string_view tags, uint64_t hash, uint32_t series,
                             std::shared_ptr<const mapping::SeriesOptions> options) {
  static_assert(sizeof(SeriesKey) == 24 && alignof(SeriesKey) == 8);
  const bool has_options = options != nullptr;
  void* block = KeyArena::Allocate(BlockSize(name.size(), tags.size(), has_options));
  auto* key = new (block) SeriesKey();
  key->hash32_ = static_cast<uint32_t>(hash);
  id &= (uint64_t{1} << kIdBits) - 1;
  key->id_low_ = static_cast<uint32_t>(id);
  key->id_high_type_ = static_cast<uint16_t>((id >> 32) << 4 | static_cast<uint16_t>(type) |
                                             (has_options ? kHasOptions : 0));
  key->series_ = series;
  char* bytes = reinterpret_cast<char*>(key + 1);
  if (name.size() >= kLongLength || tags.size() >= kLongLength) {
    key->name_length_ = key->tags_length_ = kLongLength;
    const uint32_t lengths[2] = {static_cast<uint32_t>(name.size()),
                                 static_cast<uint32_t>(tags.size())};
    std::memcpy(bytes, lengths, sizeof(lengths));
    bytes += kLongPrefix;
  } else {
    key->name_length_ = static_cast<uint16_t>(name.size());
    key->tags_length_ = static_cast<uint16_t>(tags.size());
  }
  // An empty view may have a null data(), which memcpy must not see.
  if (!name.empty()) std::memcpy(bytes, name.data(), name.size());
  if (!tags.empty()) std::memcpy(bytes + name.size(), tags.data(), tags.size());
  if (has_options) {
    new (bytes + OptionsOffset(name.size() + tags.size())) OptionsPtr(std::move(options));
  }
  return SeriesKeyRef(key);
}

void SeriesKey::Release(const SeriesKey* key) {
  // acq_rel: the last owner sees every other owner's reads done before it frees the block.
  if (key->refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  const size_t size = key->BlockSize();
  if ((key->id_high_type_ & kHasOptions) != 0) key->options_slot()->~OptionsPtr();
  key->~SeriesKey();
  KeyArena::Free(const_cast<SeriesKey*>(key), size);
}

std::vector<TagView> SeriesKey::TagList() const {
  std::vector<TagView> list;
  ForEachTag([&](const TagView& tag) { list.push_back(tag); });
  return list;
}

namespace {

uint64_t Mix64(uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

// Unlike absl::Hash this is not seeded per process, so set counts (and HyperLogLog's small
// errors) are reproducible from run to run.
uint64_t HashSetValue(std::string_view value) {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ value.size();
  size_t i = 0;
  for (; i + 8 <= value.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, value.data() + i, 8);
    h = Mix64(h ^ word);
  }
  uint64_t tail = 0;
  if (i < value.size()) std::memcpy(&tail, value.data() + i, value.size() - i);
  return Mix64(h ^ tail ^ (uint64_t{0xff} << 56));
}

TagCanonicalizer::TagCanonicalizer(const std::vector<std::string>& global_tags)
    : global_(global_tags) {
  std::sort(global_.begin(), global_.end());
  global_.erase(std::unique(global_.begin(), global_.end()), global_.end());
  global_.erase(std::remove(global_.begin(), global_.end(), std::string()), global_.end());
}

std::string_view TagCanonicalizer::Canonicalize(std::string_view raw_tags) {
  scratch_tags_.clear();
  protocol::ForEachTag(raw_tags, [&](std::string_view tag) {
    if (!tag.empty()) scratch_tags_.push_back(tag);
  });
  size_t own = scratch_tags_.size();
  for (const std::string& global : global_) {
    std::string_view key = SplitTag(global).key;
    bool overridden = false;
    for (size_t i = 0; i < own && !overridden; ++i) {
      overridden = SplitTag(scratch_tags_[i]).key == key;
    }
    if (!overridden) scratch_tags_.push_back(global);
  }
  std::sort(scratch_tags_.begin(), scratch_tags_.end());
  scratch_tags_.erase(std::unique(scratch_tags_.begin(), scratch_tags_.end()), scratch_tags_.end());
  scratch_.clear();
  for (std::string_view tag : scratch_tags_) {
    if (!scratch_.empty()) scratch_.push_back(',');
    scratch_.append(tag);
  }
  return scratch_;
}

}  // namespace tallyd::aggregator
