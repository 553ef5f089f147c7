// The Datadog backend against a local HTTP server: headers, compression, bodies, retry
// classification, resuming a partly sent flush, timeouts and splitting.
#include "backends/datadog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "aggregator/snapshot.h"
#include "backends/clock.h"
#include "tests/backends/test_http_server.h"
#include "tests/backends/test_json.h"

namespace tallyd::backends {
namespace {

using aggregator::MetricType;
using aggregator::SeriesKey;
using aggregator::SeriesKeyRef;
using aggregator::SeriesValue;
using aggregator::Snapshot;
using ::testing::HasSubstr;
using testing::HttpRequest;
using testing::HttpResponse;
using testing::Json;
using ::testing::Not;
using testing::ParseJson;
using testing::Respond;
using testing::TestHttpServer;

constexpr char kApiKey[] = "abcdef0123456789secret";

SeriesKeyRef Key(MetricType type, std::string name, std::string tags = "") {
  return SeriesKey::Make(0, type, name, tags);
}

// A flush that reaches every endpoint: a counter, a distribution, a service check, an event.
Flush FullFlush(uint64_t sequence) {
  auto s = std::make_shared<Snapshot>();
  s->sequence = sequence;
  s->flush_unix_seconds = 1700000000 + 10 * static_cast<int64_t>(sequence);
  s->flush_time = absl::FromUnixSeconds(s->flush_unix_seconds);
  s->interval = absl::Seconds(10);
  SeriesValue counter;
  counter.key = Key(MetricType::kCounter, "requests", "env:test");
  counter.value = 30;  // 3 per second of the 10 s interval
  s->series.push_back(counter);
  aggregator::SampleSummary summary;
  summary.samples = 3;
  summary.count = 3;
  summary.distribution = aggregator::ValueDistribution::Exact({1, 2, 3});
  s->summaries.push_back(summary);
  SeriesValue distribution;
  distribution.key = Key(MetricType::kDistribution, "latency");
  distribution.summary = 0;
  s->series.push_back(distribution);
  aggregator::ServiceCheckRecord check;
  check.name = "app.up";
  check.status = 1;
  s->service_checks.push_back(check);
  aggregator::EventRecord event;
  event.title = "flush " + std::to_string(sequence);
  event.text = "hello";
  s->events.push_back(event);
  return {s, nullptr};
}

class DatadogBackendTest : public ::testing::Test {
 protected:
  std::unique_ptr<DatadogBackend> Make(
      DatadogCompression compression = DatadogCompression::kDeflate,
      absl::Duration timeout = absl::Seconds(5)) {
    DatadogOptions options;
    options.url = server_.url() + "/";
    options.api_key = kApiKey;
    options.compression = compression;
    options.timeout = timeout;
    options.format.host = "test-host";
    return MakeWith(std::move(options));
  }

  std::unique_ptr<DatadogBackend> MakeWith(DatadogOptions options) {
    auto backend = DatadogBackend::Create(std::move(options));
    EXPECT_TRUE(backend.ok()) << backend.status();
    return backend.ok() ? std::move(*backend) : nullptr;
  }

  // Every request decoded and parsed; fails the test on a bad body.
  static Json Parsed(const HttpRequest& request) {
    EXPECT_EQ(request.decode_error, "") << request.path;
    std::optional<Json> json = ParseJson(request.decoded);
    EXPECT_TRUE(json.has_value()) << request.path << ": " << request.decoded;
    return json.value_or(Json{});
  }

  static std::vector<std::string> Paths(const std::vector<HttpRequest>& requests) {
    std::vector<std::string> paths;
    for (const HttpRequest& r : requests) paths.push_back(r.path);
    return paths;
  }

