// GET /debug/series through the real binary: names of different cardinalities ranked by live
// series and by samples, and the series a max_series_per_metric cap dropped (issue 13).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "tallyd_process.h"

namespace tallyd::testing {
namespace {

using Json = nlohmann::json;

Json Parse(const std::string& body) {
  return Json::parse(body, /*cb=*/nullptr, /*allow_exceptions=*/false);
}

// "name:1|c|#host:h0\n..." for `n` distinct hosts.
std::string Counters(const std::string& name, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) absl::StrAppend(&out, name, ":1|c|#host:h", i, ",env:prod\n");
  return out;
}

class DebugSeriesTest : public ::testing::Test {
 protected:
  DebugSeriesTest()
      : tallyd_({"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0", "--flush_interval=200ms",
                 "--workers=1", "--max_series=1000", "--max_series_per_metric=5"}) {}
  void SetUp() override {
    ASSERT_TRUE(tallyd_.WaitReady()) << tallyd_.Stderr();
    url_ = "http://" + tallyd_.Address("prometheus") + "/debug/series";
    SendUdp(tallyd_.Address("udp"), Counters("wide", 8) + Counters("mid", 3));
  }
  // Sends the timer's 50 samples again and reads the JSON report.
  Json Poll() {
    std::string busy = "busy";
    for (int i = 0; i < 50; ++i) absl::StrAppend(&busy, ":", i);
    SendUdp(tallyd_.Address("udp"), busy + "|ms");
    return Parse(HttpGet(url_ + "?format=json"));
  }

  TallydProcess tallyd_;
  std::string url_;
};

TEST_F(DebugSeriesTest, RanksNamesAndCountsTheDrops) {
  Json report;
  ASSERT_TRUE(WaitFor([&] {
    report = Poll();
    return !report.is_discarded() && report["by_series"].size() == 3 &&
           report["by_series"][0]["series"] == 5 && report["by_samples"].size() >= 1 &&
           report["by_samples"][0]["name"] == "busy" &&
           report["dropped"]["max_series_per_metric_total"] == 3;
  })) << report.dump(2);
  EXPECT_EQ(report["max_series"], 1000);
  EXPECT_EQ(report["live_series"], 9);  // wide 5 (cap), mid 3, busy 1
  const Json& wide = report["by_series"][0];
  EXPECT_EQ(wide["name"], "wide");
  EXPECT_DOUBLE_EQ(wide["max_series_share"].get<double>(), 0.005);
  EXPECT_EQ(wide["tag_keys"][0]["key"], "host");
  EXPECT_EQ(wide["tag_keys"][0]["distinct_values"], 5);
  EXPECT_EQ(report["by_series"][1]["name"], "mid");
  EXPECT_EQ(report["by_series"][1]["series"], 3);
  EXPECT_EQ(report["by_series"][2]["name"], "busy");
  const Json& busy = report["by_samples"][0];
  EXPECT_EQ(busy["samples"].get<int>() % 50, 0);
  EXPECT_FALSE(busy["samples_lower_bound"].get<bool>());
  EXPECT_EQ(busy["types"], Json::array({"timer"}));
}

TEST_F(DebugSeriesTest, DropsAreListedByNameInTheirFlush) {
  // A fresh name past the cap each poll, so every flush has drops to list.
  int round = 0;
  Json report;
  ASSERT_TRUE(WaitFor([&] {
    SendUdp(tallyd_.Address("udp"), Counters(absl::StrCat("burst", round++), 7));
    report = Parse(HttpGet(url_ + "?format=json"));
    return !report.is_discarded() && !report["dropped"]["by_name"].empty() &&
           report["dropped"]["by_name"][0]["dropped"] == 2;
  })) << report.dump(2);
  EXPECT_TRUE(report["dropped"]["by_name"][0]["name"].get<std::string>().starts_with("burst"));
  EXPECT_GE(report["dropped"]["max_series_per_metric"].get<int>(), 2);
}

TEST_F(DebugSeriesTest, PlainTableAndUnknownDebugPaths) {
  std::string table;
  ASSERT_TRUE(WaitFor([&] {
    table = HttpGet(url_);
    return table.find("wide") != std::string::npos;
  })) << table;
  EXPECT_NE(table.find("TOP NAMES BY SERIES"), std::string::npos) << table;
  long status = 0;
  HttpGet("http://" + tallyd_.Address("prometheus") + "/debug/nothing", &status);
  EXPECT_EQ(status, 404);
  HttpGet("http://" + tallyd_.Address("prometheus") + "/healthz", &status);
  EXPECT_EQ(status, 200);
}

// Occurrences of `needle` in `text`.
size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST_F(DebugSeriesTest, TopPrintsTheTableOfARunningTallyd) {
  const std::string address = tallyd_.Address("prometheus");
  ASSERT_TRUE(WaitFor([&] { return HttpGet(url_).find("wide") != std::string::npos; }));
  RunResult top = RunTallyd({"top", "--url", address, "-n", "1"});
  EXPECT_EQ(top.exit_status, 0) << top.err;
  EXPECT_NE(top.out.find("TOP NAMES BY SERIES"), std::string::npos) << top.out;
  EXPECT_NE(top.out.find("wide (counter)"), std::string::npos) << top.out;
  EXPECT_EQ(top.out.find("mid (counter)"), std::string::npos) << "-n 1 shows one name\n" << top.out;
  EXPECT_EQ(top.out.find("\x1b"), std::string::npos) << "no screen control without --watch";
}

TEST_F(DebugSeriesTest, TopWatchRedrawsEveryFlushInterval) {
  ASSERT_TRUE(WaitFor([&] { return HttpGet(url_).find("wide") != std::string::npos; }));
  // No --interval: the server's 200ms flush interval paces the redraws (a 10 s default would
  // outlast the timeout).
  RunResult top = RunTallyd(
      {"top", "--url=http://" + tallyd_.Address("prometheus"), "--watch", "--iterations=3"},
      absl::Seconds(5));
  EXPECT_EQ(top.exit_status, 0) << top.err;
  EXPECT_EQ(Count(top.out, "\x1b[H\x1b[2J"), 3u) << top.out;
  EXPECT_EQ(Count(top.out, "TOP NAMES BY SERIES"), 3u) << top.out;
  EXPECT_NE(top.out.find("wide (counter)"), std::string::npos) << top.out;
}

TEST(DebugTopTest, ReportsAnUnreachableServerAndBadFlags) {
  // Listening but never answering: top gives up after its 5 s request timeout.
  PortHolder unused(/*udp=*/false);
  RunResult top =
      RunTallyd({"top", "--url", "127.0.0.1:" + std::to_string(unused.port())}, absl::Seconds(15));
  EXPECT_EQ(top.exit_status, 1);
  EXPECT_NE(top.err.find("127.0.0.1:" + std::to_string(unused.port())), std::string::npos)
      << top.err;
  RunResult bad = RunTallyd({"top", "--bogus"});
  EXPECT_EQ(bad.exit_status, 2);
  EXPECT_NE(bad.err.find("unknown argument \"--bogus\""), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace tallyd::testing
