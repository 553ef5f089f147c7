// backends/http_delivery.h: one flush delivered as a series of HTTP POSTs, for the push backends
// that speak HTTP (Datadog, remote write). The backend turns a flush into request bodies;
// HttpDelivery sends them over one libcurl handle kept for its life (keep-alive), classifies each
// answer and turns the flush's outcome into the Delivery BackendRunner retries or drops.
//
// A flush is several requests. HttpDelivery remembers which of the current flush's requests went
// through, so a retried flush resends only the rest (each request delivered once); any other
// flush starts afresh (the runner dropped the unfinished one). Outcomes per request: 2xx sent;
// network errors, timeouts, 5xx (and 1xx) retried; 429 retried after the peer's Retry-After
// (seconds or HTTP date); other 4xx and 3xx (redirects are not followed with a body) rejected:
// that request is dropped, the flush's others still sent, and the flush ends Rejected with the
// first one's status and start of body. Options adjust this to each peer (408, a 5xx's
// Retry-After, X-RateLimit-Reset, 401/403 ending the flush).
// Each request runs on a libcurl multi handle waited on here, so that StopBy (from
// BackendRunner::Stop on another thread) wakes it: a request still in flight at the stop deadline
// is abandoned then and the flush left for Retry, instead of holding the shutdown up to `timeout`.
// Secrets (API keys, credentials) given in the options are redacted from every message.
#ifndef TALLYD_BACKENDS_HTTP_DELIVERY_H_
#define TALLYD_BACKENDS_HTTP_DELIVERY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "backends/backend.h"
#include "backends/clock.h"

namespace tallyd::backends {

struct HttpDeliveryOptions {
  std::string name;  // the backend's: starts every message ("datadog POST <url>: ...")
  absl::Duration timeout = absl::Seconds(30);  // connect and whole request, each request
  std::vector<std::string> headers;            // "Name: value", sent with every request
  std::vector<std::string> secrets;            // redacted from every message (keys, credentials)
  // Where the peers' documentation differs:
  bool retry_request_timeout = false;        // 408 retried (Datadog) rather than rejected
  bool retry_after_on_server_error = false;  // a 5xx's Retry-After honoured too (remote write)
  bool rate_limit_reset = false;  // a 429 without Retry-After waits X-RateLimit-Reset seconds
  // Non-empty: a 401 or 403 rejects the rest of the flush (every request would meet the same
  // refusal), its message ending with this hint.
  std::string auth_hint;
  // The stop deadline is on clock->MonotonicNow(); an HTTP-date Retry-After is read against
  // clock->WallNow() (it names a calendar instant) into a wait. Null: the machine's clocks.
  const Clock* clock = nullptr;
};

// What the requests did, since the start (for the backends' stats).
struct HttpDeliveryStats {
  uint64_t sent = 0;      // answered 2xx
  uint64_t failed = 0;    // network error, timeout, 429, 5xx (retried), cut off at the stop
  uint64_t rejected = 0;  // dropped: refused for good, or cut off by a 401/403 (auth_hint)
};

// One request of a flush. The views must stay valid until its answer (the next call).
struct HttpPost {
  std::string url;
  std::string_view content_encoding;  // "": no Content-Encoding header
  std::string_view body;
  std::string note;  // added to "request i of n of flush s" in messages ("12 samples")
};

class HttpDelivery {
 public:
  // Fails when libcurl cannot start; messages start with `options.name`.
  static absl::StatusOr<std::unique_ptr<HttpDelivery>> Create(HttpDeliveryOptions options);
  ~HttpDelivery();
  HttpDelivery(const HttpDelivery&) = delete;
  HttpDelivery& operator=(const HttpDelivery&) = delete;

  // Sends `flush` from its first unsent request. For a new flush (not the retry of the one left
  // unfinished), `prepare` first turns it into requests and returns how many; `request(i)` then
  // gives request i, and `sent(i)` hears of each one answered 2xx. On the backend's thread.
  Delivery Deliver(const Flush& flush, absl::FunctionRef<size_t()> prepare,
                   absl::FunctionRef<HttpPost(size_t)> request,
                   absl::FunctionRef<void(size_t)> sent);
  // Any thread; wakes a request in flight so it sees the deadline (monotonic, as
  // Backend::StopBy's).
  void StopBy(absl::Time deadline);
  HttpDeliveryStats stats() const;

 private:
  struct Response;

  explicit HttpDelivery(HttpDeliveryOptions options);
  absl::Status Init();
  Response Post(const HttpPost& post);
  // Runs the request set up on curl_ to its end, or to the stop deadline.
  void Perform(Response* response);
  // The fixed headers plus `Content-Encoding: encoding` (none when empty), built once each.
  void* HeadersFor(std::string_view encoding);
  std::string Redact(std::string text) const;

  HttpDeliveryOptions options_;
  const Clock& clock_;
  // Touched only on the backend's thread (Deliver), apart from the counters, stop_deadline_ns_
  // and curl_multi_wakeup on multi_ (which libcurl allows from any thread).
  void* curl_ = nullptr;   // CURL*
  void* multi_ = nullptr;  // CURLM*: runs curl_ one request at a time, holds its connection
  std::vector<std::pair<std::string, void*>> header_lists_;  // encoding -> curl_slist*
  std::atomic<int64_t> stop_deadline_ns_{INT64_MAX};  // monotonic ns; INT64_MAX: not stopping
  // The flush in progress: how many requests it has and went through. Holding the pointers keeps
  // them from being reused by a later flush, so comparing them identifies a retry.
  SnapshotPtr current_snapshot_;
  std::shared_ptr<const std::vector<SelfMetric>> current_self_;
  bool in_progress_ = false;
  size_t total_ = 0;
  size_t next_ = 0;
  std::vector<std::string> rejections_;  // this flush's rejected requests, for the one message

  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> rejected_{0};
};

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_HTTP_DELIVERY_H_
