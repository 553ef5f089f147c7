// backends/series_report.h: "what is flooding me" — the metric names with the most live series
// and the most samples in the last flush, served as GET /debug/series (issue 13).
//
// Computed from each flush on the backend's thread, never on the hot path: one pass over the
// snapshot groups series by name, a second one counts distinct tag values for the few names
// kept. What is kept between flushes is bounded by the options (top names x top tag keys),
// whatever the number of series; the per-flush work is transient and linear in the snapshot.
#ifndef TALLYD_BACKENDS_SERIES_REPORT_H_
#define TALLYD_BACKENDS_SERIES_REPORT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
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
  mutable absl::Mutex mu_;
  uint64_t max_series_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_max_series_total_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_per_metric_total_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<const SeriesReportData> latest_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_SERIES_REPORT_H_
