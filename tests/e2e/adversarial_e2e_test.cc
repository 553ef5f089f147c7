// End-to-end: the adversarial corpus (tests/backends/adversarial_corpus.h) sent as UDP lines to
// the real tallyd with every backend on, and each output checked by its real reader (SPEC 2: no
// output may become unparsable because of what a client sent): the Prometheus scrape by
// promtool, the Datadog bodies and console lines by nlohmann::json, the carbon stream by carbon's
// own line receiver.
#include <signal.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/backends/adversarial_corpus.h"
#include "tests/backends/carbon_listener.h"
#include "tests/backends/output_readers.h"
#include "tests/backends/test_http_server.h"
#include "tests/e2e/tallyd_process.h"

namespace tallyd::testing {
namespace {

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(AdversarialE2eTest, EveryOutputStaysReadableByItsReader) {
  if (!PromtoolInstalled() || !CarbonInstalled()) {
    GTEST_SKIP() << "promtool (Debian `prometheus`) or carbon (`graphite-carbon`) missing";
  }
  CarbonListener carbon;
  TestHttpServer datadog;
  TallydProcess tallyd({"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0",
                        "--flush_interval=200ms", "--console", "--console_self_metrics=true",
                        "--graphite_address=" + carbon.address(), "--datadog_url=" + datadog.url(),
                        "--datadog_api_key=e2e-key", "--datadog_self_metrics=true"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();

  std::vector<std::string> lines = corpus::AdversarialLines();
  ASSERT_GT(lines.size(), 40u);
  // Bytes that are not UTF-8, in every place a client can put them: each line is rejected
  // (invalid_utf8), so no output carries them (promtool, JSON and carbon would refuse them).
  const std::vector<std::string> invalid_utf8 = {
      "bad\xff.name:1|c",         "x:1|c|#k:\xff\xfe",        "x:1|ms|#\xc0\xaf:v",
      "x:1|g|#k:\xed\xa0\x80",    "_e{2,1}:a\xff|b",          "_e{1,2}:a|\xc3(",
      "_sc|db\xf4\x90\x80\x80|0", "_sc|db|2|m:down \xe2\x82", "set\x80:member|s"};
  lines.insert(lines.end(), invalid_utf8.begin(), invalid_utf8.end());
  // One datagram each (the long ones are 10-20 kB), then a marker: from one socket they reach
  // one worker in order, so once the marker's counter has been flushed twice, so has the rest.
  for (const std::string& line : lines) SendUdp(tallyd.Address("udp"), line);
  SendUdp(tallyd.Address("udp"), "adversarial.done:1|c");
  ASSERT_TRUE(WaitFor([&] {
    return Count(carbon.received(), "stats_counts.adversarial.done ") >= 2;
  })) << tallyd.Stderr();
  ASSERT_TRUE(WaitFor([&] {
    for (const HttpRequest& r : datadog.requests()) {
      if (r.decoded.find("\"adversarial.done\"") != std::string::npos) return true;
    }
    return false;
  })) << tallyd.Stderr();
  const std::string scrape = HttpGet("http://" + tallyd.Address("prometheus") + "/metrics");
  ASSERT_NE(scrape.find("\nadversarial_done "), std::string::npos) << scrape.substr(0, 4000);

  tallyd.Signal(SIGTERM);
  ASSERT_EQ(tallyd.WaitExit(), 0) << tallyd.Stderr();

  EXPECT_EQ(absl::StrJoin(PrometheusProblems(scrape), "\n"), "");
  EXPECT_THAT(scrape, ::testing::HasSubstr(
                          absl::StrCat("tallyd_lines_rejected_total{reason=\"invalid_utf8\"} ",
                                       invalid_utf8.size(), "\n")));
  // Some corpus series were refused or lost labels, and that is counted.
  EXPECT_EQ(scrape.find("tallyd_prometheus_type_conflicts_total 0\n"), std::string::npos);
  EXPECT_EQ(scrape.find("tallyd_prometheus_invalid_labels_total 0\n"), std::string::npos);

  size_t received = 0;
  EXPECT_EQ(absl::StrJoin(CarbonProblems(carbon.received(), &received), "\n"), "");
  EXPECT_GT(received, 400u);
  // The 10 kB timer with its 10 kB tag was received, but its Graphite lines are longer than
  // carbon reads: left out, rather than have carbon drop the connection and what follows.
  EXPECT_EQ(carbon.received().find("stats.timers.tttttttttt"), std::string::npos);
  EXPECT_NE(scrape.find("\ntttttttttt"), std::string::npos);

  size_t bodies = 0;
  for (const HttpRequest& r : datadog.requests()) {
    EXPECT_EQ(r.decode_error, "") << r.path;
    EXPECT_EQ(absl::StrJoin(JsonProblems(r.decoded), "\n"), "") << r.path;
    ++bodies;
  }
  EXPECT_GT(bodies, 4u);
  std::vector<std::string> paths;
  for (const HttpRequest& r : datadog.requests()) paths.push_back(r.path);
  EXPECT_THAT(paths, ::testing::IsSupersetOf({"/api/v2/series", "/api/v1/distribution_points",
                                              "/api/v1/check_run", "/api/v1/events"}));

  const std::string console = tallyd.Stdout();
  EXPECT_GT(Count(console, "\n"), 100u);
  EXPECT_EQ(absl::StrJoin(JsonLinesProblems(console), "\n"), "");
}

}  // namespace
}  // namespace tallyd::testing