  TestHttpServer server_;
};

TEST_F(DatadogBackendTest, PostsEveryEndpointWithHeadersOverOneConnection) {
  auto backend = Make();
  ASSERT_NE(backend, nullptr);
  Delivery result = backend->Deliver(FullFlush(1));
  EXPECT_EQ(result.outcome, Delivery::Outcome::kDelivered) << result.error;
  std::vector<HttpRequest> requests = server_.requests();
  EXPECT_THAT(Paths(requests),
              ::testing::ElementsAre("/api/v2/series", "/api/v1/distribution_points",
                                     "/api/v1/check_run", "/api/v1/events"));
  for (const HttpRequest& r : requests) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.Header("dd-api-key"), kApiKey);
    EXPECT_EQ(r.Header("content-type"), "application/json");
    EXPECT_EQ(r.Header("content-encoding"), "deflate");
    EXPECT_EQ(r.Header("user-agent"), "tallyd");
    EXPECT_EQ(r.connection, 1) << "the connection is kept alive and reused";
  }
  Json series = Parsed(requests[0]);
  const Json& counter = series["series"][0];
  EXPECT_EQ(counter["metric"].get<std::string>(), "requests");
  EXPECT_EQ(counter["type"].get<double>(), 2);
  EXPECT_EQ(counter["interval"].get<double>(), 10);
  EXPECT_EQ(counter["points"][0]["timestamp"].get<double>(), 1700000010);
  EXPECT_EQ(counter["points"][0]["value"].get<double>(), 3);
  EXPECT_EQ(counter["resources"][0]["name"].get<std::string>(), "test-host");
  EXPECT_EQ(counter["tags"][0].get<std::string>(), "env:test");

  Json dist = Parsed(requests[1]);
  EXPECT_EQ(dist["series"][0]["metric"].get<std::string>(), "latency");
  EXPECT_EQ(dist["series"][0]["points"][0][1].size(), 3u);
  EXPECT_EQ(dist["series"][0]["type"].get<std::string>(), "distribution");

  Json checks = Parsed(requests[2]);
  EXPECT_EQ(checks[0]["check"].get<std::string>(), "app.up");
  EXPECT_EQ(checks[0]["status"].get<double>(), 1);
  EXPECT_EQ(checks[0]["host_name"].get<std::string>(), "test-host");

  Json event = Parsed(requests[3]);
  EXPECT_EQ(event["title"].get<std::string>(), "flush 1");
  EXPECT_EQ(event["host"].get<std::string>(), "test-host");

  backend->Deliver(FullFlush(2));
  EXPECT_EQ(server_.connections(), 1);
  EXPECT_EQ(backend->stats().requests_sent, 8u);
}

// Content-Encoding per endpoint and setting, as each endpoint's API reference documents it
// (sources in datadog.cc, CompressionFor): zstd, spelled `zstd1`, on v2 series only; deflate on
// the endpoints that do not document zstd; no header at all with `none`.
TEST_F(DatadogBackendTest, ContentEncodingIsWhatEachEndpointDocuments) {
  using Encodings = std::map<std::string, std::string>;
  const struct {
    DatadogCompression compression;
    Encodings want;  // path -> Content-Encoding, "" for none
  } kCases[] = {
      {DatadogCompression::kDeflate,
       {{"/api/v2/series", "deflate"},
        {"/api/v1/distribution_points", "deflate"},
        {"/api/v1/check_run", "deflate"},
        {"/api/v1/events", "deflate"}}},
      {DatadogCompression::kZstd,
       {{"/api/v2/series", "zstd1"},
        {"/api/v1/distribution_points", "deflate"},
        {"/api/v1/check_run", "deflate"},
        {"/api/v1/events", "deflate"}}},
      {DatadogCompression::kNone,
       {{"/api/v2/series", ""},
        {"/api/v1/distribution_points", ""},
        {"/api/v1/check_run", ""},
        {"/api/v1/events", ""}}},
  };
  size_t seen = 0;
  for (const auto& c : kCases) {
    auto backend = Make(c.compression);
    ASSERT_EQ(backend->Deliver(FullFlush(1)).outcome, Delivery::Outcome::kDelivered);
    std::vector<HttpRequest> requests = server_.requests();
    ASSERT_EQ(requests.size(), seen + 4);
    Encodings got;
    for (size_t i = seen; i < requests.size(); ++i) {
      const HttpRequest& r = requests[i];
      EXPECT_EQ(r.headers.count("content-encoding"), c.want.at(r.path).empty() ? 0u : 1u) << r.path;
      got[r.path] = r.Header("content-encoding");
      Parsed(r);  // the body decodes as its header says
      if (c.compression == DatadogCompression::kNone) {
        EXPECT_EQ(r.body, r.decoded);
      }
    }
    EXPECT_EQ(got, c.want) << "compression " << static_cast<int>(c.compression);
    seen = requests.size();
  }
}

