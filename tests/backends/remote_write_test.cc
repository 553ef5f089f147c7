// The remote write backend against a local HTTP server, each body read back as a receiver does
// (snappy, then the generated prometheus.WriteRequest classes): headers, labels, conversion,
// splitting, retries (5xx, 429 with Retry-After), 4xx drops, credentials and their redaction.
#include "backends/remote_write.h"

#include <glog/logging.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/synchronization/mutex.h"
#include "aggregator/snapshot.h"
#include "backends/clock.h"
#include "backends/proto/remote_write.pb.h"
#include "backends/remote_write_format.h"
#include "tests/backends/remote_write_reader.h"
#include "tests/backends/test_http_server.h"

namespace tallyd::backends {
namespace {

using aggregator::MetricType;
using aggregator::SeriesKey;
using aggregator::SeriesValue;
using aggregator::Snapshot;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::HttpRequest;
using testing::HttpResponse;
using ::testing::Not;
using testing::Respond;
using testing::TestHttpServer;

constexpr char kToken[] = "tok3n-s3cret-value";
constexpr int64_t kFlushSeconds = 1700000000;

using Decoded = testing::DecodedSeries;
using testing::DecodeAll;

// name{labels...} -> value, over every request.
std::map<std::string, double> ByIdentity(const std::vector<HttpRequest>& requests) {
  std::map<std::string, double> out;
  for (const HttpRequest& request : requests) {
    for (const Decoded& series : DecodeAll(request.body)) {
      std::string id;
      for (const auto& [n, v] : series.labels) id += n + "=" + v + ",";
      out[id] = series.value;
    }
  }
  return out;
}

Flush CounterFlush(uint64_t sequence, int series_count, double value) {
  auto s = std::make_shared<Snapshot>();
  s->sequence = sequence;
  s->flush_unix_seconds = kFlushSeconds + static_cast<int64_t>(sequence);
  s->flush_time = absl::FromUnixSeconds(s->flush_unix_seconds);
  s->interval = absl::Seconds(1);
  for (int i = 0; i < series_count; ++i) {
    SeriesValue counter;
    counter.key =
        SeriesKey::Make(i + 1, MetricType::kCounter, "hits." + std::to_string(i), "env:test");
    counter.value = value;
    s->series.push_back(counter);
  }
  return {s, nullptr};
}

RemoteWriteOptions Options(const TestHttpServer& server) {
  RemoteWriteOptions options;
  options.url = server.url() + "/api/v1/write";
  options.external_labels = {{"host", "web-1"}};
  options.max_backoff = absl::Milliseconds(50);
  options.self_metrics = false;
  return options;
}

std::unique_ptr<RemoteWriteBackend> Make(RemoteWriteOptions options) {
  auto backend = RemoteWriteBackend::Create(std::move(options));
  EXPECT_TRUE(backend.ok()) << backend.status();
  return backend.ok() ? std::move(*backend) : nullptr;
}

// Collects every log line, to check that no secret is ever written.
class LogCapture : public google::LogSink {
 public:
  LogCapture() { google::AddLogSink(this); }
  ~LogCapture() override { google::RemoveLogSink(this); }
  void send(google::LogSeverity, const char*, const char*, int, const struct ::tm*,
            const char* message, size_t length) override {
    absl::MutexLock lock(&mu_);
    text_.append(message, length).append("\n");
  }
  std::string text() const {
    absl::MutexLock lock(&mu_);
    return text_;
  }

