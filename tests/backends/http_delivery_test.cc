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

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "aggregator/snapshot.h"
#include "backends/clock.h"
#include "tests/backends/test_http_server.h"

namespace tallyd::backends {
namespace {

using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using testing::HttpRequest;
using ::testing::Not;
using ::testing::StartsWith;
using testing::TestHttpServer;

Flush MakeFlush(uint64_t sequence) {
  auto snapshot = std::make_shared<aggregator::Snapshot>();
  snapshot->sequence = sequence;
  return {snapshot, nullptr};
}

using Headers = std::vector<std::pair<std::string, std::string>>;

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

  // Scripts the server's answer to the next request.
  void Answer(int status, std::string body = "", Headers headers = {},
              absl::Duration delay = absl::ZeroDuration()) {
    server_.Enqueue(
        {.status = status, .body = std::move(body), .headers = std::move(headers), .delay = delay});
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

// How each answer ends a one-request flush, with each peer's options.
TEST_F(HttpDeliveryTest, ClassifiesEachAnswer) {
  using Outcome = Delivery::Outcome;
  using Code = absl::StatusCode;
  struct Case {
    int status;
    const char* retry_after;  // the answer's Retry-After, "" for none
    bool retry_request_timeout, retry_after_on_server_error;
    const char* auth_hint;
    Outcome outcome;
    Code code;
    absl::Duration wait;
  };
  const absl::Duration none = absl::ZeroDuration();
  const Case cases[] = {
      {200, "", false, false, "", Outcome::kDelivered, Code::kOk, none},
      {204, "3", false, false, "", Outcome::kDelivered, Code::kOk, none},
      {503, "3", false, false, "", Outcome::kRetry, Code::kUnavailable, none},
      {503, "3", false, true, "", Outcome::kRetry, Code::kUnavailable, absl::Seconds(3)},
      {500, "", false, true, "", Outcome::kRetry, Code::kUnavailable, none},
      {429, "7", false, false, "", Outcome::kRetry, Code::kResourceExhausted, absl::Seconds(7)},
      {408, "3", false, true, "", Outcome::kRejected, Code::kInvalidArgument, none},
      {408, "3", true, false, "", Outcome::kRetry, Code::kUnavailable, none},
      {408, "3", true, true, "", Outcome::kRetry, Code::kUnavailable, none},
      {400, "3", true, true, "", Outcome::kRejected, Code::kInvalidArgument, none},
      {302, "", false, false, "", Outcome::kRejected, Code::kInvalidArgument, none},
      {401, "", false, false, "", Outcome::kRejected, Code::kInvalidArgument, none},
      {401, "", false, false, "hint", Outcome::kRejected, Code::kPermissionDenied, none},
      {403, "", false, false, "hint", Outcome::kRejected, Code::kPermissionDenied, none},
      {404, "", false, false, "hint", Outcome::kRejected, Code::kInvalidArgument, none},
  };
  uint64_t sequence = 0;
  for (const Case& c : cases) {
    HttpDeliveryOptions options;
    options.retry_request_timeout = c.retry_request_timeout;
    options.retry_after_on_server_error = c.retry_after_on_server_error;
    options.auth_hint = c.auth_hint;
    auto http = Make(options);
    ASSERT_NE(http, nullptr);
    Headers headers;
    if (*c.retry_after != '\0') headers.emplace_back("Retry-After", c.retry_after);
    Answer(c.status, "why", headers);
    Requests r({"one"});
    Delivery result = Send(*http, MakeFlush(++sequence), r);
    SCOPED_TRACE(::testing::Message() << "HTTP " << c.status << " " << result.error);
    EXPECT_EQ(result.outcome, c.outcome);
    EXPECT_EQ(result.error.code(), c.code);
    EXPECT_EQ(result.retry_after, c.wait);
    const HttpDeliveryStats stats = http->stats();
    EXPECT_EQ(stats.sent, c.outcome == Outcome::kDelivered ? 1u : 0u);
    EXPECT_EQ(stats.failed, c.outcome == Outcome::kRetry ? 1u : 0u);
    EXPECT_EQ(stats.rejected, c.outcome == Outcome::kRejected ? 1u : 0u);
    if (c.outcome != Outcome::kDelivered) {
      EXPECT_THAT(
          std::string(result.error.message()),
          StartsWith(absl::StrCat("test POST ", url_, ": HTTP ", c.status,
                                  " (request 1 of 1 of flush ", sequence, ", note 0): why")));
    }
  }
}

TEST_F(HttpDeliveryTest, TooManyRequestsWaitsForThePeersBackOff) {
  HttpDeliveryOptions options;
  options.rate_limit_reset = true;
  auto with_reset = Make(options);
  auto http = Make();
  Requests r({"one"});
  const Flush flush = MakeFlush(1);
  auto retry_after = [&](HttpDelivery& delivery, Headers headers) {
    Answer(429, "", std::move(headers));
    Delivery result = Send(delivery, flush, r);
    EXPECT_EQ(result.outcome, Delivery::Outcome::kRetry);
    EXPECT_EQ(result.error.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(result.error.message(), HasSubstr("HTTP 429"));
    return result.retry_after;
  };
  EXPECT_EQ(retry_after(*http, {{"Retry-After", "7"}}), absl::Seconds(7));
  const std::string date = absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT",
                                            absl::Now() + absl::Seconds(30), absl::UTCTimeZone());
  absl::Duration dated = retry_after(*http, {{"Retry-After", date}});
  EXPECT_GT(dated, absl::Seconds(20));
  EXPECT_LE(dated, absl::Seconds(31));
  EXPECT_EQ(retry_after(*http, {{"Retry-After", "99999999"}}), absl::Hours(1));
  EXPECT_EQ(retry_after(*http, {{"Retry-After", "soon"}}), absl::ZeroDuration());
  EXPECT_EQ(retry_after(*with_reset, {{"X-RateLimit-Reset", "4"}}), absl::Seconds(4));
  EXPECT_EQ(retry_after(*http, {{"X-RateLimit-Reset", "4"}}), absl::ZeroDuration());
  EXPECT_EQ(retry_after(*with_reset, {{"Retry-After", "2"}, {"X-RateLimit-Reset", "4"}}),
            absl::Seconds(2));
  EXPECT_EQ(http->stats().failed, 5u);
}

// The machine's monotonic clock beside a wall clock standing at `wall` (as if it had been
// stepped there), so that a reading of the wrong clock shows. The machine's clock is untouched.
class SetWallClock : public Clock {
 public:
  explicit SetWallClock(absl::Time wall) : wall_(wall) {}
  absl::Time WallNow() const override { return wall_; }
  absl::Time MonotonicNow() const override { return backends::MonotonicNow(); }

 private:
  const absl::Time wall_;
};

// An HTTP-date Retry-After names a wall-clock instant: the wait is measured from the wall clock
// (here stood at 2020-01-02 03:04:05 UTC), not the monotonic one nor the machine's absl::Now().
TEST_F(HttpDeliveryTest, AnHttpDateRetryAfterIsMeasuredOnTheWallClock) {
  const absl::Time wall =
      absl::FromCivil(absl::CivilSecond(2020, 1, 2, 3, 4, 5), absl::UTCTimeZone());
  SetWallClock clock(wall);
  HttpDeliveryOptions options;
  options.clock = &clock;
  auto http = Make(options);
  Requests r({"one"});
  const std::string date =
      absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", wall + absl::Seconds(45), absl::UTCTimeZone());
  Answer(429, "", {{"Retry-After", date}});
  Delivery result = Send(*http, MakeFlush(1), r);
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(result.retry_after, absl::Seconds(45)) << date;
}

// The stop deadline (StopBy) is on the monotonic clock: one 30 s ahead lets the request go.
// Read against the wall clock it is ~56 years past (the monotonic clock counts from boot) and
// the request would not start.
TEST_F(HttpDeliveryTest, StopDeadlineIsOnTheMonotonicClock) {
  auto http = Make();
  Requests r({"one", "two"});
  http->StopBy(backends::MonotonicNow() + absl::Seconds(30));
  Delivery result = Send(*http, MakeFlush(1), r);
  EXPECT_EQ(result.outcome, Delivery::Outcome::kDelivered) << result.error;
  EXPECT_THAT(Bodies(server_.requests()), ElementsAre("one", "two"));
}

TEST_F(HttpDeliveryTest, AClientErrorDropsThatRequestAndSendsTheRest) {
  auto http = Make();
  Requests r({"one", "two", "three"});
  Answer(200);
  Answer(400, "bad\nsample");
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
  Answer(422, std::string(600, 'x'));
  Answer(200);
  Answer(404);
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
  Answer(403, "forbidden");
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
  Answer(401);
  EXPECT_EQ(Send(*plain, MakeFlush(3), r).outcome, Delivery::Outcome::kRejected);
  EXPECT_EQ(server_.requests().size(), 7u);
  EXPECT_EQ(plain->stats().rejected, 1u);
}

TEST_F(HttpDeliveryTest, ARetriedFlushResumesAtItsFirstUnsentRequest) {
  auto http = Make();
  Requests r({"a", "b", "c", "d"});
  const Flush flush = MakeFlush(1);
  Answer(200);
  Answer(200);
  Answer(500);
  Delivery first = Send(*http, flush, r);
  EXPECT_EQ(first.outcome, Delivery::Outcome::kRetry);
  EXPECT_THAT(first.error.message(), HasSubstr("request 3 of 4 of flush 1"));
  Answer(503);
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
  Answer(200);
  Answer(500);
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
  Answer(400, std::string("unknown key ") + kSecret);
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

// Both on a kept-alive connection, where a request would go out at once and libcurl has no
// timer of its own due soon: only the deadline's check and the stop's wake-up end the wait.
TEST_F(HttpDeliveryTest, AStopPassedBeforeARequestSendsNothing) {
  auto http = Make();
  Requests r({"one"});
  ASSERT_EQ(Send(*http, MakeFlush(1), r).outcome, Delivery::Outcome::kDelivered);
  http->StopBy(backends::MonotonicNow());
  Delivery result = Send(*http, MakeFlush(2), r);
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(result.error.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(result.error.message(), HasSubstr("stop deadline"));
  EXPECT_EQ(server_.requests().size(), 1u);
  EXPECT_EQ(http->stats().failed, 1u);
}

TEST_F(HttpDeliveryTest, AStopWakesARequestInFlight) {
  HttpDeliveryOptions options;
  options.timeout = absl::Seconds(60);  // libcurl's own timeout would come far later
  auto http = Make(options);
  Requests r({"one"});
  ASSERT_EQ(Send(*http, MakeFlush(1), r).outcome, Delivery::Outcome::kDelivered);
  Answer(200, "", {}, absl::InfiniteDuration());  // never answers
  absl::Time stopped = absl::InfiniteFuture();
  std::thread stopper([&] {
    ASSERT_TRUE(server_.WaitForRequests(2, absl::Seconds(20)));
    stopped = backends::MonotonicNow();
    http->StopBy(stopped);
  });
  Delivery result = Send(*http, MakeFlush(2), r);
  const absl::Time returned = backends::MonotonicNow();
  stopper.join();  // `stopped` is read after the join
  EXPECT_EQ(result.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(result.error.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(returned - stopped, absl::Seconds(2));  // a loaded 2-core machine's slack
  EXPECT_EQ(server_.connections(), 1);
  EXPECT_EQ(http->stats().failed, 1u);
}

}  // namespace
}  // namespace tallyd::backends
