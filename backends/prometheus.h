// backends/prometheus.h: the Prometheus scrape endpoint (SPEC 4.1), on by default.
//
// A pull backend: Deliver() only folds each flush into the exposed state (PrometheusState,
// backends/prometheus_state.h: cumulative counters, latest gauges, summaries or histograms), and
// scrapes of /metrics, answered on civetweb threads, render that state straight into the text
// format (backends/prometheus_text.h), in HTTP chunks of a bounded size, gzip-compressed when the
// scraper accepts it, holding the state's lock for one batch of series at a time; no copy of the
// state is built. /healthz answers `200 ok`, /debug/series what floods the server
// (backends/series_report.h). Names and labels are statsd_exporter's
// (backends/prometheus_names.h).
//
// Choices where statsd_exporter and the SPEC leave room (README):
// - A sampled observation (`|@0.1`) weighs 1/rate in summary/histogram `_count`, `_sum` and
//   buckets, as statsd_exporter repeats it int(1/rate) times. The per-line rate is not kept
//   past the aggregator, so an interval's weight (weighted count / samples) is spread evenly
//   over its samples (exact when they share one rate, the usual case) and the weighted counts
//   rounded to whole numbers once per interval; `_count` stays the `+Inf` bucket. Quantiles are
//   of the unweighted samples (SPEC 3).
// - A mapping rule (SPEC 7) chooses its series' observer type, buckets, quantiles, help and
//   scale. A family's buckets, quantiles and help are those of its first series' rule (a later
//   series of the same name under another rule shares them, as statsd_exporter's metric vector
//   does); a rule giving the name another type is a type conflict. `scale` multiplies counter,
//   gauge and observed values (after timers' ms -> s), as statsd_exporter applies it.
// - Timers, histograms and distributions all follow `timer_type`; only timers are divided by 1000.
//   Series whose Prometheus name and labels coincide after sanitizing ("a.b" and "a-b") are one
//   Prometheus series: counters add, gauges keep the last value, summaries take the quantiles of
//   the last one reported. A tag with an empty value (`k:`) is no label, as Prometheus reads
//   `k=""`, so `x#k:` and `x` are one series too.
// - Labels: a tag key that sanitizes to an empty or "__"-prefixed name (`__name__`), "quantile"
//   on a summary, "le" on a histogram (the serializer adds those) and the second of two keys that
//   sanitize alike (`a.b`, `a_b`: the first in canonical tag order wins) are dropped and counted
//   (tallyd_prometheus_invalid_labels_total); the series keeps its other labels.
// - A name is owned by the first Prometheus type that uses it (counter, gauge, summary or
//   histogram) until all its series expire; a series of another type is refused and counted once
//   (tallyd_prometheus_type_conflicts_total). A summary "x" also owns "x_sum" and "x_count", a
//   histogram "x_bucket" too; names starting with "tallyd_" belong to tallyd's own metrics and
//   the exposer_* names prometheus-cpp's Exposer exported (before tallyd answered scrapes
//   itself) stay refused.
// - A flush whose counter count is negative is not added (a Prometheus counter never decreases)
//   and is counted (tallyd_prometheus_negative_counts_total).
// - A counter total, or a summary/histogram _sum, that an addition would take to infinity (or
//   NaN) is held at its last finite value and the addition counted
//   (tallyd_prometheus_overflows_total); for a summary/histogram the flush's _count and buckets
//   are held with it, so _count stays the +Inf bucket.
// - Client-timestamped points (|T) are applied without their timestamp: a counter point adds,
//   a gauge point sets the value (the newest timestamp wins), a set point counts 1 per point of
//   the flush, a timer/histogram/distribution point is one more observation (and gives the
//   quantiles when the series had no aggregated samples in that flush). A series fed only by
//   points stays exposed for `series_ttl` after its last point.
// - A series disappears from /metrics when it is missing from the latest snapshot (the aggregator
//   lists idle series until they expire after series_ttl).
#ifndef TALLYD_BACKENDS_PROMETHEUS_H_
#define TALLYD_BACKENDS_PROMETHEUS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "backends/backend.h"
#include "backends/debug_endpoint.h"
#include "backends/prometheus_state.h"

struct mg_connection;
struct mg_context;