 private:
  mutable absl::Mutex mu_;
  std::string text_;
};

TEST(RemoteWriteBackendTest, PostsSnappyProtobufWithTheProtocolHeaders) {
  TestHttpServer server;
  RemoteWriteOptions options = Options(server);
  options.headers = {{"X-Scope-OrgID", "tenant-1"}};
  auto backend = Make(options);
  ASSERT_NE(backend, nullptr);
  ASSERT_EQ(backend->Deliver(CounterFlush(1, 1, 5)).outcome, Delivery::Outcome::kDelivered);
  std::vector<HttpRequest> requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const HttpRequest& r = requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/api/v1/write");
  EXPECT_EQ(r.Header("content-encoding"), "snappy");
  EXPECT_EQ(r.Header("content-type"), "application/x-protobuf");
  EXPECT_EQ(r.Header("x-prometheus-remote-write-version"), "0.1.0");
  EXPECT_EQ(r.Header("user-agent"), "tallyd");
  EXPECT_EQ(r.Header("x-scope-orgid"), "tenant-1");
  EXPECT_EQ(r.Header("authorization"), "");
  std::vector<Decoded> series = DecodeAll(r.body);
  ASSERT_EQ(series.size(), 1u);
  using L = std::pair<std::string, std::string>;
  EXPECT_THAT(series[0].labels,
              ElementsAre(L{"__name__", "hits_0"}, L{"env", "test"}, L{"host", "web-1"}));
  EXPECT_EQ(series[0].value, 5);
  EXPECT_EQ(series[0].timestamp, (kFlushSeconds + 1) * 1000);
}

TEST(RemoteWriteBackendTest, CountersAreCumulativeAndResentEveryFlush) {
  TestHttpServer server;
  auto backend = Make(Options(server));
  ASSERT_NE(backend, nullptr);
  ASSERT_EQ(backend->Deliver(CounterFlush(1, 1, 5)).outcome, Delivery::Outcome::kDelivered);
  ASSERT_EQ(backend->Deliver(CounterFlush(2, 1, 0)).outcome, Delivery::Outcome::kDelivered);
  ASSERT_EQ(backend->Deliver(CounterFlush(3, 1, 2)).outcome, Delivery::Outcome::kDelivered);
  std::vector<HttpRequest> requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  std::vector<double> values;
  std::vector<int64_t> times;
  for (const HttpRequest& r : requests) {
    std::vector<Decoded> series = DecodeAll(r.body);
    ASSERT_EQ(series.size(), 1u);
    values.push_back(series[0].value);
    times.push_back(series[0].timestamp);
  }
  EXPECT_THAT(values, ElementsAre(5, 5, 7));  // the idle flush re-sends the total
  EXPECT_THAT(times, ElementsAre((kFlushSeconds + 1) * 1000, (kFlushSeconds + 2) * 1000,
                                 (kFlushSeconds + 3) * 1000));
}

// An outage longer than the queue: the receiver hangs on flush 1's request while flushes 2..10
// arrive and the runner's queue of 2 drops most of them before Deliver could see them. Every
// flush still reaches the cumulative state (BackendRunner hands each to Observe), so the total
// pushed once the receiver answers again is everything counted.
TEST(RemoteWriteBackendTest, CounterTotalAfterAnOutageHoldsFlushesTheQueueDropped) {
  TestHttpServer server;
  HttpResponse hang = Respond(503);
  hang.delay = absl::Seconds(2);  // the outage: Submit below takes microseconds
  server.Enqueue(hang);
  BackendRunner runner(Make(Options(server)), 2, {absl::Milliseconds(1), absl::Milliseconds(1)});
  double total = 0;
  runner.Submit(CounterFlush(1, 1, 1));
  total += 1;
  ASSERT_TRUE(server.WaitForRequests(1, absl::Seconds(10)));  // flush 1 is in flight, hanging
  for (uint64_t i = 2; i <= 10; ++i) {
    runner.Submit(CounterFlush(i, 1, static_cast<double>(i)));
    total += static_cast<double>(i);
  }
  EXPECT_EQ(runner.stats().dropped_flushes, 8u);  // 1..8 dropped; 9, 10 queued
  ASSERT_TRUE(runner.Stop(backends::MonotonicNow() + absl::Seconds(20)));
  std::vector<HttpRequest> requests = server.requests();
  ASSERT_GE(requests.size(), 2u);
  std::vector<Decoded> last = DecodeAll(requests.back().body);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].value, total);  // 55
  EXPECT_EQ(last[0].timestamp, (kFlushSeconds + 10) * 1000);
  EXPECT_EQ(runner.backend().name(), "remote_write");
  EXPECT_EQ(static_cast<RemoteWriteBackend&>(runner.backend()).stats().flushes_unseen, 0u);
}

