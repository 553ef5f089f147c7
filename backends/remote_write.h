// backends/remote_write.h: the Prometheus remote write backend (SPEC 4.5): each flush POSTed as
// remote write 1.0 to Mimir, Cortex, Thanos Receive, VictoriaMetrics or Prometheus' receiver.
//
// RemoteWriteBackend owns one PrometheusState, the conversion the scrape endpoint uses too (one
// code path: same names, labels, cumulative counters, summaries or histograms), folds each flush
// into it and sends the whole state, every live series re-sent with the flush time in ms, cut into
// requests of at most `max_samples_per_send` samples (RemoteWriteEncoder). BackendRunner gives it
// its own thread and the bounded in-order queue, so a dead or slow receiver delays nothing else.
// The requests go out through an HttpDelivery (one kept-alive libcurl connection). Outcomes per
// request: 2xx sent; network errors, timeouts, 5xx and 429 retried (the flush's remaining
// requests only, after the peer's Retry-After when it gave one, else the runner's capped
// backoff); another 4xx is logged with the start of the response body and the request dropped
// (remote write 1.0: the receiver will never take it), the flush's other requests still sent.
// Credentials (basic auth, bearer token) travel only in the Authorization header: never logged,
// redacted from every message. A stop (StopBy) abandons a request in flight at its deadline.
// The state folds each flush in through Observe, which the runner
// calls on this backend's thread for every flush in order, also for one its full queue drops
// before delivery: after an outage longer than `max_buffered_flushes` the pushed counter and
// histogram totals still hold every flush's counts (the dropped flushes' own timestamps are lost,
// not their counts). Deliver sends the state as of the flush it delivers, stamped with its time.
#ifndef TALLYD_BACKENDS_REMOTE_WRITE_H_
#define TALLYD_BACKENDS_REMOTE_WRITE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "backends/backend.h"
#include "backends/http_delivery.h"
#include "backends/prometheus_state.h"
#include "backends/remote_write_format.h"

namespace tallyd::backends {

struct RemoteWriteOptions {
  std::string url;  // the receiver's push URL, path included
  PrometheusConversionOptions conversion;
  // Added to each series lacking the label; any order, names unique; empty values are no label.
  RemoteWriteLabels external_labels;
  size_t max_samples_per_send = 2000;
  absl::Duration timeout = absl::Seconds(30);  // connect and whole request, each request
  absl::Duration max_backoff = absl::Seconds(10);
  std::string username;  // basic auth, with password
  std::string password;
  std::string bearer_token;
  RemoteWriteLabels headers;  // extra headers (X-Scope-OrgID)
  bool self_metrics = true;   // push tallyd's own metrics too
};

// What the backend did, since it started (for tests and logs).
struct RemoteWriteStats {
  uint64_t requests_sent = 0;      // answered 2xx
  uint64_t requests_failed = 0;    // network error, timeout, 5xx, 429 (retried), stopped
  uint64_t requests_rejected = 0;  // other 4xx: dropped
  uint64_t samples_sent = 0;
  uint64_t bytes_sent = 0;  // compressed bodies of the requests answered 2xx
  // Flushes that reached neither Observe nor Deliver (their counts are missing from the
  // cumulative totals): 0 under BackendRunner; only a caller of Deliver alone skipping flushes.
  uint64_t flushes_unseen = 0;
};

class RemoteWriteBackend : public Backend {
 public:
  // Fails on an empty or non-http(s) URL, bad conversion options, or when libcurl cannot start.
  static absl::StatusOr<std::unique_ptr<RemoteWriteBackend>> Create(RemoteWriteOptions options);
  RemoteWriteBackend(const RemoteWriteBackend&) = delete;
  RemoteWriteBackend& operator=(const RemoteWriteBackend&) = delete;

  std::string_view name() const override { return "remote_write"; }
  Delivery Deliver(const Flush& flush) override;
  bool observes_flushes() const override { return true; }
  void Observe(const Flush& flush) override;  // folds the flush into the state, once
  BackoffPolicy backoff() const override { return {.max = options_.max_backoff}; }
  void StopBy(absl::Time deadline) override;  // any thread

  // Takes a new series_ttl (aggregation.series_ttl on SIGHUP) from the next flush on.
  void SetSeriesTtl(absl::Duration series_ttl) { state_.SetSeriesTtl(series_ttl); }

  RemoteWriteStats stats() const;

 private:
  RemoteWriteBackend(RemoteWriteOptions options, std::unique_ptr<HttpDelivery> http);
  // Whether Observe folded this flush in already.
  bool Observed(const Flush& flush) const;
  // Encodes the whole state into pending_.
  void Prepare();

  const RemoteWriteOptions options_;
  PrometheusState state_;
  // Touched only on the backend's thread (Observe, Deliver), but the counters and http_'s
  // StopBy and stats.
  std::unique_ptr<HttpDelivery> http_;
  std::vector<RemoteWriteRequest> pending_;  // the requests of the flush in progress

  std::atomic<uint64_t> samples_sent_{0};
  std::atomic<uint64_t> bytes_sent_{0};
  std::atomic<uint64_t> flushes_unseen_{0};
  uint64_t last_sequence_ = 0;  // of the last flush folded into state_
  // The last flush folded in, to recognise it when it has no sequence number.
  SnapshotPtr last_observed_snapshot_;
  std::shared_ptr<const std::vector<SelfMetric>> last_observed_self_;
  absl::Time state_time_;  // flush time of the newest flush folded in
};

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_REMOTE_WRITE_H_
