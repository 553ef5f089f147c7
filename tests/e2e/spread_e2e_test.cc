// End-to-end: the input is spread over every worker (issue 10 "Spread"): one busy UDP sender's
// datagrams over both workers of the real binary, each worker's share read back from its
// self-metrics (tallyd_worker_datagrams_total, tallyd_worker_lines_total) on a real scrape.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/e2e/tallyd_process.h"

namespace tallyd::testing {
namespace {

// worker index -> value of `metric`{worker="i"} in a Prometheus text scrape.
std::map<std::string, double> PerWorker(const std::string& body, const std::string& metric) {
  std::map<std::string, double> out;
  const std::string prefix = metric + "{worker=\"";
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (!absl::StartsWith(line, prefix)) continue;
    line.remove_prefix(prefix.size());
    size_t quote = line.find("\"} ");
    if (quote == absl::string_view::npos) continue;
    double v = 0;
    if (absl::SimpleAtod(line.substr(quote + 3), &v)) out[std::string(line.substr(0, quote))] = v;
  }
  return out;
}

double Sum(const std::map<std::string, double>& m) {
  double total = 0;
  for (const auto& [w, v] : m) total += v;
  return total;
}

TEST(SpreadE2eTest, OneUdpSenderIsSpreadOverBothWorkers) {
  TallydProcess tallyd({"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0",
                        "--flush_interval=200ms", "--workers=2"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  const std::string url = "http://" + tallyd.Address("prometheus") + "/metrics";

  // One socket: one source port, so SO_REUSEPORT's hash alone would pick one worker for all.
  int sender = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(tallyd.Port("udp")));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(sender, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  constexpr int kDatagrams = 2000;
  const std::string datagram = "spread.hits:1|c\nspread.more:2|c";  // 2 lines each
  for (int i = 0; i < kDatagrams; ++i) {
    ASSERT_EQ(send(sender, datagram.data(), datagram.size(), 0),
              static_cast<ssize_t>(datagram.size()));
  }
  close(sender);

  std::map<std::string, double> datagrams, lines;
  std::string body;
  ASSERT_TRUE(WaitFor([&] {
    body = HttpGet(url);
    datagrams = PerWorker(body, "tallyd_worker_datagrams_total");
    return Sum(datagrams) >= kDatagrams;
  })) << body;
  lines = PerWorker(body, "tallyd_worker_lines_total");
  ASSERT_EQ(datagrams.size(), 2u) << body;
  EXPECT_EQ(Sum(datagrams), kDatagrams);
  // A fair share each: 40 % is ~9 standard deviations below half of 2000 random picks.
  for (const auto& [worker, n] : datagrams) {
    EXPECT_GE(n, kDatagrams * 0.4) << "worker " << worker << "\n" << body;
    EXPECT_EQ(lines[worker], 2 * n) << "worker " << worker;
  }
  // Spread or not, the counts add up in the flush.
  EXPECT_TRUE(WaitFor([&] {
    body = HttpGet(url);
    return absl::StrContains(body, absl::StrCat("\nspread_hits ", kDatagrams, "\n")) &&
           absl::StrContains(body, absl::StrCat("\nspread_more ", 2 * kDatagrams, "\n"));
  })) << body;
}

// A Unix datagram socket with two workers: every datagram is read once, whichever worker took
// it, and the per-worker figures add up to what was sent.
TEST(SpreadE2eTest, UnixSocketWithTwoWorkersReadsEveryDatagramOnce) {
  TempDir dir;
  const std::string path = dir.File("dsd.socket");
  TallydProcess tallyd({"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0",
                        "--flush_interval=200ms", "--workers=2", "--unix=" + path});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  const std::string url = "http://" + tallyd.Address("prometheus") + "/metrics";
  constexpr int kDatagrams = 300;
  for (int i = 0; i < kDatagrams; ++i) SendUnix(path, "uds.spread:1|c");
  std::string body;
  EXPECT_TRUE(WaitFor([&] {
    body = HttpGet(url);
    return absl::StrContains(body, absl::StrCat("\nuds_spread ", kDatagrams, "\n"));
  })) << body;
  std::map<std::string, double> datagrams = PerWorker(body, "tallyd_worker_datagrams_total");
  EXPECT_EQ(datagrams.size(), 2u);
  EXPECT_EQ(Sum(datagrams), kDatagrams) << body;
}

}  // namespace
}  // namespace tallyd::testing
