// backends/datadog.h: the Datadog backend (SPEC 4.3): each flush POSTed to Datadog's HTTP API.
//
// DatadogBackend turns a flush into compressed requests as it formats it (DatadogRequestSet:
// each point written once, compressed chunk by chunk, buffers kept across flushes) and hands
// them to an HttpDelivery (one kept-alive libcurl connection; a retried flush resends only its
// unsent requests; a request in flight at the stop deadline is abandoned then).
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
#include "backends/http_delivery.h"

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
  DatadogBackend(DatadogOptions options, std::unique_ptr<HttpDelivery> http);
  // Formats and compresses a new flush into pending_.
  void Prepare(const Flush& flush);

  const DatadogOptions options_;
  // Touched only on the backend's thread (Deliver), apart from the counters and http_'s StopBy
  // and stats.
  std::unique_ptr<HttpDelivery> http_;
  SelfMetricTotals self_totals_;
  DatadogRequestSet encoder_;            // holds the bodies pending_ views
  std::vector<DatadogRequest> pending_;  // the requests of the flush in progress

  std::atomic<uint64_t> payloads_too_large_{0};
  std::atomic<uint64_t> distributions_scaled_{0};
};

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_DATADOG_H_
