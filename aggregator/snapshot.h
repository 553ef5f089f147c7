// aggregator/snapshot.h: one flush, as every backend reads it (SPEC 3, 4).
//
// The flush side builds a Snapshot once per interval and hands out std::shared_ptr<const Snapshot>;
// backends read it on their own threads, so it is immutable and self-contained: series identities
// are shared SeriesKeys, values and distributions are owned copies. Backends pick the names they
// need (Etsy stat names come with the percentile specs).
#ifndef TALLYD_AGGREGATOR_SNAPSHOT_H_
#define TALLYD_AGGREGATOR_SNAPSHOT_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "aggregator/series_key.h"
#include "aggregator/sketch.h"
#include "protocol/parser.h"

namespace tallyd::aggregator {

// Etsy's name suffix for percentile p: 90 -> "90", 99.9 -> "99_9", -10 -> "top10".
std::string PercentileSuffix(double p);

// One configured percentile and the Etsy stat names derived from it.
struct PercentileSpec {
  double p = 0;
  std::string suffix;            // "90", "99_9", "top10"
  std::string count_name;        // "count_90"
  std::string mean_name;         // "mean_90"
  std::string bound_name;        // "upper_90", or "lower_top10" for a negative p
  std::string sum_name;          // "sum_90"
  std::string sum_squares_name;  // "sum_squares_90"
};
PercentileSpec MakePercentileSpec(double p);

// Etsy's per-percentile stats over the k = round(|p|/100 * n) smallest (or, for negative p,
// largest) samples. `present` is false when k is 0: Etsy leaves such a percentile out.
struct PercentileValue {
  bool present = false;
  double count = 0;
  double mean = 0;
  double bound = 0;  // upper_p (largest of the k), or lower_topP (smallest of the top k)
  double sum = 0;
  double sum_squares = 0;
};

// The interval's samples of one series, for quantiles and buckets: the exact sorted samples while
// the series stayed under exact_samples, its sketch beyond. Sample rates do not weight it.
class ValueDistribution {
 public:
  ValueDistribution() = default;
  static ValueDistribution Exact(std::vector<double> sorted);
  static ValueDistribution Sketched(std::shared_ptr<const DDSketch> sketch);

  bool exact() const { return sketch_ == nullptr; }
  uint64_t count() const;
  // 0-based rank in ascending order.
  double ValueAtRank(uint64_t rank) const;
  // Nearest-rank quantile (q in [0, 1]): the sample of rank ceil(q * n) - 1.
  double Quantile(double q) const;
  // Samples <= x (Prometheus cumulative buckets).
  uint64_t CountAtOrBelow(double x) const;
  const std::vector<double>& sorted_samples() const { return sorted_; }  // empty when sketched
  const DDSketch* sketch() const { return sketch_.get(); }

