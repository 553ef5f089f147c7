// End-to-end: InfluxDB, Librato and SignalFX tags (tags in the name, as statsd_exporter parses
// them) through the real binary reach /metrics as labels, exactly like DogStatsD tags; a line
// mixing styles is rejected and counted, its neighbours kept; `tag_formats` switches styles off.
// The scrape is read by promtool (tests/backends/output_readers.h).
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/backends/output_readers.h"  // PromtoolInstalled, PrometheusProblems
#include "tests/e2e/tallyd_process.h"

namespace tallyd::testing {
namespace {

bool HasLine(const std::string& body, const std::string& line) {
  for (absl::string_view l : absl::StrSplit(body, '\n')) {
    if (l == line) return true;
  }
  return false;
}

std::vector<std::string> Args(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0",
                                   "--flush_interval=200ms", "--workers=1"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TEST(TagFormatsE2eTest, EveryStyleArrivesAsLabels) {
  if (!PromtoolInstalled()) GTEST_SKIP() << "promtool (Debian `prometheus`) missing";
  TallydProcess tallyd(Args());
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  SendUdp(tallyd.Address("udp"),
          "e2e.influx.requests,method=get,code=200:3|c\n"
          "e2e.librato.queue#queue=jobs:17|g\n"
          "e2e.[region=eu,tier=web]signalfx.hits:5|c\n"
          "e2e.mixed,a=b:1|c|#c:d\n"
          "e2e.malformed,novalue:2|c\n"
          "e2e.dogstatsd.requests:4|c|#method:get,code:200\n");
  const std::string url = "http://" + tallyd.Address("prometheus") + "/metrics";
  std::string scrape;
  const std::vector<std::string> expected = {
      "e2e_influx_requests{code=\"200\",method=\"get\"} 3",
      "e2e_librato_queue{queue=\"jobs\"} 17",
      "e2e_signalfx_hits{region=\"eu\",tier=\"web\"} 5",
      "e2e_malformed 2",
      "e2e_dogstatsd_requests{code=\"200\",method=\"get\"} 4",
      "tallyd_lines_rejected_total{reason=\"mixed_tagging_styles\"} 1",
      "tallyd_tags_malformed_total 1",
  };
  ASSERT_TRUE(WaitFor([&] {
    scrape = HttpGet(url);
    for (const std::string& line : expected) {
      if (!HasLine(scrape, line)) return false;
    }
    return true;
  })) << scrape;
  EXPECT_EQ(scrape.find("e2e_mixed"), std::string::npos);
  EXPECT_EQ(absl::StrJoin(PrometheusProblems(scrape), "\n"), "");
}

TEST(TagFormatsE2eTest, AStyleSwitchedOffStaysInTheName) {
  if (!PromtoolInstalled()) GTEST_SKIP() << "promtool (Debian `prometheus`) missing";
  TallydProcess tallyd(Args({"--tag_formats=dogstatsd,librato"}));
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  SendUdp(tallyd.Address("udp"), "e2e.off,a=b:1|c\ne2e.on#a=b:1|c\n");
  const std::string url = "http://" + tallyd.Address("prometheus") + "/metrics";
  std::string scrape;
  ASSERT_TRUE(WaitFor([&] {
    scrape = HttpGet(url);
    return HasLine(scrape, "e2e_off_a_b 1") && HasLine(scrape, "e2e_on{a=\"b\"} 1");
  })) << scrape;
  EXPECT_EQ(absl::StrJoin(PrometheusProblems(scrape), "\n"), "");
}

}  // namespace
}  // namespace tallyd::testing
