#include "backends/series_report.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_format.h"
#include "backends/json_text.h"

namespace tallyd::backends {
namespace {

using aggregator::MetricType;
using aggregator::Snapshot;

// Hashes std::string_view through Abseil's own hash: Debian's Abseil has its own string_view,
// and its default hash of std::string_view goes through the much slower std::hash.
struct ViewHash {
  size_t operator()(std::string_view text) const {
    return absl::HashOf(absl::string_view(text.data(), text.size()));
  }
};

// Per name, for the flush being reported; the name points into the snapshot's keys.
struct NameTally {
  std::string_view name;
  uint32_t type_mask = 0;
  uint64_t series = 0;
  uint64_t active_series = 0;
  uint64_t samples = 0;
  bool samples_lower_bound = false;
};

struct DistinctValues {
  absl::flat_hash_set<std::string_view, ViewHash> values;
  bool capped = false;
};

// Tag keys of one kept name, each with its distinct values up to the caps.
struct TagTally {
  absl::flat_hash_map<std::string_view, DistinctValues, ViewHash> keys;
};

// SeriesReportEntry::info: the metric type in the low 4 bits, then whether the series is active
// (counts in active_series) and whether its samples are a lower bound, and from bit 8 on its
// samples this flush, or kSamplesInSummary when they do not fit (then read from the summary).
constexpr uint32_t kTypeMask = 0xf;
constexpr uint32_t kActive = 1u << 4;
constexpr uint32_t kLowerBound = 1u << 5;
constexpr int kSamplesShift = 8;
constexpr uint32_t kSamplesInSummary = 0xffffff;
static_assert(protocol::kMetricTypeCount <= 16);

bool IsSampled(MetricType type) {
  return type == MetricType::kTimer || type == MetricType::kHistogram ||
         type == MetricType::kDistribution;
}

NameRow ToRow(const NameTally& t) {
  NameRow row;
  row.name = std::string(t.name);
  for (int i = 0; i < protocol::kMetricTypeCount; ++i) {
    if ((t.type_mask & (1u << i)) != 0) {
      row.types.emplace_back(protocol::MetricTypeName(static_cast<MetricType>(i)));
    }
  }
  row.series = t.series;
  row.active_series = t.active_series;
  row.samples = t.samples;
  row.samples_lower_bound = t.samples_lower_bound;
  return row;
}

// Ranks first by `field`, most first, ties by name (stable output).
struct RanksBefore {
  uint64_t NameTally::*field;
  bool operator()(const NameTally& a, const NameTally& b) const {
    if (a.*field != b.*field) return a.*field > b.*field;
    return a.name < b.name;
  }
};

// The `n` tallies ranking first by `field` among those offered, in a heap whose front is the
// last of them: memory and work per name bounded by n, whatever the number of names.
class TopNames {
 public:
  TopNames(uint64_t NameTally::*field, size_t n) : before_{field}, n_(n) {}

  void Offer(const NameTally& t) {
    // A name with nothing to rank (no samples) is not "flooding".
    if (n_ == 0 || t.*before_.field == 0) return;
    if (heap_.size() < n_) {
      heap_.push_back(t);
      std::push_heap(heap_.begin(), heap_.end(), before_);
    } else if (before_(t, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), before_);
      heap_.back() = t;
      std::push_heap(heap_.begin(), heap_.end(), before_);
    }
  }

  // The kept tallies, first first; the heap is spent.
  std::vector<NameTally> Take() {
    std::sort_heap(heap_.begin(), heap_.end(), before_);
    return std::move(heap_);
  }

