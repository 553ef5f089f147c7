#include "backends/series_report.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "backends/json_text.h"

namespace tallyd::backends {
namespace {

using aggregator::MetricType;
using aggregator::Snapshot;

// Per name, for the flush being reported; string_views point into the snapshot's keys.
struct NameTally {
  std::string_view name;
  uint32_t type_mask = 0;
  uint64_t series = 0;
  uint64_t active_series = 0;
  uint64_t samples = 0;
  bool samples_lower_bound = false;
};

struct DistinctValues {
  absl::flat_hash_set<std::string_view> values;
  bool capped = false;
};

// Tag keys of one kept name, each with its distinct values up to the caps.
struct TagTally {
  absl::flat_hash_map<std::string_view, DistinctValues> keys;
};

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

// The `n` tallies ranking first by `field`, most first, ties by name (stable output).
std::vector<const NameTally*> TopBy(const std::vector<const NameTally*>& all,
                                    uint64_t NameTally::*field, size_t n) {
  std::vector<const NameTally*> out = all;
  auto before = [field](const NameTally* a, const NameTally* b) {
    if (a->*field != b->*field) return a->*field > b->*field;
    return a->name < b->name;
  };
  n = std::min(n, out.size());
  std::partial_sort(out.begin(), out.begin() + n, out.end(), before);
  out.resize(n);
  // A name with nothing to rank (no samples) is not "flooding".
  while (!out.empty() && out.back()->*field == 0) out.pop_back();
  return out;
}

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

SeriesReportData BuildSeriesReport(const Snapshot& snapshot, uint64_t max_series,
                                   const SeriesReportOptions& options) {
  SeriesReportData report;
  report.flush_sequence = snapshot.sequence;
  report.flush_unix_seconds = snapshot.flush_unix_seconds;
  report.interval_seconds = absl::ToDoubleSeconds(snapshot.interval);
  report.max_series = max_series;
  for (uint64_t n : snapshot.stats.series_active) report.live_series += n;
  report.dropped_max_series = snapshot.stats.series_dropped;
  report.dropped_max_series_per_metric = snapshot.stats.series_dropped_per_metric;
  report.dropped_names = snapshot.stats.series_dropped_top_names;

  absl::flat_hash_map<std::string_view, NameTally> by_name;
  for (const aggregator::SeriesValue& v : snapshot.series) {
    NameTally& t = by_name[v.key->name()];
    t.name = v.key->name();
    t.type_mask |= 1u << static_cast<int>(v.key->type());
    ++t.series;
    if (v.idle) continue;
    ++t.active_series;
    if (IsSampled(v.key->type())) {
      if (const aggregator::SampleSummary* s = snapshot.SummaryOf(v)) t.samples += s->samples;
    } else {
      ++t.samples;
      t.samples_lower_bound = true;
    }
  }
  for (const aggregator::TimedPoint& p : snapshot.timestamped_points) {
    NameTally& t = by_name[p.key->name()];
    t.name = p.key->name();
    t.type_mask |= 1u << static_cast<int>(p.key->type());
    ++t.samples;
  }
  report.names = by_name.size();

  std::vector<const NameTally*> all;
  all.reserve(by_name.size());
  for (const auto& [name, t] : by_name) all.push_back(&t);
  std::vector<const NameTally*> top_series = TopBy(all, &NameTally::series, options.top_names);
  std::vector<const NameTally*> top_samples = TopBy(all, &NameTally::samples, options.top_names);

  // Second pass, only over the kept names' series: distinct values per tag key.
  absl::flat_hash_map<std::string_view, TagTally> tags;
  for (const NameTally* t : top_series) tags.try_emplace(t->name);
  for (const NameTally* t : top_samples) tags.try_emplace(t->name);
  for (const aggregator::SeriesValue& v : snapshot.series) {
    auto it = tags.find(v.key->name());
    if (it != tags.end()) CountTags(*v.key, options, it->second);
  }
  auto rows = [&](const std::vector<const NameTally*>& top) {
    std::vector<NameRow> out;
    for (const NameTally* t : top) {
      NameRow row = ToRow(*t);
      row.tag_keys = TopTagKeys(tags[t->name], options.top_tag_keys);
      for (const aggregator::NameDrops& d : report.dropped_names) {
        if (d.name == row.name) row.dropped = d.dropped;
      }
      out.push_back(std::move(row));
    }
    return out;
  };
  report.by_series = rows(top_series);
  report.by_samples = rows(top_samples);
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
  auto report =
      std::make_shared<SeriesReportData>(BuildSeriesReport(snapshot, max_series, options_));
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
