// End-to-end: one DogStatsD line with tags, sent over UDP to the real tallyd, reaches a local
// carbon listener and a local Datadog-like HTTP server in the same run (SPEC 4.2, 4.3).
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/backends/carbon_listener.h"
#include "tests/backends/test_http_server.h"
#include "tests/e2e/tallyd_process.h"

namespace tallyd::testing {
namespace {

using ::testing::HasSubstr;

TEST(OutboundE2eTest, OneLineReachesGraphiteAndDatadog) {
  CarbonListener carbon;
  TestHttpServer datadog;
  TallydProcess tallyd({"--udp=127.0.0.1:0", "--noprometheus", "--flush_interval=200ms",
                        "--graphite_address=" + carbon.address(), "--graphite_self_metrics=false",
                        "--datadog_url=" + datadog.url(), "--datadog_api_key=e2e-key",
                        "--datadog_host=e2e-host"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  SendUdp(tallyd.Address("udp"),
          "checkout.latency:120|ms|#env:prod,region:eu\ncheckout.orders:2|c|#env:prod");

  ASSERT_TRUE(WaitFor([&] {
    return carbon.received().find("stats.timers.checkout.latency.upper;env=prod;region=eu 120 ") !=
           std::string::npos;
  })) << carbon.received()
      << tallyd.Stderr();
  EXPECT_THAT(carbon.received(), HasSubstr("stats_counts.checkout.orders;env=prod 2 "));
  EXPECT_THAT(carbon.received(), HasSubstr("stats.checkout.orders;env=prod 10 "));  // 2 / 0.2 s

  std::string series;
  ASSERT_TRUE(WaitFor([&] {
    for (const HttpRequest& r : datadog.requests()) {
      if (r.path == "/api/v2/series" &&
          r.decoded.find("checkout.latency.max") != std::string::npos) {
        series = r.decoded;
        EXPECT_EQ(r.Header("dd-api-key"), "e2e-key");
        EXPECT_EQ(r.Header("content-encoding"), "deflate");
        return true;
      }
    }
    return false;
  })) << tallyd.Stderr();
  EXPECT_THAT(series, HasSubstr("\"tags\":[\"env:prod\",\"region:eu\"]"));
  EXPECT_THAT(series, HasSubstr("{\"name\":\"e2e-host\",\"type\":\"host\"}"));
  EXPECT_THAT(series, HasSubstr("\"metric\":\"checkout.orders\",\"type\":2"));
  EXPECT_THAT(tallyd.Stderr(), ::testing::Not(HasSubstr("e2e-key")));  // the key is never logged
}

TEST(OutboundE2eTest, DeadGraphiteNeverHoldsUpPrometheusOrIngestion) {
  int dead_port;
  {
    PortHolder probe(/*udp=*/false);  // bound then released: nothing listens there afterwards
    dead_port = probe.port();
  }
  TallydProcess tallyd({"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0",
                        "--flush_interval=100ms", "--graphite_max_buffered_flushes=2",
                        "--graphite_address=127.0.0.1:" + std::to_string(dead_port)});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  const std::string url = "http://" + tallyd.Address("prometheus") + "/metrics";
  auto scrape_has = [&](const std::string& text) {
    return HttpGet(url).find(text) != std::string::npos;
  };
  for (int i = 1; i <= 3; ++i) {
    SendUdp(tallyd.Address("udp"), "alive:1|c");
    EXPECT_TRUE(WaitFor([&] { return scrape_has("alive " + std::to_string(i) + "\n"); }))
        << HttpGet(url);
  }
  // Graphite's failures are counted, and its queue stays bounded (oldest flushes dropped).
  EXPECT_TRUE(WaitFor([&] {
    std::string body = HttpGet(url);
    return body.find("tallyd_backend_errors_total{backend=\"graphite\"} 0") == std::string::npos &&
           body.find("tallyd_backend_errors_total{backend=\"graphite\"}") != std::string::npos &&
           body.find("tallyd_backend_dropped_flushes_total{backend=\"graphite\"} 0") ==
               std::string::npos;
  })) << HttpGet(url);
  EXPECT_TRUE(scrape_has("tallyd_backend_sent_total{backend=\"prometheus\"}"));
}

}  // namespace
}  // namespace tallyd::testing