 private:
  RanksBefore before_;
  size_t n_;
  std::vector<NameTally> heap_;
};

void CountTags(const aggregator::SeriesKey& key, const SeriesReportOptions& options,
               TagTally& tally) {
  key.ForEachTag([&](const aggregator::TagView& tag) {
    auto it = tally.keys.find(tag.key);
    if (it == tally.keys.end()) {
      if (tally.keys.size() >= options.tag_keys_per_name) return;
      it = tally.keys.try_emplace(tag.key).first;
    }
    DistinctValues& d = it->second;
    if (d.values.size() >= options.distinct_values_cap) {
      d.capped = d.capped || !d.values.contains(tag.value);
      return;
    }
    d.values.insert(tag.value);
  });
}

std::vector<TagKeyCount> TopTagKeys(const TagTally& tally, size_t n) {
  std::vector<TagKeyCount> out;
  out.reserve(tally.keys.size());
  for (const auto& [key, d] : tally.keys) {
    out.push_back({std::string(key), d.values.size(), d.capped});
  }
  std::sort(out.begin(), out.end(), [](const TagKeyCount& a, const TagKeyCount& b) {
    if (a.distinct_values != b.distinct_values) return a.distinct_values > b.distinct_values;
    return a.key < b.key;
  });
  if (out.size() > n) out.resize(n);
  return out;
}

// Control bytes (and DEL) as \xNN: a name may hold an escape sequence a terminal would obey.
std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f || c == '\\') {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

double Share(uint64_t series, uint64_t max_series) {
  return max_series == 0 ? 0 : static_cast<double>(series) / static_cast<double>(max_series);
}

double PerSecond(uint64_t samples, double interval_seconds) {
  return interval_seconds > 0 ? static_cast<double>(samples) / interval_seconds : 0;
}

}  // namespace

uint64_t DefaultNameHash(std::string_view name) {
  return absl::HashOf(absl::string_view(name.data(), name.size()));
}

SeriesReportData BuildSeriesReport(const Snapshot& snapshot, uint64_t max_series,
                                   const SeriesReportOptions& options) {
  std::vector<SeriesReportEntry> entries;
  return BuildSeriesReport(snapshot, max_series, options, entries);
}

namespace {

// An entry whose index has this bit stands for several series of one name, tallied in
// `merged[index & ~kMerged]` (see NameCache).
constexpr uint32_t kMerged = 1u << 31;

std::string_view NameOf(const Snapshot& snapshot, const std::vector<NameTally>& merged,
                        const SeriesReportEntry& e) {
  const size_t n = snapshot.series.size();
  if ((e.index & kMerged) != 0) return merged[e.index & ~kMerged].name;
  return e.index < n ? snapshot.series[e.index].key->name()
                     : snapshot.timestamped_points[e.index - n].key->name();
}

// What one series adds to its name's tally, packed (see kTypeMask).
uint32_t InfoOf(const Snapshot& snapshot, const aggregator::SeriesValue& v) {
  const uint32_t type = static_cast<uint32_t>(v.key->type());
  if (v.idle) return type;
  if (!IsSampled(v.key->type())) return type | kActive | kLowerBound | (1u << kSamplesShift);
  const aggregator::SampleSummary* s = snapshot.SummaryOf(v);
  const uint64_t samples = s == nullptr ? 0 : s->samples;
  return type | kActive |
         (static_cast<uint32_t>(std::min<uint64_t>(samples, kSamplesInSummary)) << kSamplesShift);
}

// A client-timestamped point: one sample of its name, no series.
uint32_t PointInfo(const aggregator::TimedPoint& p) {
  return static_cast<uint32_t>(p.key->type()) | (1u << kSamplesShift);
}

void AddToTally(const Snapshot& snapshot, const std::vector<NameTally>& merged,
                const SeriesReportEntry& e, NameTally& t) {
  if ((e.index & kMerged) != 0) {
    const NameTally& m = merged[e.index & ~kMerged];
    t.type_mask |= m.type_mask;
    t.series += m.series;
    t.active_series += m.active_series;
    t.samples += m.samples;
    t.samples_lower_bound = t.samples_lower_bound || m.samples_lower_bound;
    return;
  }
  t.type_mask |= 1u << (e.info & kTypeMask);
  if (e.index < snapshot.series.size()) ++t.series;
  if ((e.info & kActive) != 0) ++t.active_series;
  if ((e.info & kLowerBound) != 0) t.samples_lower_bound = true;
  const uint32_t samples = e.info >> kSamplesShift;
  t.samples += samples != kSamplesInSummary ? samples
                                            : snapshot.SummaryOf(snapshot.series[e.index])->samples;
}

// The first pass' memory of the names it met last, so that the series of a name seen again soon
// (the common case: a few names with many series each) fold into one entry and one tally in
// `merged` instead of one entry each: fewer entries to sort and walk. Direct-mapped by hash, a
// slot holds the latest name of its hash bits; a name met again after its slot was taken gets
// one more entry, which the walk adds to the others of its name. `merged` holds at most one
// tally per two series.
class NameCache {
 public:
  // Folds series `index` (`info`, name hash `hash`) into the entry its name got lately and
  // returns true, or returns false when it needs an entry of its own (the caller appends it).
  bool Fold(const Snapshot& snapshot, std::vector<SeriesReportEntry>& entries,
            std::vector<NameTally>& merged, uint64_t hash, uint32_t index, uint32_t info) {
    Slot& slot = slots_[hash & (kSlots - 1)];
    if (slot.used && slot.hash == hash) {
      SeriesReportEntry& e = entries[slot.position];
      const std::string_view name = snapshot.series[index].key->name();
      if (NameOf(snapshot, merged, e) == name) {
        if ((e.index & kMerged) == 0) {
          NameTally t;
          t.name = name;
          AddToTally(snapshot, merged, e, t);
          merged.push_back(t);
          e.index = kMerged | static_cast<uint32_t>(merged.size() - 1);
          e.info = 0;
        }
        AddToTally(snapshot, merged, {hash, index, info}, merged[e.index & ~kMerged]);
        return true;
      }
    }
    slot = {hash, static_cast<uint32_t>(entries.size()), true};
    return false;
  }

