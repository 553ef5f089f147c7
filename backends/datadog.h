// backends/datadog.h: the Datadog backend (SPEC 4.3): each flush POSTed to Datadog's HTTP API.
//
// DatadogBackend turns a flush into compressed requests as it formats it (DatadogRequestSet:
// each point written once, compressed chunk by chunk, buffers kept across flushes) and sends them
// over one libcurl handle kept for the backend's life, so the connection is reused (keep-alive).
// Each request runs on a libcurl multi handle the backend waits on itself, so that a stop
// (StopBy, from BackendRunner::Stop on another thread) wakes it: a request still in flight at
// the stop deadline is abandoned then, counted as failed and the flush left for Retry, instead of
// holding the shutdown for up to `timeout`.
// A flush is several requests; the backend remembers which of the current flush's requests
// already went through, so a retried flush resends only the rest (each request delivered once).
// Compression: `deflate` (zlib, accepted by every endpoint) or `none` everywhere; `zstd` (level 1,
// `Content-Encoding: zstd1`) only on /api/v2/series, the one endpoint whose reference documents
// it — the v1 endpoints (distribution_points, check_run, events) get deflate instead (sources in
// datadog_encoder.cc, CompressionFor).
// Outcomes: 2xx delivered; network errors, timeouts, 408 and 5xx retry; 429 retries after the
// peer's Retry-After (seconds or HTTP date) or X-RateLimit-Reset (seconds); 401 and 403 reject
// the rest of the flush (a bad key fails every request alike); another 4xx rejects that request
// only, the flush's other requests are still sent, and the flush ends Rejected with the status
// and the start of the body (one log line per flush, by the runner). The API key travels only in
// the DD-API-KEY header and is redacted from every message.
#ifndef TALLYD_BACKENDS_DATADOG_H_
#define TALLYD_BACKENDS_DATADOG_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "backends/backend.h"
#include "backends/datadog_encoder.h"
#include "backends/datadog_format.h"

namespace tallyd::backends {

struct DatadogOptions {
  std::string url = "https://api.datadoghq.com";  // scheme://host[:port], no path
  std::string api_key;
  DatadogCompression compression = DatadogCompression::kDeflate;
  absl::Duration timeout = absl::Seconds(20);  // connect and whole request, each request
  // Cap of the retry backoff (from 200 ms, doubling); a 429's Retry-After is honoured as sent.
  absl::Duration max_backoff = absl::Seconds(10);
  DatadogFormatOptions format;
};

// What the backend did, since it started (for tests and logs).
struct DatadogStats {
  uint64_t requests_sent = 0;         // answered 2xx
  uint64_t requests_failed = 0;       // network error, timeout, 408, 429, 5xx (retried), and
                                      // requests cut off at the stop deadline
  uint64_t requests_rejected = 0;     // other 4xx (not retried), and requests a 401/403 cut off
  uint64_t payloads_too_large = 0;    // one item alone compressed above the limit, or a
                                      // request the compressor failed on: dropped
  uint64_t distributions_scaled = 0;  // see DatadogFormatOptions::max_distribution_values
};

// Compresses `body` as `compression` ("deflate": zlib stream, RFC 1950) in one call. For tests
// and tools; the backend streams through DatadogRequestEncoder.
absl::StatusOr<std::string> CompressDatadogBody(std::string_view body,
                                                DatadogCompression compression);

class DatadogBackend : public Backend {
 public:
  // Fails on an empty API key or URL, or when libcurl cannot start.
  static absl::StatusOr<std::unique_ptr<DatadogBackend>> Create(DatadogOptions options);
  ~DatadogBackend() override;
  DatadogBackend(const DatadogBackend&) = delete;
  DatadogBackend& operator=(const DatadogBackend&) = delete;

  std::string_view name() const override { return "datadog"; }
  Delivery Deliver(const Flush& flush) override;
  bool forwards_events() const override { return true; }
  BackoffPolicy backoff() const override { return {.max = options_.max_backoff}; }
  // Thread-safe; wakes a request in flight so it sees the deadline.
  void StopBy(absl::Time deadline) override;

  DatadogStats stats() const;

 private:
  struct Response;

  explicit DatadogBackend(DatadogOptions options);
  absl::Status Init();
  // Formats and compresses a new flush into pending_.
  void Prepare(const Flush& flush);
  Response Post(const DatadogRequest& request);
  // Runs the request set up on curl_ to its end, or to the stop deadline.
  void Perform(Response* response);
  std::string Redact(std::string text) const;

  const DatadogOptions options_;
  // Touched only on the backend's thread (Deliver), apart from the counters, stop_deadline_ and
  // curl_multi_wakeup on multi_ (which libcurl allows from any thread).
  void* curl_ = nullptr;   // CURL*
  void* multi_ = nullptr;  // CURLM*: runs curl_ one request at a time, holds its connection
  std::atomic<int64_t> stop_deadline_ns_{INT64_MAX};  // Unix ns; INT64_MAX: not stopping
  SelfMetricTotals self_totals_;
  // The flush in progress: its requests and how many went through. Holding the pointers keeps
  // them from being reused by a later flush, so comparing them identifies a retry.
  SnapshotPtr current_snapshot_;
  std::shared_ptr<const std::vector<SelfMetric>> current_self_;
  bool in_progress_ = false;
  DatadogRequestSet encoder_;  // holds the bodies pending_ views
  std::vector<DatadogRequest> pending_;
  size_t next_ = 0;
  std::vector<std::string> rejections_;  // this flush's rejected requests, for the one message

  std::atomic<uint64_t> requests_sent_{0};
  std::atomic<uint64_t> requests_failed_{0};
  std::atomic<uint64_t> requests_rejected_{0};
  std::atomic<uint64_t> payloads_too_large_{0};
  std::atomic<uint64_t> distributions_scaled_{0};
};

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_DATADOG_H_
