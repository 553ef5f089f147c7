// End-to-end: the real tallyd's outbound backends against a local carbon listener and a local
// Datadog-like HTTP server (SPEC 4.2, 4.3): what they receive, and how their failures and
// restarts show in the backend self-metrics (SPEC 4, 5).
#include <signal.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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

// "tallyd_backend_errors_total{backend=\"graphite\"}" -> value, for the three backend counters.
std::map<std::string, double> BackendCounters(const std::string& scrape) {
  std::map<std::string, double> counters;
  for (absl::string_view line : absl::StrSplit(scrape, '\n')) {
    if (!absl::StartsWith(line, "tallyd_backend_")) continue;
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    double value = 0;
    if (parts.size() == 2 && absl::SimpleAtod(parts[1], &value))
      counters[std::string(parts[0])] = value;
  }
  return counters;
}

TEST(OutboundE2eTest, BackendCountersNeverGoDownWhenSighupRestartsTheBackends) {
  int dead_port, prometheus_port;
  {
    PortHolder dead(/*udp=*/false);  // bound then released: nothing listens there afterwards
    PortHolder prometheus(/*udp=*/false);
    dead_port = dead.port();
    prometheus_port = prometheus.port();
  }
  CarbonListener carbon;
  TempDir dir;
  const std::string path = dir.File("tallyd.yaml");
  // A fixed Prometheus port, so that the scrape finds it even if a reload restarted it.
  auto write = [&](const std::string& graphite_address, const std::string& prefix) {
    WriteFile(path, absl::StrCat("flush_interval: 100ms\nshutdown_timeout: 300ms\n",
                                 "listen:\n  udp: [\"127.0.0.1:0\"]\nbackends:\n",
                                 "  prometheus: { listen: \"127.0.0.1:", prometheus_port, "\" }\n",
                                 "  graphite: { address: \"", graphite_address,
                                 "\", legacy_namespace: false, global_prefix: \"", prefix,
                                 "\", max_buffered_flushes: 2, self_metrics: false }\n"));
  };
  write(absl::StrCat("127.0.0.1:", dead_port), "one");
  TallydProcess tallyd({"--config", path});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  const std::string url = absl::StrCat("http://127.0.0.1:", prometheus_port, "/metrics");

  // Every scrape that answers must show each counter at or above its value in the previous one.
  std::map<std::string, double> last;
  auto scrape = [&] {
    std::string body = HttpGet(url);
    for (const auto& [name, value] : BackendCounters(body)) {
      EXPECT_GE(value, last[name]) << name << " went down; " << tallyd.Stderr();
      last[name] = value;
    }
    return body;
  };
  auto at_least = [&](const std::string& name, double value) {
    scrape();
    return last[name] >= value;
  };
  const std::string graphite_sent = "tallyd_backend_sent_total{backend=\"graphite\"}";
  const std::string graphite_errors = "tallyd_backend_errors_total{backend=\"graphite\"}";
  const std::string graphite_dropped = "tallyd_backend_dropped_flushes_total{backend=\"graphite\"}";
  const std::string prometheus_sent = "tallyd_backend_sent_total{backend=\"prometheus\"}";

  // Graphite down: errors and dropped flushes pile up.
  ASSERT_TRUE(WaitFor([&] {
    return at_least(graphite_errors, 2) && at_least(graphite_dropped, 1);
  })) << scrape();
  // Restart with Graphite up: it delivers, and nothing counted before is forgotten.
  write(carbon.address(), "one");
  tallyd.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] {
    SendUdp(tallyd.Address("udp"), "restart.hits:1|c");
    return carbon.received().find("one.counters.restart.hits") != std::string::npos &&
           at_least(graphite_sent, 3);
  })) << carbon.received()
      << scrape() << tallyd.Stderr();
  // Restart again with another prefix: the sent count goes on from where it was.
  const double sent_before = last[graphite_sent];
  const double prometheus_before = last[prometheus_sent];
  write(carbon.address(), "two");
  tallyd.Signal(SIGHUP);
  EXPECT_TRUE(WaitFor([&] {
    SendUdp(tallyd.Address("udp"), "restart.hits:1|c");
    return carbon.received().find("two.counters.restart.hits") != std::string::npos &&
           at_least(graphite_sent, sent_before + 3) &&
           at_least(prometheus_sent, prometheus_before + 3);
  })) << carbon.received()
      << scrape() << tallyd.Stderr();
  EXPECT_GE(last[graphite_errors], 2);
}

TEST(OutboundE2eTest, SighupChangingOnlyGraphiteKeepsPrometheusState) {
  CarbonListener carbon;
  TempDir dir;
  const std::string path = dir.File("tallyd.yaml");
  auto write = [&](const std::string& prefix) {
    WriteFile(path, absl::StrCat("flush_interval: 100ms\nlisten:\n  udp: [\"127.0.0.1:0\"]\n",
                                 "backends:\n  prometheus: { listen: \"127.0.0.1:0\" }\n",
                                 "  graphite: { address: \"", carbon.address(),
                                 "\", legacy_namespace: false, global_prefix: \"", prefix,
                                 "\", self_metrics: false }\n"));
  };
  write("one");
  TallydProcess tallyd({"--config", path});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  const std::string url = "http://" + tallyd.Address("prometheus") + "/metrics";
  SendUdp(tallyd.Address("udp"), "kept.hits:5|c\nkept.rpc:250|ms");
  ASSERT_TRUE(WaitFor([&] {
    std::string body = HttpGet(url);
    return absl::StrContains(body, "\nkept_hits 5\n") &&
           absl::StrContains(body, "\nkept_rpc_count 1\n");
  })) << HttpGet(url);

  write("two");
  tallyd.Signal(SIGHUP);
  // The idle counter is still listed each flush, so Graphite shows the new prefix by itself.
  ASSERT_TRUE(WaitFor([&] {
    return absl::StrContains(carbon.received(), "two.counters.kept.hits");
  })) << carbon.received()
      << tallyd.Stderr();
  // Prometheus kept running on the same port with its cumulative counter and summary.
  std::string body = HttpGet(url);
  EXPECT_THAT(body, HasSubstr("\nkept_hits 5\n")) << tallyd.Stderr();
  EXPECT_THAT(body, HasSubstr("\nkept_rpc_count 1\n"));
  EXPECT_THAT(body, HasSubstr("\nkept_rpc_sum 0.25\n"));
  SendUdp(tallyd.Address("udp"), "kept.hits:2|c");
  EXPECT_TRUE(WaitFor([&] { return absl::StrContains(HttpGet(url), "\nkept_hits 7\n"); }))
      << HttpGet(url);
  EXPECT_THAT(tallyd.Stderr(), HasSubstr("reload: graphite restarted"));
  EXPECT_THAT(tallyd.Stderr(), ::testing::Not(HasSubstr("reload: prometheus")));
}

}  // namespace
}  // namespace tallyd::testing