 private:
  static constexpr size_t kSlots = 4096;  // 64 KiB
  struct Slot {
    uint64_t hash = 0;
    uint32_t position = 0;
    bool used = false;
  };
  std::vector<Slot> slots_ = std::vector<Slot>(kSlots);
};

// Puts the entries of each name in [begin, end) (one hash) together and calls fn(name, first, last)
// per name. Distinct names of one hash are rare (a 64-bit hash), so a run is mostly checked once
// and split only then, each name by one more scan.
template <typename Fn>
void ForEachNameOfRun(const Snapshot& snapshot, const std::vector<NameTally>& merged,
                      SeriesReportEntry* begin, SeriesReportEntry* end, Fn&& fn) {
  while (begin != end) {
    const std::string_view name = NameOf(snapshot, merged, *begin);
    SeriesReportEntry* other = begin + 1;
    while (other != end && NameOf(snapshot, merged, *other) == name) ++other;
    if (other != end) {
      // Their order does not matter (tags are counted in snapshot order): no buffer needed.
      other = std::partition(other, end, [&](const SeriesReportEntry& e) {
        return NameOf(snapshot, merged, e) == name;
      });
    }
    fn(name, begin, other);
    begin = other;
  }
}

}  // namespace

SeriesReportData BuildSeriesReport(const Snapshot& snapshot, uint64_t max_series,
                                   const SeriesReportOptions& options,
                                   std::vector<SeriesReportEntry>& entries, NameHashFunction hash) {
  SeriesReportData report;
  report.flush_sequence = snapshot.sequence;
  report.flush_unix_seconds = snapshot.flush_unix_seconds;
  report.interval_seconds = absl::ToDoubleSeconds(snapshot.interval);
  report.max_series = max_series;
  for (uint64_t n : snapshot.stats.series_active) report.live_series += n;
  report.dropped_max_series = snapshot.stats.series_dropped;
  report.dropped_max_series_per_metric = snapshot.stats.series_dropped_per_metric;
  report.dropped_names = snapshot.stats.series_dropped_top_names;

  // First pass, in snapshot order: an entry per series and per timestamped point, but the series
  // of a name met again soon fold into one (NameCache), so the entries grow as they are needed
  // rather than reserved for every series. Indexes are 31 bits: 2^31 series is far beyond any
  // max_series a process can hold.
  const size_t count = snapshot.series.size() + snapshot.timestamped_points.size();
  entries.clear();
  std::vector<NameTally> merged;
  {
    NameCache cache;
    for (uint32_t i = 0; i < snapshot.series.size(); ++i) {
      const aggregator::SeriesValue& v = snapshot.series[i];
      const uint64_t h = hash(v.key->name());
      const uint32_t info = InfoOf(snapshot, v);
      if (!cache.Fold(snapshot, entries, merged, h, i, info)) entries.push_back({h, i, info});
    }
  }
  uint32_t point_index = static_cast<uint32_t>(snapshot.series.size());
  for (const aggregator::TimedPoint& p : snapshot.timestamped_points) {
    entries.push_back({hash(p.key->name()), point_index++, PointInfo(p)});
  }
  // By hash, a name's entries adjacent (the index only makes the order the same every time).
  std::sort(entries.begin(), entries.end(),
            [](const SeriesReportEntry& a, const SeriesReportEntry& b) {
              return a.name_hash != b.name_hash ? a.name_hash < b.name_hash : a.index < b.index;
            });

  TopNames top_series(&NameTally::series, options.top_names);
  TopNames top_samples(&NameTally::samples, options.top_names);
  auto offer = [&](const NameTally& t) {
    ++report.names;
    top_series.Offer(t);
    top_samples.Offer(t);
  };
  // The walk, in hash order. A name with one entry (most of them when names are many) is only
  // marked in `single`: reading its name here would be a cache miss per name, the entries being
  // in random snapshot order. Ranked names need their names (ties go by name), so those are
  // offered by the pass after, in snapshot order. The order names are offered in does not change
  // the top ones.
  std::vector<uint64_t> single((count + 63) / 64);
  SeriesReportEntry* const first = entries.data();
  SeriesReportEntry* const last = first + entries.size();
  for (SeriesReportEntry* run = first; run != last;) {
    SeriesReportEntry* run_end = run + 1;
    while (run_end != last && run_end->name_hash == run->name_hash) ++run_end;
    if (run_end - run == 1 && (run->index & kMerged) == 0) {
      single[run->index / 64] |= uint64_t{1} << (run->index % 64);
    } else {
      ForEachNameOfRun(snapshot, merged, run, run_end,
                       [&](std::string_view name, SeriesReportEntry* b, SeriesReportEntry* e) {
                         NameTally t;
                         t.name = name;
                         for (; b != e; ++b) AddToTally(snapshot, merged, *b, t);
                         offer(t);
                       });
    }
    run = run_end;
  }
  auto is_single = [&](uint32_t index) {
    return (single[index / 64] & (uint64_t{1} << (index % 64))) != 0;
  };
  auto offer_single = [&](uint32_t index, std::string_view name, uint32_t info) {
    NameTally t;
    t.name = name;
    AddToTally(snapshot, merged, {0, index, info}, t);
    offer(t);
  };
  for (uint32_t i = 0; i < snapshot.series.size(); ++i) {
    if (!is_single(i)) continue;
    const aggregator::SeriesValue& v = snapshot.series[i];
    offer_single(i, v.key->name(), InfoOf(snapshot, v));
  }
  for (uint32_t j = 0; j < snapshot.timestamped_points.size(); ++j) {
    const uint32_t index = static_cast<uint32_t>(snapshot.series.size() + j);
    if (!is_single(index)) continue;
    const aggregator::TimedPoint& p = snapshot.timestamped_points[j];
    offer_single(index, p.key->name(), PointInfo(p));
  }
  // Kept for the next flush unless it is more than twice what this one used (the series shrank).
  if (entries.capacity() > 2 * entries.size()) std::vector<SeriesReportEntry>().swap(entries);
  const std::vector<NameTally> kept_series = top_series.Take();
  const std::vector<NameTally> kept_samples = top_samples.Take();

  // Second pass, in snapshot order (the keys in the order they were allocated, which the caches
  // like better than a name's entries in hash order), counting tags of the kept names' series
  // only: distinct values per tag key, the keys in the order they come (tag_keys_per_name keeps
  // the first ones).
  absl::flat_hash_map<std::string_view, TagTally, ViewHash> tags;
  for (const NameTally& t : kept_series) tags.try_emplace(t.name);
  for (const NameTally& t : kept_samples) tags.try_emplace(t.name);
  if (!tags.empty()) {
    for (const aggregator::SeriesValue& v : snapshot.series) {
      auto it = tags.find(v.key->name());
      if (it != tags.end()) CountTags(*v.key, options, it->second);
    }
  }
  auto rows = [&](const std::vector<NameTally>& kept) {
    std::vector<NameRow> out;
    out.reserve(kept.size());
    for (const NameTally& t : kept) {
      NameRow row = ToRow(t);
      row.tag_keys = TopTagKeys(tags[t.name], options.top_tag_keys);
      for (const aggregator::NameDrops& d : report.dropped_names) {
        if (d.name == row.name) row.dropped = d.dropped;
      }
      out.push_back(std::move(row));
    }
    return out;
  };
  report.by_series = rows(kept_series);
  report.by_samples = rows(kept_samples);
  return report;
}