TEST_F(DatadogBackendTest, ServerErrorRetriesOnlyTheUnsentRequestsThenDeliversInOrder) {
  server_.Enqueue({});                    // series: 200
  server_.Enqueue(Respond(500, "oops"));  // distribution_points: 500
  BackendRunner runner(Make(), 6, {absl::Milliseconds(10), absl::Milliseconds(50)});
  runner.Submit(FullFlush(1));
  runner.Submit(FullFlush(2));
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (runner.stats().sent < 2 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  BackendStats stats = runner.stats();
  EXPECT_EQ(stats.sent, 2u);
  EXPECT_EQ(stats.errors, 1u);
  std::vector<HttpRequest> requests = server_.requests();
  // The series of flush 1 went through before the 500: it is not sent again.
  EXPECT_THAT(Paths(requests),
              ::testing::ElementsAre(
                  "/api/v2/series", "/api/v1/distribution_points", "/api/v1/distribution_points",
                  "/api/v1/check_run", "/api/v1/events", "/api/v2/series",
                  "/api/v1/distribution_points", "/api/v1/check_run", "/api/v1/events"));
  ASSERT_EQ(requests.size(), 9u);
  EXPECT_EQ(Parsed(requests[4])["title"].get<std::string>(), "flush 1");
  EXPECT_EQ(Parsed(requests[8])["title"].get<std::string>(), "flush 2");
  runner.Stop(backends::MonotonicNow());
}

// The runner retries a failing Datadog with the backend's max_backoff as the cap: five 503s
// cost about 5 x 20 ms here, where the uncapped doubling from 200 ms would take 6.2 s.
TEST_F(DatadogBackendTest, RetryBackoffIsCappedByMaxBackoff) {
  DatadogOptions options;
  options.url = server_.url();
  options.api_key = kApiKey;
  options.max_backoff = absl::Milliseconds(20);
  std::unique_ptr<DatadogBackend> backend = MakeWith(options);
  ASSERT_NE(backend, nullptr);
  EXPECT_EQ(backend->backoff().max, absl::Milliseconds(20));
  for (int i = 0; i < 5; ++i) server_.Enqueue(Respond(503));
  BackendRunner runner(std::move(backend), 6);
  runner.Submit(FullFlush(1));
  EXPECT_TRUE(server_.WaitForRequests(5 + 4, absl::Seconds(3)));  // then the 4 requests
  EXPECT_TRUE(runner.Stop(backends::MonotonicNow() + absl::Seconds(5)));
  options.max_backoff = absl::ZeroDuration();
  EXPECT_FALSE(DatadogBackend::Create(options).ok());
}

TEST_F(DatadogBackendTest, TooManyRequestsHonoursRetryAfter) {
  auto backend = Make();
  Flush flush = FullFlush(1);
  server_.Enqueue(Respond(429, "{}", {{"Retry-After", "7"}}));
  Delivery first = backend->Deliver(flush);
  EXPECT_EQ(first.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(first.retry_after, absl::Seconds(7));
  EXPECT_EQ(first.error.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(first.error.message(), HasSubstr("HTTP 429"));

  server_.Enqueue({});
  server_.Enqueue(Respond(429, "{}", {{"X-RateLimit-Reset", "3"}}));
  Delivery second = backend->Deliver(flush);
  EXPECT_EQ(second.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(second.retry_after, absl::Seconds(3));

  EXPECT_EQ(backend->Deliver(flush).outcome, Delivery::Outcome::kDelivered);
  EXPECT_THAT(
      Paths(server_.requests()),
      ::testing::ElementsAre("/api/v2/series", "/api/v2/series", "/api/v1/distribution_points",
                             "/api/v1/distribution_points", "/api/v1/check_run", "/api/v1/events"));
}

TEST_F(DatadogBackendTest, RetrySameFlushResumes) {
  auto backend = Make();
  Flush flush = FullFlush(1);
  server_.Enqueue({});
  server_.Enqueue({});
  server_.Enqueue(Respond(429, "{}", {{"Retry-After", "1"}}));  // check_run
  EXPECT_EQ(backend->Deliver(flush).outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(backend->Deliver(flush).outcome, Delivery::Outcome::kDelivered);
  EXPECT_THAT(Paths(server_.requests()),
              ::testing::ElementsAre("/api/v2/series", "/api/v1/distribution_points",
                                     "/api/v1/check_run", "/api/v1/check_run", "/api/v1/events"));
}

TEST_F(DatadogBackendTest, ForbiddenIsRejectedNotRetriedAndTheKeyIsRedacted) {
  server_.Enqueue(Respond(403, std::string("{\"errors\":[\"Forbidden: key ") + kApiKey + "\"]}"));
  BackendRunner runner(Make(), 6, {absl::Milliseconds(10), absl::Milliseconds(50)});
  runner.Submit(FullFlush(1));
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (runner.stats().dropped_flushes < 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  absl::SleepFor(absl::Milliseconds(100));  // no retry follows
  BackendStats stats = runner.stats();
  EXPECT_EQ(stats.dropped_flushes, 1u);
  EXPECT_EQ(stats.errors, 1u);
  EXPECT_EQ(stats.sent, 0u);
  EXPECT_EQ(server_.requests().size(), 1u);  // the rest of the flush is not tried with a bad key
  runner.Stop(backends::MonotonicNow());

  auto backend = Make();
  server_.Enqueue(Respond(403, std::string("{\"errors\":[\"Forbidden: key ") + kApiKey + "\"]}"));
  Delivery result = backend->Deliver(FullFlush(2));
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRejected);
  EXPECT_THAT(result.error.message(), HasSubstr("HTTP 403"));
  EXPECT_THAT(result.error.message(), HasSubstr("Forbidden: key <redacted>"));
  EXPECT_THAT(result.error.message(), Not(HasSubstr(kApiKey)));
  EXPECT_EQ(backend->stats().requests_rejected, 4u);
}

TEST_F(DatadogBackendTest, OtherClientErrorRejectsThatRequestButSendsTheRest) {
  auto backend = Make();
  server_.Enqueue({});
  server_.Enqueue(Respond(400, "{\"errors\":[\"bad points\"]}"));
  Delivery result = backend->Deliver(FullFlush(1));
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRejected);
  EXPECT_THAT(result.error.message(), HasSubstr("/api/v1/distribution_points: HTTP 400"));
  EXPECT_THAT(result.error.message(), HasSubstr("bad points"));
  EXPECT_EQ(server_.requests().size(), 4u);
  DatadogStats stats = backend->stats();
  EXPECT_EQ(stats.requests_sent, 3u);
  EXPECT_EQ(stats.requests_rejected, 1u);
  // The next flush starts afresh.
  EXPECT_EQ(backend->Deliver(FullFlush(2)).outcome, Delivery::Outcome::kDelivered);
}

TEST_F(DatadogBackendTest, HangingPeerTimesOutAndRetries) {
  auto backend = Make(DatadogCompression::kDeflate, absl::Milliseconds(300));
  server_.Enqueue(Respond(200, "{}", {}, absl::Seconds(3)));
  Flush flush = FullFlush(1);
  absl::Time start = absl::Now();
  Delivery result = backend->Deliver(flush);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(result.error.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(result.error.message(), HasSubstr("request 1 of 4"));
  EXPECT_EQ(backend->Deliver(flush).outcome, Delivery::Outcome::kDelivered);
  EXPECT_EQ(backend->stats().requests_failed, 1u);
}

// SPEC 1: the final flush is bounded by shutdown_timeout. A peer that takes the request and never
// answers must not hold the stop until libcurl's own timeout, which is set far longer here.
constexpr absl::Duration kLongRequestTimeout = absl::Seconds(60);
constexpr absl::Duration kStopMargin = absl::Seconds(2);  // a loaded 2-core machine's slack

TEST_F(DatadogBackendTest, StopAbandonsARequestStillInFlightAtTheDeadline) {
  server_.Enqueue(Respond(200, "{}", {}, absl::InfiniteDuration()));  // never answers
  std::unique_ptr<DatadogBackend> owned = Make(DatadogCompression::kDeflate, kLongRequestTimeout);
  DatadogBackend* backend = owned.get();
  BackendRunner runner(std::move(owned), 6, {absl::Milliseconds(10), absl::Milliseconds(50)});
  runner.Submit(FullFlush(1));
  ASSERT_TRUE(server_.WaitForRequests(1, absl::Seconds(20)));  // the series request hangs
  const absl::Time start = backends::MonotonicNow();
  const absl::Time deadline = start + absl::Milliseconds(300);
  EXPECT_FALSE(runner.Stop(deadline)) << "the flush cannot have been delivered";
  const absl::Time stopped = backends::MonotonicNow();
  EXPECT_GE(stopped, deadline) << "the request is given until the deadline";
  EXPECT_LT(stopped - deadline, kStopMargin);
  // Counted and logged as any failed delivery; nothing else was tried.
  BackendStats stats = runner.stats();
  EXPECT_EQ(stats.errors, 1u);
  EXPECT_EQ(stats.sent, 0u);
  EXPECT_EQ(stats.queued, 1u);
  EXPECT_EQ(backend->stats().requests_failed, 1u);
  EXPECT_EQ(server_.requests().size(), 1u);
}

TEST_F(DatadogBackendTest, StopWithAPassedDeadlineWakesARequestInFlight) {
  // Flush 1 goes through; flush 2's first request hangs on the kept-alive connection, where
  // libcurl has no timer of its own due soon: only the stop's wake-up ends the wait.
  for (int i = 0; i < 4; ++i) server_.Enqueue({});
  server_.Enqueue(Respond(200, "{}", {}, absl::InfiniteDuration()));
  BackendRunner runner(Make(DatadogCompression::kDeflate, kLongRequestTimeout), 6);
  runner.Submit(FullFlush(1));
  runner.Submit(FullFlush(2));
  ASSERT_TRUE(server_.WaitForRequests(5, absl::Seconds(20)));
  const absl::Time start = backends::MonotonicNow();
  EXPECT_FALSE(runner.Stop(start));
  EXPECT_LT(backends::MonotonicNow() - start, kStopMargin);
  BackendStats stats = runner.stats();
  EXPECT_EQ(stats.sent, 1u);
  EXPECT_EQ(stats.errors, 1u);
  EXPECT_EQ(server_.connections(), 1);
}

TEST_F(DatadogBackendTest, StopLetsARequestAnsweredBeforeTheDeadlineFinish) {
  server_.Enqueue(Respond(200, "{}", {}, absl::Milliseconds(300)));  // a slow series answer
  BackendRunner runner(Make(DatadogCompression::kDeflate, kLongRequestTimeout), 6);
  runner.Submit(FullFlush(1));
  ASSERT_TRUE(server_.WaitForRequests(1, absl::Seconds(20)));
  EXPECT_TRUE(runner.Stop(backends::MonotonicNow() + absl::Seconds(30)));
  BackendStats stats = runner.stats();
  EXPECT_EQ(stats.sent, 1u);
  EXPECT_EQ(stats.errors, 0u);
  EXPECT_EQ(server_.requests().size(), 4u);
}

TEST_F(DatadogBackendTest, DeliverAfterTheStopDeadlineSendsNothing) {
  auto backend = Make();
  backend->StopBy(backends::MonotonicNow());
  Delivery result = backend->Deliver(FullFlush(1));
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(result.error.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(result.error.message(), HasSubstr("stop deadline"));
  EXPECT_THAT(result.error.message(), HasSubstr("request 1 of 4"));
  EXPECT_EQ(backend->stats().requests_failed, 1u);
  EXPECT_TRUE(server_.requests().empty());
}

TEST_F(DatadogBackendTest, UnreachablePeerRetries) {
  DatadogOptions options;
  {
    TestHttpServer closed;
    options.url = closed.url();
  }
  options.api_key = kApiKey;
  auto backend = MakeWith(std::move(options));
  Delivery result = backend->Deliver(FullFlush(1));
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRetry);
  EXPECT_THAT(result.error.message(), HasSubstr("datadog POST http://127.0.0.1:"));
}

// A flush of 3000 series against small limits: every request within them, every series once.
void ExpectSplit(TestHttpServer& server, DatadogBackend& backend, size_t max_compressed,
                 size_t max_uncompressed) {
  auto s = std::make_shared<Snapshot>();
  s->sequence = 1;
  s->flush_unix_seconds = 1700000000;
  s->interval = absl::Seconds(10);
  for (int i = 0; i < 3000; ++i) {
    SeriesValue v;
    v.key = Key(MetricType::kGauge, "gauge." + std::to_string(i),
                "id:" + std::to_string(i * 7919) + ",shard:" + std::to_string(i % 13));
    v.value = i * 1.25;
    s->series.push_back(v);
  }
  EXPECT_EQ(backend.Deliver({s, nullptr}).outcome, Delivery::Outcome::kDelivered);
  std::vector<HttpRequest> requests = server.requests();
  EXPECT_GT(requests.size(), 3u);
  std::set<std::string> seen;
  for (const HttpRequest& r : requests) {
    EXPECT_EQ(r.path, "/api/v2/series");
    EXPECT_LE(r.body.size(), max_compressed);
    EXPECT_LE(r.decoded.size(), max_uncompressed);
    std::optional<Json> json = ParseJson(r.decoded);
    ASSERT_TRUE(json.has_value());
    for (const Json& one : (*json)["series"]) {
      EXPECT_TRUE(seen.insert(one["metric"].get<std::string>()).second)
          << one["metric"].get<std::string>();
    }
  }
  EXPECT_EQ(seen.size(), 3000u);
}

TEST_F(DatadogBackendTest, OversizedFlushIsSplitByTheUncompressedLimit) {
  DatadogOptions options;
  options.url = server_.url();
  options.api_key = kApiKey;
  options.compression = DatadogCompression::kNone;
  options.format.series_limits = {100000, 60000, 0};
  auto backend = MakeWith(options);
  ExpectSplit(server_, *backend, 100000, 60000);
}

TEST_F(DatadogBackendTest, OversizedFlushIsSplitByTheCompressedLimit) {
  DatadogOptions options;
  options.url = server_.url();
  options.api_key = kApiKey;
  options.compression = DatadogCompression::kDeflate;
  options.format.series_limits = {6000, 5242880, 0};
  auto backend = MakeWith(options);
  ExpectSplit(server_, *backend, 6000, 5242880);
}

TEST(DatadogBackendCreateTest, NeedsAnApiKey) {
  DatadogOptions options;
  auto backend = DatadogBackend::Create(options);
  EXPECT_FALSE(backend.ok());
  EXPECT_THAT(backend.status().message(), HasSubstr("API key"));
}

TEST(DatadogCompressionTest, RoundTrips) {
  std::string body(10000, 'x');
  for (DatadogCompression c :
       {DatadogCompression::kDeflate, DatadogCompression::kZstd, DatadogCompression::kNone}) {
    absl::StatusOr<std::string> compressed = CompressDatadogBody(body, c);
    ASSERT_TRUE(compressed.ok());
    std::string decoded;
    std::string encoding = c == DatadogCompression::kDeflate ? "deflate"
                           : c == DatadogCompression::kZstd  ? "zstd1"
                                                             : "";
    ASSERT_TRUE(testing::DecodeBody(encoding, *compressed, &decoded));
    EXPECT_EQ(decoded, body);
  }
}

}  // namespace
}  // namespace tallyd::backends
