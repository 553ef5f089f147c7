// backends/series_report.h: "what is flooding me" — the metric names with the most live series
// and the most samples in the last flush, served as GET /debug/series (issue 13).
//
// Computed from each flush on the backend's thread, never on the hot path: one pass over the
// snapshot hashes each series' name into a 16-byte entry (no allocation per series; the series
// of a name met again soon fold into one), the entries are sorted by hash so that a name's are
// adjacent, one walk over them tallies each name and keeps the top names in bounded heaps (names
// with one entry through a bitmap and a pass in snapshot order), and a last pass counts distinct
// tag values for the kept names' series only. What the report keeps is bounded by the options
// (top names x top tag keys) whatever the number of series; the one buffer linear in the snapshot
// is the entries, at most 16 B per series, which SeriesReport reuses from flush to flush.
#ifndef TALLYD_BACKENDS_SERIES_REPORT_H_
#define TALLYD_BACKENDS_SERIES_REPORT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "aggregator/snapshot.h"

namespace tallyd::backends {

struct SeriesReportOptions {
  size_t top_names = 20;              // names kept in each ranking (a request may ask fewer)
  size_t top_tag_keys = 5;            // tag keys shown per name, most distinct values first
  size_t tag_keys_per_name = 16;      // tag keys counted per name, at most
  size_t distinct_values_cap = 1000;  // distinct values counted per tag key, at most
};

// One tag key of a name and how many distinct values its series hold (at most the cap).
struct TagKeyCount {
  std::string key;
  uint64_t distinct_values = 0;
  bool capped = false;  // the count reached distinct_values_cap: there may be more
};

struct NameRow {
  std::string name;
  std::vector<std::string> types;  // "counter", "timer", ... in MetricType order
  uint64_t series = 0;             // live series (listed in the flush, idle or not)
  uint64_t active_series = 0;      // series with samples this flush
  // Samples this flush: exact for timers, histograms, distributions and client-timestamped
  // points; a counter, gauge or set series counts 1 when active (the snapshot keeps no line
  // count for them), so then it is a lower bound (samples_lower_bound).
  uint64_t samples = 0;
  bool samples_lower_bound = false;
  uint64_t dropped = 0;  // refused by max_series_per_metric this flush (if among the top drops)
  std::vector<TagKeyCount> tag_keys;
};

// One flush's report.
struct SeriesReportData {
  uint64_t flush_sequence = 0;  // 0: no flush yet
  int64_t flush_unix_seconds = 0;
  double interval_seconds = 0;
  uint64_t max_series = 0;
  uint64_t live_series = 0;
  uint64_t names = 0;  // distinct names in the flush
  std::vector<NameRow> by_series;
  std::vector<NameRow> by_samples;
  uint64_t dropped_max_series = 0;             // this flush
  uint64_t dropped_max_series_per_metric = 0;  // this flush
  std::vector<aggregator::NameDrops> dropped_names;
  uint64_t dropped_max_series_total = 0;  // since start
  uint64_t dropped_max_series_per_metric_total = 0;
};

// Builds the report of one snapshot (pure; SeriesReport below keeps the latest).
SeriesReportData BuildSeriesReport(const aggregator::Snapshot& snapshot, uint64_t max_series,
                                   const SeriesReportOptions& options);

// One series (or client-timestamped point) of the snapshot in the report's first pass: its
// name's hash and what it adds to its name's tally, 16 bytes so that sorting 1M of them is cheap.
struct SeriesReportEntry {
  uint64_t name_hash = 0;
  uint32_t index = 0;  // into snapshot.series, then (from series.size() on) timestamped_points
  uint32_t info = 0;   // type, active, lower bound, samples (see series_report.cc)
};

// A 64-bit hash of a metric name. Names whose hashes are equal are still told apart (their
// bytes are compared), only more slowly: tests inject a colliding one.
using NameHashFunction = uint64_t (*)(std::string_view name);
uint64_t DefaultNameHash(std::string_view name);

// The same report, the entries built in `scratch` (its capacity reused from call to call, and
// released after a call that used less than half of it) and names hashed by `hash`.
SeriesReportData BuildSeriesReport(const aggregator::Snapshot& snapshot, uint64_t max_series,
                                   const SeriesReportOptions& options,
                                   std::vector<SeriesReportEntry>& scratch,
                                   NameHashFunction hash = DefaultNameHash);

// `top` names of each ranking at most. The JSON is one object whatever bytes names and tags hold;
// the table escapes control bytes so a terminal shows them and never obeys them.
std::string FormatSeriesReportJson(const SeriesReportData& report, size_t top);
std::string FormatSeriesReportTable(const SeriesReportData& report, size_t top);

// The latest report: Update() on the backend's thread, Latest() on scrape threads.
class SeriesReport {
 public:
  explicit SeriesReport(uint64_t max_series, SeriesReportOptions options = {});
  void SetMaxSeries(uint64_t max_series);  // a reload; any thread
  void Update(const aggregator::Snapshot& snapshot);
  // A flush whose report is not built (a newer one follows): its drops still count in the
  // totals, which the next report shows.
  void CountDrops(const aggregator::Snapshot& snapshot);
  std::shared_ptr<const SeriesReportData> Latest() const;
  size_t top_names() const { return options_.top_names; }

 private:
  const SeriesReportOptions options_;
  // The entries of the last report, kept for the next flush: at most 16 B per series (under a
  // third of what the snapshot itself holds per series: its 24-byte SeriesValue and the key's
  // 24-byte header and bytes), which spares a flush allocating and faulting them in again and the
  // process' RSS a swing of that size every flush. Released when the series shrink to less than
  // half (BuildSeriesReport). Its own lock: Update is the backend thread's, but need not be.
  absl::Mutex scratch_mu_;
  std::vector<SeriesReportEntry> scratch_ ABSL_GUARDED_BY(scratch_mu_);
  mutable absl::Mutex mu_;
  uint64_t max_series_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_max_series_total_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_per_metric_total_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<const SeriesReportData> latest_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_SERIES_REPORT_H_