namespace {

void AppendRowJson(std::string& out, const NameRow& row, const SeriesReportData& report) {
  out += "{\"name\":";
  AppendJsonString(out, row.name);
  out += ",\"types\":[";
  for (size_t i = 0; i < row.types.size(); ++i) {
    if (i > 0) out += ',';
    AppendJsonString(out, row.types[i]);
  }
  out += "],\"series\":";
  AppendJsonInteger(out, static_cast<int64_t>(row.series));
  out += ",\"active_series\":";
  AppendJsonInteger(out, static_cast<int64_t>(row.active_series));
  out += ",\"max_series_share\":";
  AppendJsonNumber(out, Share(row.series, report.max_series));
  out += ",\"samples\":";
  AppendJsonInteger(out, static_cast<int64_t>(row.samples));
  out += ",\"samples_per_second\":";
  AppendJsonNumber(out, PerSecond(row.samples, report.interval_seconds));
  out +=
      row.samples_lower_bound ? ",\"samples_lower_bound\":true" : ",\"samples_lower_bound\":false";
  out += ",\"dropped\":";
  AppendJsonInteger(out, static_cast<int64_t>(row.dropped));
  out += ",\"tag_keys\":[";
  for (size_t i = 0; i < row.tag_keys.size(); ++i) {
    if (i > 0) out += ',';
    out += "{\"key\":";
    AppendJsonString(out, row.tag_keys[i].key);
    out += ",\"distinct_values\":";
    AppendJsonInteger(out, static_cast<int64_t>(row.tag_keys[i].distinct_values));
    out += row.tag_keys[i].capped ? ",\"capped\":true}" : ",\"capped\":false}";
  }
  out += "]}";
}

void AppendRowsJson(std::string& out, const std::vector<NameRow>& rows, size_t top,
                    const SeriesReportData& report) {
  out += '[';
  for (size_t i = 0; i < rows.size() && i < top; ++i) {
    if (i > 0) out += ',';
    AppendRowJson(out, rows[i], report);
  }
  out += ']';
}

void AppendRowsTable(std::string& out, const char* title, const std::vector<NameRow>& rows,
                     size_t top, const SeriesReportData& report) {
  absl::StrAppendFormat(&out, "\n%s\n%10s %7s %10s %12s %8s  %s\n", title, "SERIES", "SHARE",
                        "ACTIVE", "SAMPLES/S", "DROPPED",
                        "NAME (TYPES)  TAG KEYS: DISTINCT VALUES");
  if (rows.empty()) out += "  (none)\n";
  for (size_t i = 0; i < rows.size() && i < top; ++i) {
    const NameRow& r = rows[i];
    std::string rate = absl::StrFormat("%s%.1f", r.samples_lower_bound ? ">=" : "",
                                       PerSecond(r.samples, report.interval_seconds));
    absl::StrAppendFormat(&out, "%10d %6.2f%% %10d %12s %8d  %s (", r.series,
                          100 * Share(r.series, report.max_series), r.active_series, rate,
                          r.dropped, Printable(r.name));
    for (size_t t = 0; t < r.types.size(); ++t) {
      if (t > 0) out += ',';
      out += r.types[t];
    }
    out += ')';
    for (size_t k = 0; k < r.tag_keys.size(); ++k) {
      absl::StrAppendFormat(&out, "%s%s: %d%s", k == 0 ? "  " : ", ", Printable(r.tag_keys[k].key),
                            r.tag_keys[k].distinct_values, r.tag_keys[k].capped ? "+" : "");
    }
    out += '\n';
  }
}

}  // namespace

