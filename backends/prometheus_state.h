// backends/prometheus_state.h: tallyd flushes -> Prometheus series (SPEC 4.1, 4.5), the one
// naming and conversion code path shared by the scrape endpoint (prometheus.h) and remote_write.
//
// A PrometheusState folds each flush into cumulative Prometheus state (Update) and lets a reader
// walk it (Visit) without a copy. It knows nothing of HTTP or listening. The conversion choices
// (names, labels, types, conflicts, negative counts, overflows, points, expiry) are documented in
// backends/prometheus.h; this header is the contract for the code that reads the state.
//
// Threads: Update from one thread at a time (a backend's Deliver); SetSeriesTtl, Visit,
// VisitBatch and counts() from any thread, concurrently with Update (one internal mutex; Visit
// holds it for the whole walk, VisitBatch per batch; Update only for short steps: it resolves a
// flush's new series without it, so a walk during a large first flush is not held up and sees
// the series as of the last publication (a flush bringing as many new series as the state holds
// publishes them in a few growing steps), with values as of the last batch applied).
//
// Memory: labels (and names that do not sanitize byte for byte) in one chunked byte arena, other
// names read from the SeriesKeys (held), series and families (24 B each) as records in chunked
// vectors, a flat hash set of family indices (labeled series have one more), one sorted order of
// the series, a 12-byte-slot resolution cache for tagged keys and 4-8 B per untagged one; about
// 70 B per untagged counter series at 1M (bench/README.md), the names' bytes being the keys'.
#ifndef TALLYD_BACKENDS_PROMETHEUS_STATE_H_
#define TALLYD_BACKENDS_PROMETHEUS_STATE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "backends/backend.h"

namespace tallyd::backends {

enum class PrometheusTimerType { kSummary, kHistogram };

// What decides how a flush becomes Prometheus series (the listening options are the scrape's).
struct PrometheusConversionOptions {
  // Timers, histograms and distributions become summaries or histograms.
  PrometheusTimerType timer_type = PrometheusTimerType::kSummary;
  // Summary quantiles, each in [0, 1], over the most recent interval that had samples.
  std::vector<double> quantiles = {0.5, 0.9, 0.99};
  // Histogram upper bounds, strictly ascending (seconds for timers); +Inf is implied.
  std::vector<double> buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  // How long a series fed only by client-timestamped points stays after its last point.
  absl::Duration series_ttl = absl::Minutes(5);
  // Exposition names user series may not take besides "tallyd_*" (the scrape passes the names
  // its HTTP server exports itself).
  std::vector<std::string> reserved_names;
};

// InvalidArgument naming the bad option ("prometheus quantiles: 2 is outside [0, 1]").
absl::Status ValidatePrometheusConversionOptions(const PrometheusConversionOptions& options);

// One byte: a family record keeps it beside a flag in 24 bytes (prometheus_state.cc).
enum class PrometheusType : uint8_t { kCounter, kGauge, kSummary, kHistogram };
// "counter", "gauge", "summary", "histogram": the text format's # TYPE word.
std::string_view PrometheusTypeName(PrometheusType type);

struct PrometheusLabel {
  std::string_view name;   // a valid label name, never "__"-prefixed, never quantile/le
  std::string_view value;  // raw bytes (never empty); escape them for the text format
};

// One metric family. Views are valid only during the callback that receives them.
struct PrometheusFamilyView {
  std::string_view name;  // sanitized; for summaries/histograms the base name (no _sum etc.)
  PrometheusType type = PrometheusType::kCounter;
  // One line (no newline); tallyd's own text, or a mapping rule's `help` (which may hold `\`,
  // escaped by the text writer).
  std::string_view help;
};

// One series of the family last announced. Views are valid only during the callback.
struct PrometheusSeriesView {
  std::span<const PrometheusLabel> labels;  // sorted by name, names unique
  // Counter: cumulative total since the series appeared; gauge: current value.
  double value = 0;
  // Summary and histogram: cumulative since the series appeared (`count` is also the +Inf
  // bucket of a histogram).
  uint64_t count = 0;
  double sum = 0;
  // Summary: quantile levels (the family's: its mapping rule's or the options' `quantiles`)
  // and their values over the latest interval with samples; both empty until the series had one.
  std::span<const double> quantile_levels;
  std::span<const double> quantile_values;
  // Histogram: the family's `buckets` (its mapping rule's, else the options'; upper bounds,
  // ascending, +Inf not listed) and the cumulative count at or below each.
  std::span<const double> bucket_bounds;
  std::span<const uint64_t> bucket_counts;
};

// Receives the state family by family: Family() once, then Series() for each of its series.
class PrometheusVisitor {
 public:
  virtual ~PrometheusVisitor() = default;
  virtual void Family(const PrometheusFamilyView& family) = 0;
  virtual void Series(const PrometheusSeriesView& series) = 0;
};

// What the conversion refused or held, since the state was created.
struct PrometheusConversionCounts {
  uint64_t type_conflicts = 0;   // series refused: name owned by another type (once per series)
  uint64_t invalid_labels = 0;   // tags dropped: key not a usable label name
  uint64_t negative_counts = 0;  // negative counter counts not added
  uint64_t overflows = 0;        // additions refused because the total would not be finite
};

class PrometheusState {
 public:
  // `options` must pass ValidatePrometheusConversionOptions.
  explicit PrometheusState(PrometheusConversionOptions options);
  ~PrometheusState();
  PrometheusState(const PrometheusState&) = delete;
  PrometheusState& operator=(const PrometheusState&) = delete;