 private:
  std::vector<double> sorted_;
  std::shared_ptr<const DDSketch> sketch_;
};

// What timers, histograms and distributions report for one interval (Etsy statsd 0.9.0 names).
struct SampleSummary {
  double count = 0;     // samples weighted by 1/sample_rate
  double count_ps = 0;  // count per second of the flush interval
  double sum = 0;
  double sum_squares = 0;
  double lower = 0;
  double upper = 0;
  double mean = 0;
  double median = 0;
  double std = 0;                            // population standard deviation
  uint64_t samples = 0;                      // unweighted sample count (n)
  std::vector<PercentileValue> percentiles;  // parallel to Snapshot::percentiles
  ValueDistribution distribution;
  // Distributions only: the mergeable sketch of the interval (built from the samples when exact).
  std::shared_ptr<const DDSketch> sketch;
};

// 24 bytes: a snapshot holds one per reported series (a million per flush at 1M series, and a
// backend's queue may hold several flushes). A counter's rate is not stored: Snapshot::RateOf.
struct SeriesValue {
  // Initialize by name ({.key = k, .value = 3}): a positional initializer fails to compile at
  // this member, so a change of the field order cannot silently change what one means.
  struct ByName {};
  SeriesKeyRef key;
  [[no_unique_address]] ByName by_name = {};
  double value = 0;      // counter: count (sum of value/rate); gauge: value; set: distinct count
  int32_t summary = -1;  // timer/histogram/distribution: index into Snapshot::summaries
  // No samples this interval, not yet expired. Counters then report 0 (count and rate), gauges
  // their last value; timers, histograms, distributions and sets have nothing to report (summary
  // is -1, value 0) and are listed only so Graphite can write count 0 as Etsy does (SPEC 4.2).
  bool idle = false;
};
static_assert(sizeof(SeriesValue) == 24);

// A client-timestamped sample (|T): never merged, sent with its own time. Counters carry
// value/sample_rate, sets 1 per value.
struct TimedPoint {
  SeriesKeyRef key;
  double value = 0;
  int64_t timestamp = 0;  // unix seconds
};

struct EventRecord {
  std::string title;
  std::string text;
  int64_t timestamp = 0;
  std::string hostname;
  std::string aggregation_key;
  std::string priority;
  std::string source_type;
  std::string alert_type;
  std::string tags;  // canonical with global tags, as SeriesKey::tags
};

struct ServiceCheckRecord {
  std::string name;
  int status = 0;
  int64_t timestamp = 0;
  std::string hostname;
  std::string tags;  // canonical with global tags
  std::string message;
};

// Drops by max_series_per_metric of one metric name in one flush.
struct NameDrops {
  std::string name;
  uint64_t dropped = 0;
};

// Counters of what the aggregator did or refused (SPEC 5), for this flush unless noted.
struct FlushStats {
  // How many names series_dropped_top_names lists at most.
  static constexpr size_t kTopDroppedNames = 10;

  std::array<uint64_t, protocol::kMetricTypeCount> series_active{};  // live series, by type
  uint64_t series_created = 0;
  uint64_t series_expired = 0;
  uint64_t series_dropped = 0;  // lines refused by max_series (see Aggregator)
  uint64_t timestamped_points_dropped = 0;
  uint64_t events_dropped = 0;
  uint64_t service_checks_dropped = 0;
  uint64_t shards_merged = 0;
  uint64_t shards_late = 0;  // shards that had not rotated: their data goes into the next flush
  // Refused by max_series_per_metric: lines a shard refused, plus, as series_dropped counts them,
  // each refused series a shard reported samples for.
  uint64_t series_dropped_per_metric = 0;
  // The names with the most of those drops this flush, most first (ties by name), at most
  // kTopDroppedNames: a bounded label set for self-metrics; the rest are only in the total.
  std::vector<NameDrops> series_dropped_top_names;
  // Sums held at their last finite value instead of overflowing to Inf (counters, Etsy gauge
  // deltas, timer count / sum / sum_squares, summary sums), each time one was held, in a shard,
  // when shards merge, or when a summary is computed: one huge series may count several times.
  uint64_t overflows = 0;
  // Lines a mapping rule dropped (action: drop, or a `name` that expanded to "", which
  // statsd_exporter drops too).
  uint64_t mapping_dropped = 0;
};

struct Snapshot {
  uint64_t sequence = 0;  // 1 for the first flush
  absl::Time flush_time;
  int64_t flush_unix_seconds = 0;
  absl::Duration interval;  // the configured flush interval; rates divide by it
  std::vector<PercentileSpec> percentiles;
  std::vector<SeriesValue> series;  // unordered
  std::vector<SampleSummary> summaries;
  std::vector<TimedPoint> timestamped_points;
  std::vector<EventRecord> events;
  std::vector<ServiceCheckRecord> service_checks;
  FlushStats stats;

  const SampleSummary* SummaryOf(const SeriesValue& series_value) const {
    return series_value.summary < 0 ? nullptr : &summaries[series_value.summary];
  }
  // A counter's rate: its count per second of the flush interval (SPEC 3), 0 when the interval
  // is not positive. A finite count whose rate would overflow gets the largest finite value of
  // its sign (the aggregator counts that in stats.overflows).
  double RateOf(const SeriesValue& series_value) const;
};

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_SNAPSHOT_H_