std::string FormatSeriesReportJson(const SeriesReportData& report, size_t top) {
  std::string out = "{\"flush_sequence\":";
  AppendJsonInteger(out, static_cast<int64_t>(report.flush_sequence));
  out += ",\"flush_unix_seconds\":";
  AppendJsonInteger(out, report.flush_unix_seconds);
  out += ",\"interval_seconds\":";
  AppendJsonNumber(out, report.interval_seconds);
  out += ",\"max_series\":";
  AppendJsonInteger(out, static_cast<int64_t>(report.max_series));
  out += ",\"live_series\":";
  AppendJsonInteger(out, static_cast<int64_t>(report.live_series));
  out += ",\"max_series_share\":";
  AppendJsonNumber(out, Share(report.live_series, report.max_series));
  out += ",\"names\":";
  AppendJsonInteger(out, static_cast<int64_t>(report.names));
  out += ",\"by_series\":";
  AppendRowsJson(out, report.by_series, top, report);
  out += ",\"by_samples\":";
  AppendRowsJson(out, report.by_samples, top, report);
  out += ",\"dropped\":{\"max_series\":";
  AppendJsonInteger(out, static_cast<int64_t>(report.dropped_max_series));
  out += ",\"max_series_per_metric\":";
  AppendJsonInteger(out, static_cast<int64_t>(report.dropped_max_series_per_metric));
  out += ",\"max_series_total\":";
  AppendJsonInteger(out, static_cast<int64_t>(report.dropped_max_series_total));
  out += ",\"max_series_per_metric_total\":";
  AppendJsonInteger(out, static_cast<int64_t>(report.dropped_max_series_per_metric_total));
  out += ",\"by_name\":[";
  for (size_t i = 0; i < report.dropped_names.size(); ++i) {
    if (i > 0) out += ',';
    out += "{\"name\":";
    AppendJsonString(out, report.dropped_names[i].name);
    out += ",\"dropped\":";
    AppendJsonInteger(out, static_cast<int64_t>(report.dropped_names[i].dropped));
    out += '}';
  }
  out += "]}}\n";
  return out;
}

