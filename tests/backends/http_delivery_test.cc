// HttpDelivery against the local test HTTP server: a flush's requests in order over one
// connection, the classification of answers (retried, rejected, the flush ended by a refused
// credential), Retry-After and X-RateLimit-Reset, resuming a retried flush at its first unsent
// request, redaction, network errors and the stop deadline.
#include "backends/http_delivery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "aggregator/snapshot.h"
#include "tests/backends/test_http_server.h"

namespace tallyd::backends {
namespace {

using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using testing::HttpRequest;
using testing::HttpResponse;
using ::testing::Not;
using testing::TestHttpServer;

Flush MakeFlush(uint64_t sequence) {
  auto snapshot = std::make_shared<aggregator::Snapshot>();
  snapshot->sequence = sequence;
  return {snapshot, nullptr};
}

HttpResponse Respond(int status, std::string body = "",
                     std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.headers = std::move(headers);
  return response;
}

// The backend's side: the bodies a flush turns into, and what HttpDelivery asked of it.
struct Requests {
  explicit Requests(std::vector<std::string> bodies_in = {}, std::string encoding_in = "")
      : bodies(std::move(bodies_in)), encoding(std::move(encoding_in)) {}
  std::vector<std::string> bodies;
  std::string encoding;
  int prepared = 0;          // calls of `prepare`
  std::vector<size_t> sent;  // `sent` calls, in order
};

std::vector<std::string> Bodies(const std::vector<HttpRequest>& requests) {
  std::vector<std::string> bodies;
  for (const HttpRequest& r : requests) bodies.push_back(r.body);
  return bodies;
}

class HttpDeliveryTest : public ::testing::Test {
 protected:
  std::unique_ptr<HttpDelivery> Make(HttpDeliveryOptions options = {}) {
    options.name = "test";
    auto http = HttpDelivery::Create(std::move(options));
    EXPECT_TRUE(http.ok()) << http.status();
    return http.ok() ? std::move(*http) : nullptr;
  }

  Delivery Send(HttpDelivery& http, const Flush& flush, Requests& r) {
    return http.Deliver(
        flush,
        [&] {
          ++r.prepared;
          return r.bodies.size();
        },
        [&](size_t i) {
          return HttpPost{.url = url_,
                          .content_encoding = r.encoding,
                          .body = r.bodies[i],
                          .note = "note " + std::to_string(i)};
        },
        [&](size_t i) { r.sent.push_back(i); });
  }

  TestHttpServer server_;
  std::string url_ = server_.url() + "/push";
};

TEST_F(HttpDeliveryTest, DeliversEveryRequestInOrderOverOneConnection) {
  HttpDeliveryOptions options;
  options.headers = {"X-Test: yes", "Content-Type: application/x-test"};
  auto http = Make(options);
  ASSERT_NE(http, nullptr);
  Requests r({"one", "two", "three"});
  Delivery result = Send(*http, MakeFlush(1), r);
  EXPECT_EQ(result.outcome, Delivery::Outcome::kDelivered) << result.error;
  EXPECT_EQ(r.prepared, 1);
  EXPECT_THAT(r.sent, ElementsAre(0, 1, 2));
  std::vector<HttpRequest> requests = server_.requests();
  EXPECT_THAT(Bodies(requests), ElementsAre("one", "two", "three"));
  for (const HttpRequest& request : requests) {
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.path, "/push");
    EXPECT_EQ(request.Header("x-test"), "yes");
    EXPECT_EQ(request.Header("content-type"), "application/x-test");
    EXPECT_EQ(request.Header("user-agent"), "tallyd");
    EXPECT_EQ(request.headers.count("content-encoding"), 0u);
    EXPECT_EQ(request.connection, 1) << "the connection is kept alive and reused";
  }
  // Content-Encoding as each request says, beside the fixed headers, on the same connection.
  Requests encoded({"four"}, "snappy");
  EXPECT_EQ(Send(*http, MakeFlush(2), encoded).outcome, Delivery::Outcome::kDelivered);
  requests = server_.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[3].Header("content-encoding"), "snappy");
  EXPECT_EQ(requests[3].Header("x-test"), "yes");
  EXPECT_EQ(server_.connections(), 1);
  EXPECT_EQ(http->stats().sent, 4u);
  EXPECT_EQ(http->stats().failed, 0u);
}