  // Folds one flush in: its snapshot's series and points, and its self-metrics (kept until a
  // flush brings new ones). Series missing from the snapshot and past their points' series_ttl
  // are forgotten.
  void Update(const Flush& flush);
  // From the next Update on; keeps the state.
  void SetSeriesTtl(absl::Duration series_ttl);
  // Tests: Update calls `pause` after each publication of new series in the middle of a flush
  // (the rest of the flush still to be resolved), without the state's lock.
  void SetPauseForTesting(std::function<void()> pause);

  // Walks everything under the state's lock (Update waits meanwhile): first tallyd's own
  // metrics (Flush::self_metrics of the latest flush that had them, under their own names such
  // as tallyd_packets_received_total; counters or gauges, grouped one family per name in the
  // order they first appear), then the converted series, families in name order, series in
  // label order. The conversion counts are not included: see counts().
  void Visit(PrometheusVisitor& visitor) const;

  // Where a batched walk stands between VisitBatch calls. Start with a default-constructed one.
  // Its fields are the state's business (public only so the implementation can reach them).
  struct Cursor {
    bool done() const { return finished; }

    bool self_metrics_done = false;
    bool finished = false;
    uint64_t generation = 0;  // of the series order `position` belongs to
    size_t position = 0;
    bool has_last = false;  // a series was given; its family is still open
    std::string last_family;
    PrometheusType last_type = PrometheusType::kCounter;
    std::string last_labels;  // encoded as the state keeps them
  };
  // The same walk as Visit, holding the lock for at most about `max_series` series per call
  // (and for all self-metrics in the first call), so that a slow reader (a scrape over a slow
  // connection) does not hold Update back between calls. Series created or forgotten between
  // calls may or may not be seen; none is given twice and a family is announced once (one
  // whose type changed between calls is skipped). Sets cursor.done() after the last series.
  void VisitBatch(Cursor& cursor, size_t max_series, PrometheusVisitor& visitor) const;

  PrometheusConversionCounts counts() const;
  // counts() as self-metrics, named as the scrape exports them
  // (tallyd_prometheus_type_conflicts_total, _invalid_labels_total, _negative_counts_total,
  // _overflows_total), with their help.
  std::vector<SelfMetric> CountsAsSelfMetrics() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_PROMETHEUS_STATE_H_