std::string FormatSeriesReportTable(const SeriesReportData& report, size_t top) {
  if (report.flush_sequence == 0) return "tallyd: no flush yet\n";
  std::string out = absl::StrFormat(
      "tallyd: %d live series of max_series %d (%.2f%%), %d names; flush #%d, interval %gs\n"
      "dropped this flush: %d by max_series, %d by max_series_per_metric "
      "(since start: %d, %d)\n",
      report.live_series, report.max_series, 100 * Share(report.live_series, report.max_series),
      report.names, report.flush_sequence, report.interval_seconds, report.dropped_max_series,
      report.dropped_max_series_per_metric, report.dropped_max_series_total,
      report.dropped_max_series_per_metric_total);
  AppendRowsTable(out, "TOP NAMES BY SERIES", report.by_series, top, report);
  AppendRowsTable(out, "TOP NAMES BY SAMPLES (>=: counters, gauges, sets count 1 per series)",
                  report.by_samples, top, report);
  if (!report.dropped_names.empty()) {
    absl::StrAppendFormat(&out, "\nDROPPED BY max_series_per_metric\n%10s  %s\n", "DROPPED",
                          "NAME");
    for (const aggregator::NameDrops& d : report.dropped_names) {
      absl::StrAppendFormat(&out, "%10d  %s\n", d.dropped, Printable(d.name));
    }
  }
  return out;
}

SeriesReport::SeriesReport(uint64_t max_series, SeriesReportOptions options)
    : options_(options), max_series_(max_series) {
  auto empty = std::make_shared<SeriesReportData>();
  empty->max_series = max_series;
  latest_ = std::move(empty);
}

void SeriesReport::SetMaxSeries(uint64_t max_series) {
  absl::MutexLock lock(&mu_);
  max_series_ = max_series;
}

void SeriesReport::Update(const Snapshot& snapshot) {
  uint64_t max_series;
  {
    absl::MutexLock lock(&mu_);
    max_series = max_series_;
  }
  // Built outside the lock: a scrape meanwhile reads the previous report.
  std::shared_ptr<SeriesReportData> report;
  {
    absl::MutexLock lock(&scratch_mu_);
    report = std::make_shared<SeriesReportData>(
        BuildSeriesReport(snapshot, max_series, options_, scratch_));
  }
  absl::MutexLock lock(&mu_);
  dropped_max_series_total_ += report->dropped_max_series;
  dropped_per_metric_total_ += report->dropped_max_series_per_metric;
  report->dropped_max_series_total = dropped_max_series_total_;
  report->dropped_max_series_per_metric_total = dropped_per_metric_total_;
  latest_ = std::move(report);
}

void SeriesReport::CountDrops(const Snapshot& snapshot) {
  absl::MutexLock lock(&mu_);
  dropped_max_series_total_ += snapshot.stats.series_dropped;
  dropped_per_metric_total_ += snapshot.stats.series_dropped_per_metric;
}

std::shared_ptr<const SeriesReportData> SeriesReport::Latest() const {
  absl::MutexLock lock(&mu_);
  return latest_;
}

}  // namespace tallyd::backends