TEST_F(HttpDeliveryTest, AFlushWithoutRequestsIsDelivered) {
  auto http = Make();
  Requests r;
  EXPECT_EQ(Send(*http, MakeFlush(1), r).outcome, Delivery::Outcome::kDelivered);
  EXPECT_EQ(r.prepared, 1);
  EXPECT_TRUE(server_.requests().empty());
}

TEST_F(HttpDeliveryTest, ServerErrorRetriesAfterItsRetryAfterWhenAsked) {
  HttpDeliveryOptions options;
  options.retry_after_on_server_error = true;
  auto honouring = Make(options);
  auto ignoring = Make();
  Requests r({"one"});
  server_.Enqueue(Respond(503, "busy", {{"Retry-After", "3"}}));
  Delivery result = Send(*honouring, MakeFlush(1), r);
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(result.error.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(result.retry_after, absl::Seconds(3));
  EXPECT_EQ(result.error.message(),
            "test POST " + url_ + ": HTTP 503 (request 1 of 1 of flush 1, note 0): busy");
  EXPECT_EQ(honouring->stats().failed, 1u);

  server_.Enqueue(Respond(500, "", {{"Retry-After", "3"}}));
  result = Send(*ignoring, MakeFlush(1), r);
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(result.retry_after, absl::ZeroDuration());  // the runner's backoff
  EXPECT_THAT(r.sent, ::testing::IsEmpty());
}

TEST_F(HttpDeliveryTest, TooManyRequestsWaitsForThePeersBackOff) {
  HttpDeliveryOptions options;
  options.rate_limit_reset = true;
  auto with_reset = Make(options);
  auto http = Make();
  Requests r({"one"});
  const Flush flush = MakeFlush(1);
  auto retry_after = [&](HttpDelivery& delivery, HttpResponse response) {
    server_.Enqueue(std::move(response));
    Delivery result = Send(delivery, flush, r);
    EXPECT_EQ(result.outcome, Delivery::Outcome::kRetry);
    EXPECT_EQ(result.error.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(result.error.message(), HasSubstr("HTTP 429"));
    return result.retry_after;
  };
  EXPECT_EQ(retry_after(*http, Respond(429, "", {{"Retry-After", "7"}})), absl::Seconds(7));
  const std::string date = absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT",
                                            absl::Now() + absl::Seconds(30), absl::UTCTimeZone());
  absl::Duration dated = retry_after(*http, Respond(429, "", {{"Retry-After", date}}));
  EXPECT_GT(dated, absl::Seconds(20));
  EXPECT_LE(dated, absl::Seconds(31));
  EXPECT_EQ(retry_after(*http, Respond(429, "", {{"Retry-After", "99999999"}})), absl::Hours(1));
  EXPECT_EQ(retry_after(*http, Respond(429, "", {{"Retry-After", "soon"}})), absl::ZeroDuration());
  EXPECT_EQ(retry_after(*with_reset, Respond(429, "", {{"X-RateLimit-Reset", "4"}})),
            absl::Seconds(4));
  EXPECT_EQ(retry_after(*http, Respond(429, "", {{"X-RateLimit-Reset", "4"}})),
            absl::ZeroDuration());
  EXPECT_EQ(retry_after(*with_reset,
                        Respond(429, "", {{"Retry-After", "2"}, {"X-RateLimit-Reset", "4"}})),
            absl::Seconds(2));
  EXPECT_EQ(http->stats().failed, 5u);
}

TEST_F(HttpDeliveryTest, RequestTimeoutIsRetriedOnlyWhenAsked) {
  HttpDeliveryOptions options;
  options.retry_request_timeout = true;
  auto retrying = Make(options);
  auto http = Make();
  Requests r({"one"});
  server_.Enqueue(Respond(408, "", {{"Retry-After", "3"}}));
  Delivery result = Send(*retrying, MakeFlush(1), r);
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(result.error.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(result.retry_after, absl::ZeroDuration());
  server_.Enqueue(Respond(408));
  EXPECT_EQ(Send(*http, MakeFlush(1), r).outcome, Delivery::Outcome::kRejected);
}

TEST_F(HttpDeliveryTest, AClientErrorDropsThatRequestAndSendsTheRest) {
  auto http = Make();
  Requests r({"one", "two", "three"});
  server_.Enqueue(Respond(200));
  server_.Enqueue(Respond(400, "bad\nsample"));
  Delivery result = Send(*http, MakeFlush(1), r);
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRejected);
  EXPECT_EQ(result.error.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(result.error.message(),
            "test POST " + url_ + ": HTTP 400 (request 2 of 3 of flush 1, note 1): bad sample");
  EXPECT_THAT(Bodies(server_.requests()), ElementsAre("one", "two", "three"));  // not retried
  EXPECT_THAT(r.sent, ElementsAre(0, 2));
  EXPECT_EQ(http->stats().rejected, 1u);
  EXPECT_EQ(http->stats().sent, 2u);

  // Two refusals: the first one's message, and how many there were. The body is cut for the log.
  server_.Enqueue(Respond(422, std::string(600, 'x')));
  server_.Enqueue(Respond(200));
  server_.Enqueue(Respond(404));
  result = Send(*http, MakeFlush(2), r);
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRejected);
  EXPECT_THAT(result.error.message(), HasSubstr("HTTP 422 (request 1 of 3 of flush 2, note 0): " +
                                                std::string(512, 'x') + "...; 2 of 3 requests"));
  EXPECT_EQ(r.prepared, 2);
}

TEST_F(HttpDeliveryTest, ARefusedCredentialEndsTheFlushWhenAHintIsGiven) {
  HttpDeliveryOptions options;
  options.auth_hint = "check the key";
  auto http = Make(options);
  Requests r({"one", "two", "three"});
  server_.Enqueue(Respond(403, "forbidden"));
  Delivery result = Send(*http, MakeFlush(1), r);
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRejected);
  EXPECT_EQ(result.error.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(result.error.message(), HasSubstr("HTTP 403"));
  EXPECT_THAT(std::string(result.error.message()), EndsWith("forbidden; check the key"));
  EXPECT_EQ(server_.requests().size(), 1u);  // the rest is not tried with a bad key
  EXPECT_EQ(http->stats().rejected, 3u);
  // The next flush starts afresh.
  EXPECT_EQ(Send(*http, MakeFlush(2), r).outcome, Delivery::Outcome::kDelivered);
  EXPECT_EQ(server_.requests().size(), 4u);

  // Without a hint a 401 is a refusal of that request only.
  auto plain = Make();
  server_.Enqueue(Respond(401));
  EXPECT_EQ(Send(*plain, MakeFlush(3), r).outcome, Delivery::Outcome::kRejected);
  EXPECT_EQ(server_.requests().size(), 7u);
  EXPECT_EQ(plain->stats().rejected, 1u);
}

TEST_F(HttpDeliveryTest, ARetriedFlushResumesAtItsFirstUnsentRequest) {
  auto http = Make();
  Requests r({"a", "b", "c", "d"});
  const Flush flush = MakeFlush(1);
  server_.Enqueue(Respond(200));
  server_.Enqueue(Respond(200));
  server_.Enqueue(Respond(500));
  Delivery first = Send(*http, flush, r);
  EXPECT_EQ(first.outcome, Delivery::Outcome::kRetry);
  EXPECT_THAT(first.error.message(), HasSubstr("request 3 of 4 of flush 1"));
  server_.Enqueue(Respond(503));
  EXPECT_EQ(Send(*http, flush, r).outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(Send(*http, flush, r).outcome, Delivery::Outcome::kDelivered);
  EXPECT_EQ(r.prepared, 1) << "a retry does not prepare the flush again";
  EXPECT_THAT(Bodies(server_.requests()), ElementsAre("a", "b", "c", "c", "c", "d"));
  EXPECT_THAT(r.sent, ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(http->stats().sent, 4u);
  EXPECT_EQ(http->stats().failed, 2u);
}

TEST_F(HttpDeliveryTest, AnotherFlushAfterAFailureStartsAfresh) {
  auto http = Make();
  Requests r({"a", "b"});
  server_.Enqueue(Respond(200));
  server_.Enqueue(Respond(500));
  EXPECT_EQ(Send(*http, MakeFlush(1), r).outcome, Delivery::Outcome::kRetry);
  // The runner dropped flush 1: flush 2 is prepared and sent from its first request.
  r.bodies = {"x", "y"};
  EXPECT_EQ(Send(*http, MakeFlush(2), r).outcome, Delivery::Outcome::kDelivered);
  EXPECT_EQ(r.prepared, 2);
  EXPECT_THAT(Bodies(server_.requests()), ElementsAre("a", "b", "x", "y"));
}

TEST_F(HttpDeliveryTest, SecretsAreRedactedFromEveryMessage) {
  constexpr char kSecret[] = "s3cret-k3y";
  HttpDeliveryOptions options;
  options.headers = {std::string("X-Key: ") + kSecret};
  options.secrets = {kSecret};
  auto http = Make(options);
  Requests r({"one"});
  server_.Enqueue(Respond(400, std::string("unknown key ") + kSecret));
  Delivery result = Send(*http, MakeFlush(1), r);
  EXPECT_EQ(server_.requests()[0].Header("x-key"), kSecret);
  EXPECT_THAT(result.error.message(), HasSubstr("unknown key <redacted>"));
  EXPECT_THAT(result.error.message(), Not(HasSubstr(kSecret)));
}

TEST_F(HttpDeliveryTest, ANetworkErrorIsRetriedWithCurlsReason) {
  {
    TestHttpServer closed;  // a port nobody listens on once it is gone
    url_ = closed.url() + "/push";
  }
  auto http = Make();
  Requests r({"one"});
  Delivery result = Send(*http, MakeFlush(7), r);
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(result.error.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(result.error.message(), HasSubstr("test POST " + url_ + ": "));
  EXPECT_THAT(result.error.message(), HasSubstr("onnect"));  // curl's "Could not connect ..."
  EXPECT_THAT(std::string(result.error.message()), EndsWith("(request 1 of 1 of flush 7, note 0)"));
  EXPECT_EQ(http->stats().failed, 1u);
}

TEST_F(HttpDeliveryTest, AStopPassedBeforeARequestSendsNothing) {
  auto http = Make();
  http->StopBy(absl::Now());
  Requests r({"one"});
  Delivery result = Send(*http, MakeFlush(1), r);
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(result.error.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(result.error.message(), HasSubstr("stop deadline"));
  EXPECT_TRUE(server_.requests().empty());
}

TEST_F(HttpDeliveryTest, AStopWakesARequestInFlight) {
  HttpResponse hang = Respond(200);
  hang.delay = absl::InfiniteDuration();
  server_.Enqueue(hang);
  HttpDeliveryOptions options;
  options.timeout = absl::Seconds(60);  // libcurl's own timeout would come far later
  auto http = Make(options);
  absl::Time stopped = absl::InfiniteFuture();
  std::thread stopper([&] {
    ASSERT_TRUE(server_.WaitForRequests(1, absl::Seconds(20)));
    stopped = absl::Now();
    http->StopBy(stopped);
  });
  Requests r({"one"});
  Delivery result = Send(*http, MakeFlush(1), r);
  const absl::Time returned = absl::Now();
  stopper.join();  // `stopped` is read after the join
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(result.error.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(returned - stopped, absl::Seconds(2));  // a loaded 2-core machine's slack
  EXPECT_EQ(http->stats().failed, 1u);
}

}  // namespace
}  // namespace tallyd::backends