// Without the runner (Deliver alone, skipping flushes) a gap is still counted and logged.
TEST(RemoteWriteBackendTest, CountsFlushesThatSkippedObserveAndDeliver) {
  TestHttpServer server;
  auto backend = Make(Options(server));
  ASSERT_NE(backend, nullptr);
  ASSERT_EQ(backend->Deliver(CounterFlush(1, 1, 5)).outcome, Delivery::Outcome::kDelivered);
  ASSERT_EQ(backend->Deliver(CounterFlush(2, 1, 1)).outcome, Delivery::Outcome::kDelivered);
  EXPECT_EQ(backend->stats().flushes_unseen, 0u);
  ASSERT_EQ(backend->Deliver(CounterFlush(5, 1, 1)).outcome, Delivery::Outcome::kDelivered);
  EXPECT_EQ(backend->stats().flushes_unseen, 2u);  // flushes 3 and 4 never reached Deliver
}

TEST(RemoteWriteBackendTest, TimersAsSummaryAndHistogram) {
  auto timer_flush = [] {
    auto s = std::make_shared<Snapshot>();
    s->sequence = 1;
    s->flush_unix_seconds = kFlushSeconds;
    s->flush_time = absl::FromUnixSeconds(kFlushSeconds);
    s->interval = absl::Seconds(1);
    aggregator::SampleSummary summary;
    summary.samples = 4;
    summary.count = 4;
    summary.sum = 1000;  // ms
    summary.distribution = aggregator::ValueDistribution::Exact({100, 200, 300, 400});
    s->summaries.push_back(summary);
    SeriesValue timer;
    timer.key = SeriesKey::Make(1, MetricType::kTimer, "api.latency", "route:a");
    timer.summary = 0;
    s->series.push_back(timer);
    return Flush{s, nullptr};
  };
  {
    TestHttpServer server;
    RemoteWriteOptions options = Options(server);
    options.conversion.quantiles = {0.5, 0.99};
    auto backend = Make(options);
    ASSERT_NE(backend, nullptr);
    ASSERT_EQ(backend->Deliver(timer_flush()).outcome, Delivery::Outcome::kDelivered);
    std::map<std::string, double> got = ByIdentity(server.requests());
    const std::string tail = "host=web-1,route=a,";
    EXPECT_EQ(got.size(), 4u);
    EXPECT_EQ(got.count("__name__=api_latency," + std::string("host=web-1,quantile=0.5,route=a,")),
              1u);
    EXPECT_EQ(got.count("__name__=api_latency,host=web-1,quantile=0.99,route=a,"), 1u);
    EXPECT_DOUBLE_EQ(got["__name__=api_latency_sum," + tail], 1.0);  // seconds
    EXPECT_DOUBLE_EQ(got["__name__=api_latency_count," + tail], 4);
  }
  {
    TestHttpServer server;
    RemoteWriteOptions options = Options(server);
    options.conversion.timer_type = PrometheusTimerType::kHistogram;
    options.conversion.buckets = {0.15, 0.35};
    auto backend = Make(options);
    ASSERT_NE(backend, nullptr);
    ASSERT_EQ(backend->Deliver(timer_flush()).outcome, Delivery::Outcome::kDelivered);
    std::map<std::string, double> got = ByIdentity(server.requests());
    EXPECT_EQ(got.size(), 5u);
    EXPECT_EQ(got["__name__=api_latency_bucket,host=web-1,le=0.15,route=a,"], 1);
    EXPECT_EQ(got["__name__=api_latency_bucket,host=web-1,le=0.35,route=a,"], 3);
    EXPECT_EQ(got["__name__=api_latency_bucket,host=web-1,le=+Inf,route=a,"], 4);
    EXPECT_DOUBLE_EQ(got["__name__=api_latency_sum,host=web-1,route=a,"], 1.0);
    EXPECT_EQ(got["__name__=api_latency_count,host=web-1,route=a,"], 4);
  }
}