namespace tallyd::backends {

class SeriesReport;

struct PrometheusOptions {
  using TimerType = PrometheusTimerType;

  // "host:port" for the scrape endpoint; port 0 picks a free port (see PrometheusBackend::port()).
  std::string listen = "0.0.0.0:9102";
  TimerType timer_type = TimerType::kSummary;
  // Summary quantiles, each in [0, 1], over the most recent interval that had samples.
  std::vector<double> quantiles = {0.5, 0.9, 0.99};
  // Histogram upper bounds, strictly ascending (seconds for timers); +Inf is implied.
  std::vector<double> buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  // How long a series fed only by client-timestamped points stays after its last point.
  absl::Duration series_ttl = absl::Minutes(5);
  // civetweb worker threads serving scrapes.
  int scrape_threads = 2;

  PrometheusConversionOptions Conversion() const {
    return {timer_type, quantiles, buckets, series_ttl, {}};
  }
  // aggregation.max_series, for the shares /debug/series shows.
  uint64_t max_series = 1000000;
};

class PrometheusBackend : public Backend {
 public:
  // Validates the options and starts listening; an address that cannot be bound is an error
  // naming it.
  static absl::StatusOr<std::unique_ptr<PrometheusBackend>> Create(PrometheusOptions options);
  ~PrometheusBackend() override;

  std::string_view name() const override { return "prometheus"; }
  // Never fails: scrapes pull what the last flush left. Every flush is folded into the state
  // once, through Observe, also those the runner's full queue drops (the exposed counters are
  // totals: a flush left out would be increments lost for good); Deliver folds a flush nobody
  // observed (a caller driving Deliver alone), then builds /debug/series' report, only for a
  // flush with no newer one queued (SetNewerQueued), since the next delivery replaces it: at 1M
  // series the report costs several times the fold, and a backlog behind a slow first fold then
  // drains at the fold's pace.
  Delivery Deliver(const Flush& flush) override;
  bool observes_flushes() const override { return true; }
  void Observe(const Flush& flush) override;
  void SetNewerQueued(size_t newer) override { newer_queued_ = newer; }

  // Takes a new series_ttl (a SIGHUP changed aggregation.series_ttl) from the next flush on,
  // keeping the exposed state. Any thread.
  void SetSeriesTtl(absl::Duration series_ttl);
  // Takes a new aggregation.max_series for /debug/series' shares. Any thread.
  void SetMaxSeries(uint64_t max_series);

  // What GET /debug/config answers (server/ renders it at start-up and after each SIGHUP
  // reload, secrets masked). Any thread.
  void SetConfigPage(std::string text, std::string json);
  std::shared_ptr<const ConfigPage> config_page() const;

  // The port actually bound (the one chosen by the kernel when `listen` asked for port 0).
  int port() const { return port_; }

  // Answers one GET /metrics on a civetweb thread (AnswerRequest in prometheus.cc).
  void Scrape(mg_connection* conn) const;
  // What /debug/series shows (answered on civetweb threads too).
  const SeriesReport& series_report() const { return *series_report_; }

 private:
  PrometheusBackend() = default;

  std::unique_ptr<PrometheusState> state_;       // the exposed state (backends/prometheus_state.h)
  std::unique_ptr<SeriesReport> series_report_;  // fed by Deliver, read by /debug/series
  size_t newer_queued_ = 0;                      // the runner's, for the next Deliver
  // The newest snapshot sequence folded in (Observe; flushes come in order), and, for a flush
  // whose snapshot has no sequence (tests), the last one folded, held so that its address is
  // not reused by another. Backend thread only.
  uint64_t observed_sequence_ = 0;
  Flush observed_unsequenced_;
  // civetweb's listening sockets, shut down first when stopping (see the destructor).
  std::vector<int> listening_fds_;
  int port_ = 0;
  mg_context* server_ = nullptr;  // stopped in the destructor, before state_ goes
  // Swapped whole by SetConfigPage, read by civetweb threads: a scrape keeps its copy alive.
  mutable absl::Mutex config_mu_;
  std::shared_ptr<const ConfigPage> config_page_ ABSL_GUARDED_BY(config_mu_);
};

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_PROMETHEUS_H_