TEST(RemoteWriteBackendTest, SelfMetricsArePushedWhenOn) {
  TestHttpServer server;
  RemoteWriteOptions options = Options(server);
  options.self_metrics = true;
  auto backend = Make(options);
  ASSERT_NE(backend, nullptr);
  Flush flush = CounterFlush(1, 1, 1);
  auto self = std::make_shared<std::vector<SelfMetric>>();
  self->push_back({"tallyd_packets_received_total",
                   "",
                   SelfMetric::Kind::kCounter,
                   {{"transport", "udp"}},
                   42});
  flush.self_metrics = self;
  ASSERT_EQ(backend->Deliver(flush).outcome, Delivery::Outcome::kDelivered);
  std::map<std::string, double> got = ByIdentity(server.requests());
  EXPECT_EQ(got["__name__=tallyd_packets_received_total,host=web-1,transport=udp,"], 42);
}

TEST(RemoteWriteBackendTest, SplitsAFlushAtMaxSamplesPerSend) {
  TestHttpServer server;
  RemoteWriteOptions options = Options(server);
  options.max_samples_per_send = 4;
  auto backend = Make(options);
  ASSERT_NE(backend, nullptr);
  ASSERT_EQ(backend->Deliver(CounterFlush(1, 10, 1)).outcome, Delivery::Outcome::kDelivered);
  std::vector<HttpRequest> requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  std::vector<size_t> sizes;
  for (const HttpRequest& r : requests) sizes.push_back(DecodeAll(r.body).size());
  EXPECT_THAT(sizes, ElementsAre(4, 4, 2));
  EXPECT_EQ(ByIdentity(requests).size(), 10u);
  EXPECT_EQ(backend->stats().samples_sent, 10u);
}

TEST(RemoteWriteBackendTest, RetriesA5xxResendingOnlyTheRest) {
  TestHttpServer server;
  RemoteWriteOptions options = Options(server);
  options.max_samples_per_send = 2;
  auto backend = Make(options);
  ASSERT_NE(backend, nullptr);
  server.Enqueue(Respond(200));
  server.Enqueue(Respond(503, "ingester unavailable"));
  Flush flush = CounterFlush(1, 4, 1);
  Delivery first = backend->Deliver(flush);
  ASSERT_EQ(first.outcome, Delivery::Outcome::kRetry);
  EXPECT_THAT(first.error.message(), HasSubstr("HTTP 503"));
  EXPECT_EQ(first.retry_after, absl::ZeroDuration());  // the runner's backoff
  ASSERT_EQ(backend->Deliver(flush).outcome, Delivery::Outcome::kDelivered);
  std::vector<HttpRequest> requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].body, requests[2].body);  // the failed one, again
  EXPECT_EQ(ByIdentity(requests).size(), 4u);
  EXPECT_EQ(backend->stats().requests_sent, 2u);
  EXPECT_EQ(backend->stats().requests_failed, 1u);
}

TEST(RemoteWriteBackendTest, HonoursRetryAfterOn429And5xx) {
  TestHttpServer server;
  auto backend = Make(Options(server));
  ASSERT_NE(backend, nullptr);
  server.Enqueue(Respond(429, "slow down", {{"Retry-After", "7"}}));
  server.Enqueue(Respond(503, "", {{"Retry-After", "3"}}));
  Flush flush = CounterFlush(1, 1, 1);
  Delivery limited = backend->Deliver(flush);
  EXPECT_EQ(limited.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(limited.retry_after, absl::Seconds(7));
  EXPECT_EQ(limited.error.code(), absl::StatusCode::kResourceExhausted);
  Delivery unavailable = backend->Deliver(flush);
  EXPECT_EQ(unavailable.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(unavailable.retry_after, absl::Seconds(3));
  EXPECT_EQ(backend->Deliver(flush).outcome, Delivery::Outcome::kDelivered);
}

TEST(RemoteWriteBackendTest, RunnerWaitsForRetryAfterThenDelivers) {
  TestHttpServer server;
  server.Enqueue(Respond(429, "", {{"Retry-After", "1"}}));
  BackendRunner runner(Make(Options(server)), 6, {absl::Milliseconds(1), absl::Milliseconds(1)});
  const absl::Time start = absl::Now();
  runner.Submit(CounterFlush(1, 1, 1));
  ASSERT_TRUE(server.WaitForRequests(2, absl::Seconds(10)));
  // With a 1 ms backoff the retry would come at once; Retry-After held it back a second.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(950));
  EXPECT_TRUE(runner.Stop(backends::MonotonicNow() + absl::Seconds(5)));
  EXPECT_EQ(runner.stats().sent, 1u);
}

TEST(RemoteWriteBackendTest, DropsA4xxWithTheBodyAndSendsTheRest) {
  TestHttpServer server;
  RemoteWriteOptions options = Options(server);
  options.max_samples_per_send = 1;
  auto backend = Make(options);
  ASSERT_NE(backend, nullptr);
  server.Enqueue(Respond(400, "out of order sample"));
  Delivery result = backend->Deliver(CounterFlush(1, 3, 1));
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRejected);
  EXPECT_THAT(result.error.message(), HasSubstr("HTTP 400"));
  EXPECT_THAT(result.error.message(), HasSubstr("out of order sample"));
  EXPECT_EQ(server.requests().size(), 3u);  // not retried; the other two still sent
  EXPECT_EQ(backend->stats().requests_rejected, 1u);
  EXPECT_EQ(backend->stats().requests_sent, 2u);
}

TEST(RemoteWriteBackendTest, BasicAuthAndBearerTokenNeverInMessagesOrLogs) {
  LogCapture logs;
  for (bool basic : {true, false}) {
    TestHttpServer server;
    RemoteWriteOptions options = Options(server);
    if (basic) {
      options.username = "alice";
      options.password = kToken;
    } else {
      options.bearer_token = kToken;
    }
    // The receiver echoes the credentials back in its error body: still redacted.
    const std::string echoed =
        basic ? "bad credentials " + absl::Base64Escape(std::string("alice:") + kToken)
              : std::string("bad token ") + kToken;
    server.Enqueue(Respond(401, echoed));
    BackendRunner runner(Make(options), 6, {absl::Milliseconds(1), absl::Milliseconds(1)});
    runner.Submit(CounterFlush(1, 1, 1));
    runner.Submit(CounterFlush(2, 1, 1));
    ASSERT_TRUE(server.WaitForRequests(2, absl::Seconds(10)));
    EXPECT_TRUE(runner.Stop(backends::MonotonicNow() + absl::Seconds(5)));
    EXPECT_EQ(runner.stats().dropped_flushes, 1u);
    std::vector<HttpRequest> requests = server.requests();
    const std::string expected = basic
                                     ? "Basic " + absl::Base64Escape(std::string("alice:") + kToken)
                                     : std::string("Bearer ") + kToken;
    EXPECT_EQ(requests[0].Header("authorization"), expected);
  }
  google::FlushLogFiles(google::INFO);
  const std::string text = logs.text();
  EXPECT_THAT(text, HasSubstr("HTTP 401"));   // the rejection was logged...
  EXPECT_THAT(text, Not(HasSubstr(kToken)));  // ...without the secret
  EXPECT_THAT(text, Not(HasSubstr(absl::Base64Escape(std::string("alice:") + kToken))));
}

TEST(RemoteWriteBackendTest, AnUnreachableReceiverIsRetried) {
  int port = 0;
  {
    TestHttpServer closed;  // a port nobody listens on once it is gone
    port = closed.port();
  }
  RemoteWriteOptions options;
  options.url = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/write";
  options.self_metrics = false;
  auto backend = Make(options);
  ASSERT_NE(backend, nullptr);
  Delivery result = backend->Deliver(CounterFlush(1, 1, 1));
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(result.error.code(), absl::StatusCode::kUnavailable);
}

TEST(RemoteWriteBackendTest, StopCutsAHangingRequestShort) {
  TestHttpServer server;
  HttpResponse hang = Respond(200);
  hang.delay = absl::Seconds(20);
  server.Enqueue(hang);
  RemoteWriteOptions options = Options(server);
  BackendRunner runner(Make(options), 6);
  runner.Submit(CounterFlush(1, 1, 1));
  ASSERT_TRUE(server.WaitForRequests(1, absl::Seconds(10)));
  const absl::Time start = absl::Now();
  EXPECT_FALSE(runner.Stop(backends::MonotonicNow() + absl::Milliseconds(300)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST(RemoteWriteBackendTest, RejectsABadUrl) {
  RemoteWriteOptions options;
  options.url = "mimir:9009";
  EXPECT_FALSE(RemoteWriteBackend::Create(options).ok());
}

}  // namespace
}  // namespace tallyd::backends
