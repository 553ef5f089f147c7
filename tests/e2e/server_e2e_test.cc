// End-to-end: the real tallyd over real sockets (UDP v4/v6, TCP, Unix), read back through a real
// scrape of its Prometheus endpoint (SPEC 2, 3, 4.1, 5).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/tallyd_process.h"

namespace tallyd::testing {
namespace {

using ::testing::HasSubstr;

// A tallyd on loopback, port 0 everywhere, flushing every 200 ms.
std::vector<std::string> BaseArgs(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0",
                                   "--flush_interval=200ms", "--workers=2"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

class Scraper {
 public:
  explicit Scraper(const TallydProcess& p) : url_("http://" + p.Address("prometheus")) {}
  std::string Metrics() const { return HttpGet(url_ + "/metrics"); }
  // Waits until the scrape holds `line` exactly (a whole line).
  bool WaitForLine(const std::string& line) const {
    return WaitFor([&] { return HasLine(Metrics(), line); });
  }
  static bool HasLine(const std::string& body, const std::string& line) {
    for (absl::string_view l : absl::StrSplit(body, '\n')) {
      if (l == line) return true;
    }
    return false;
  }
  const std::string& url() const { return url_; }

 private:
  std::string url_;
};

TEST(ServerE2eTest, EveryMetricTypeReachesTheScrapeEndpoint) {
  TallydProcess tallyd(BaseArgs());
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  Scraper scrape(tallyd);
  SendUdp(tallyd.Address("udp"),
          "myapp.api.request:12.5|ms|#app:myapp,stage:prod,http_method:GET\n"
          "myapp.hits:3|c|#app:myapp\n"
          "myapp.hits:2|c|@0.5|#app:myapp\n"
          "myapp.queue:17|g|#queue\n"
          "myapp.users:alice|s\nmyapp.users:bob|s\nmyapp.users:alice|s\n"
          "myapp.payload:100:200:300|h\n"
          "myapp.latency:7|d\n");
  // Counter: 3 + 2/0.5 = 7, cumulative; tags are labels, a bare tag is "true".
  EXPECT_TRUE(scrape.WaitForLine("myapp_hits{app=\"myapp\"} 7")) << scrape.Metrics();
  EXPECT_TRUE(scrape.WaitForLine("myapp_queue{queue=\"true\"} 17"));
  EXPECT_TRUE(scrape.WaitForLine("myapp_users 2"));
  // Timer: a summary in seconds.
  EXPECT_TRUE(scrape.WaitForLine(
      "myapp_api_request{app=\"myapp\",http_method=\"GET\",stage=\"prod\",quantile=\"0.5\"} "
      "0.0125"));
  EXPECT_TRUE(scrape.WaitForLine(
      "myapp_api_request_count{app=\"myapp\",http_method=\"GET\",stage=\"prod\"} 1"));
  // Histogram: no unit change; three samples of one line.
  EXPECT_TRUE(scrape.WaitForLine("myapp_payload_count 3"));
  EXPECT_TRUE(scrape.WaitForLine("myapp_payload_sum 600"));
  EXPECT_TRUE(scrape.WaitForLine("myapp_payload{quantile=\"0.5\"} 200"));
  EXPECT_TRUE(scrape.WaitForLine("myapp_latency_sum 7"));

  // Counters stay cumulative across flushes.
  SendUdp(tallyd.Address("udp"), "myapp.hits:1|c|#app:myapp");
  EXPECT_TRUE(scrape.WaitForLine("myapp_hits{app=\"myapp\"} 8"));
  EXPECT_TRUE(scrape.WaitForLine("tallyd_lines_received_total{type=\"counter\"} 3"));
  EXPECT_TRUE(scrape.WaitForLine("tallyd_packets_received_total{transport=\"udp\"} 2"));
}

TEST(ServerE2eTest, HealthzAnswersOk) {
  TallydProcess tallyd(BaseArgs());
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  long status = 0;
  std::string body = HttpGet("http://" + tallyd.Address("prometheus") + "/healthz", &status);
  EXPECT_EQ(status, 200);
  EXPECT_THAT(body, HasSubstr("ok"));
}

TEST(ServerE2eTest, ReceivesOverUdpIpv6) {
  TallydProcess tallyd(
      {"--udp=[::1]:0", "--prometheus_listen=127.0.0.1:0", "--flush_interval=200ms"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  ASSERT_THAT(tallyd.Address("udp"), HasSubstr("[::1]:"));
  SendUdp(tallyd.Address("udp"), "v6.hits:5|c");
  Scraper scrape(tallyd);
  EXPECT_TRUE(scrape.WaitForLine("v6_hits 5")) << scrape.Metrics();
}

TEST(ServerE2eTest, ListensOnSeveralUdpAddresses) {
  TallydProcess tallyd(
      {"--udp=127.0.0.1:0,[::1]:0", "--prometheus_listen=127.0.0.1:0", "--flush_interval=200ms"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  std::vector<std::string> lines = absl::StrSplit(ReadFile(tallyd.dir().File("ports")), '\n');
  std::string v4, v6;
  for (const std::string& l : lines) {
    if (l.rfind("udp 127.0.0.1:", 0) == 0) v4 = l.substr(4);
    if (l.rfind("udp [::1]:", 0) == 0) v6 = l.substr(4);
  }
  ASSERT_FALSE(v4.empty());
  ASSERT_FALSE(v6.empty());
  SendUdp(v4, "both:1|c");
  SendUdp(v6, "both:2|c");
  EXPECT_TRUE(Scraper(tallyd).WaitForLine("both 3"));
}

TEST(ServerE2eTest, TcpJoinsLinesSplitAcrossReads) {
  TallydProcess tallyd(BaseArgs({"--tcp=127.0.0.1:0"}));
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  // One line cut in three writes, then two whole lines and an unterminated last one.
  SendTcp(tallyd.Address("tcp"),
          {"tcp.spl", "it:4|c|#k:", "v\ntcp.whole:1|c\ntcp.whole:1|c\n", "tcp.last:9|g"});
  Scraper scrape(tallyd);
  EXPECT_TRUE(scrape.WaitForLine("tcp_split{k=\"v\"} 4")) << scrape.Metrics();
  EXPECT_TRUE(scrape.WaitForLine("tcp_whole 2"));
  EXPECT_TRUE(scrape.WaitForLine("tcp_last 9"));
}

TEST(ServerE2eTest, TcpRejectsAnOverlongLineAndTheConnectionGoesOn) {
  TallydProcess tallyd(BaseArgs({"--tcp=127.0.0.1:0", "--max_line_length=100"}));
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  std::string long_line = "too.long:1|c|#" + std::string(300, 'x') + "\n";
  SendTcp(tallyd.Address("tcp"),
          {"before:1|c\n", long_line.substr(0, 150), long_line.substr(150), "after:1|c\n"});
  Scraper scrape(tallyd);
  EXPECT_TRUE(scrape.WaitForLine("after 1")) << scrape.Metrics();
  EXPECT_TRUE(scrape.WaitForLine("before 1"));
  EXPECT_TRUE(scrape.WaitForLine("tallyd_lines_rejected_total{reason=\"line_too_long\"} 1"));
}

TEST(ServerE2eTest, ReceivesOnAUnixDatagramSocket) {
  TempDir dir;
  std::string path = dir.File("dsd.socket");
  TallydProcess tallyd(BaseArgs({"--unix=" + path}));
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  SendUnix(path, "uds.hits:6|c|#via:uds");
  EXPECT_TRUE(Scraper(tallyd).WaitForLine("uds_hits{via=\"uds\"} 6"));
}

// A connected TCP client that stays open; Closed() tells whether the server hung up.
class TcpClient {
 public:
  explicit TcpClient(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~TcpClient() { close(fd_); }
  bool connected() const { return connected_; }
  bool Closed() const {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 0) != 1) return false;
    char c;
    return recv(fd_, &c, 1, MSG_DONTWAIT) == 0 || (p.revents & (POLLHUP | POLLERR));
  }
  void Send(const std::string& s) { send(fd_, s.data(), s.size(), MSG_NOSIGNAL); }

 private:
  int fd_;
  bool connected_ = false;
};

TEST(ServerE2eTest, AtTheTcpConnectionLimitTheLongestIdleMakesRoomForANewcomer) {
  // One worker: the limit is shared by all, but each worker closes one of its own connections.
  TallydProcess tallyd(BaseArgs({"--tcp=127.0.0.1:0", "--tcp_max_connections=1", "--workers=1"}));
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  Scraper scrape(tallyd);
  TcpClient first(tallyd.Port("tcp"));
  ASSERT_TRUE(first.connected());
  first.Send("limit.first:1|c\n");
  ASSERT_TRUE(scrape.WaitForLine("limit_first 1"));  // the first connection is accepted
  // A sender that went quiet cannot keep a newcomer out: it is closed for it, and counted.
  TcpClient second(tallyd.Port("tcp"));
  EXPECT_TRUE(WaitFor([&] { return first.Closed(); }));
  EXPECT_TRUE(scrape.WaitForLine("tallyd_tcp_connections_closed_total{reason=\"evicted\"} 1"));
  second.Send("limit.second:1|c\n");
  EXPECT_TRUE(scrape.WaitForLine("limit_second 1"));
  EXPECT_TRUE(scrape.WaitForLine("tallyd_tcp_connections_rejected_total 0"));
}

TEST(ServerE2eTest, IdleTcpConnectionsAreClosed) {
  TallydProcess tallyd(BaseArgs({"--tcp=127.0.0.1:0", "--tcp_idle_timeout=300ms"}));
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  TcpClient client(tallyd.Port("tcp"));
  ASSERT_TRUE(client.connected());
  EXPECT_TRUE(WaitFor([&] { return client.Closed(); }, absl::Seconds(10)));
}

// listen.tcp_line_timeout: a sender that holds half a line cannot keep its slot; the whole lines
// it sent before are kept, the half line is not parsed.
TEST(ServerE2eTest, ATcpConnectionHoldingAnIncompleteLineIsClosedAtTcpLineTimeout) {
  TallydProcess tallyd(BaseArgs({"--tcp=127.0.0.1:0", "--tcp_line_timeout=300ms"}));
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  Scraper scrape(tallyd);
  TcpClient slow(tallyd.Port("tcp"));
  ASSERT_TRUE(slow.connected());
  slow.Send("slow.whole:1|c\nslow.half:1");
  EXPECT_TRUE(WaitFor([&] { return slow.Closed(); }, absl::Seconds(10)));
  EXPECT_TRUE(scrape.WaitForLine("tallyd_tcp_connections_closed_total{reason=\"line_timeout\"} 1"))
      << scrape.Metrics();
  EXPECT_TRUE(scrape.WaitForLine("slow_whole 1"));
  EXPECT_EQ(scrape.Metrics().find("slow_half"), std::string::npos);
}

TEST(ServerE2eTest, UnixSocketGetsTheConfiguredMode) {
  TempDir dir;
  std::string path = dir.File("dsd.socket");
  TallydProcess tallyd(BaseArgs({"--unix=" + path, "--unix_socket_mode=0760"}));
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0760u);
}

TEST(ServerE2eTest, ReplacesAStaleUnixSocketFile) {
  TempDir dir;
  std::string path = dir.File("dsd.socket");
  {
    TallydProcess first(BaseArgs({"--unix=" + path}));
    ASSERT_TRUE(first.WaitReady()) << first.Stderr();
  }  // SIGKILLed: the socket file stays behind
  TallydProcess tallyd(BaseArgs({"--unix=" + path}));
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  SendUnix(path, "uds.again:1|c");
  EXPECT_TRUE(Scraper(tallyd).WaitForLine("uds_again 1"));
}

TEST(ServerE2eTest, BadLinesAreCountedByReasonAndTheirNeighboursSurvive) {
  TallydProcess tallyd(BaseArgs());
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  SendUdp(tallyd.Address("udp"),
          "good.a:1|c\n"
          ":1|c\n"                // empty_name
          "bad.value:abc|c\n"     // bad_value
          "bad.type:1|zz\n"       // unknown_type
          "bad.rate:1|c|@2\n"     // bad_sample_rate
          "bad.tags:1|c|#a,,b\n"  // bad_tags
          "good.b:2|c\r\n"
          "bad.notype:1\n"              // missing_type
          "bad.utf8:1|c|#k:\xff\xfe\n"  // invalid_utf8, found by the shard
          "good.c:3|c\n"
          "good.d:4|c|#\n");  // an empty tag section: no tags (SPEC 2)
  Scraper scrape(tallyd);
  EXPECT_TRUE(scrape.WaitForLine("good_a 1")) << scrape.Metrics();
  EXPECT_TRUE(scrape.WaitForLine("good_b 2"));
  EXPECT_TRUE(scrape.WaitForLine("good_c 3"));
  EXPECT_TRUE(scrape.WaitForLine("good_d 4"));
  EXPECT_TRUE(scrape.WaitForLine("tallyd_lines_received_total{type=\"counter\"} 4"));
  for (const char* reason : {"empty_name", "bad_value", "unknown_type", "bad_sample_rate",
                             "bad_tags", "missing_type", "invalid_utf8"}) {
    EXPECT_TRUE(
        scrape.WaitForLine(absl::StrCat("tallyd_lines_rejected_total{reason=\"", reason, "\"} 1")))
        << reason;
  }
  EXPECT_THAT(tallyd.Stderr(), HasSubstr("rejected line"));
}

TEST(ServerE2eTest, OversizedDatagramIsCountedAsTruncatedNotParsed) {
  TallydProcess tallyd(BaseArgs({"--max_packet_size=64"}));
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  std::string big = "trunc.a:1|c\n" + std::string(100, '#') + "\ntrunc.b:1|c\n";
  SendUdp(tallyd.Address("udp"), big);
  SendUdp(tallyd.Address("udp"), "small:1|c");
  Scraper scrape(tallyd);
  EXPECT_TRUE(scrape.WaitForLine("small 1"));
  EXPECT_TRUE(scrape.WaitForLine("tallyd_packets_truncated_total{transport=\"udp\"} 1"));
  EXPECT_THAT(scrape.Metrics(), ::testing::Not(HasSubstr("trunc_a")));
}

TEST(ServerE2eTest, IdleSeriesExpireAfterTheirTtl) {
  TallydProcess tallyd(BaseArgs({"--series_ttl=1s"}));
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  SendUdp(tallyd.Address("udp"), "short.lived:1|c\nshort.gauge:3|g");
  Scraper scrape(tallyd);
  ASSERT_TRUE(scrape.WaitForLine("short_lived 1"));
  ASSERT_TRUE(scrape.WaitForLine("short_gauge 3"));
  // Idle: the counter keeps its total and the gauge its value until the TTL passes...
  EXPECT_TRUE(WaitFor([&] {
    std::string body = scrape.Metrics();
    return body.find("short_lived") == std::string::npos &&
           body.find("short_gauge") == std::string::npos;
  })) << scrape.Metrics();
  EXPECT_TRUE(scrape.WaitForLine("tallyd_series_active{type=\"counter\"} 0"));
}

TEST(ServerE2eTest, MaxSeriesDropsNewSeriesAndKeepsExistingOnes) {
  TallydProcess tallyd(BaseArgs({"--max_series=2", "--workers=1"}));
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  SendUdp(tallyd.Address("udp"), "cap.a:1|c\ncap.b:1|c");
  Scraper scrape(tallyd);
  ASSERT_TRUE(scrape.WaitForLine("cap_b 1"));
  SendUdp(tallyd.Address("udp"), "cap.c:1|c\ncap.a:1|c");
  EXPECT_TRUE(scrape.WaitForLine("cap_a 2"));
  EXPECT_TRUE(WaitFor([&] {
    std::string body = scrape.Metrics();
    return body.find("tallyd_series_dropped_total 0") == std::string::npos &&
           body.find("tallyd_series_dropped_total") != std::string::npos;
  })) << scrape.Metrics();
  EXPECT_THAT(scrape.Metrics(), ::testing::Not(HasSubstr("cap_c")));
}

TEST(ServerE2eTest, GlobalTagsAreAddedAndALinesOwnTagWins) {
  TallydProcess tallyd(BaseArgs({"--global_tags=env:prod,region:eu"}));
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  SendUdp(tallyd.Address("udp"), "gt.hits:1|c|#region:us,b:2,b:2");
  EXPECT_TRUE(Scraper(tallyd).WaitForLine("gt_hits{b=\"2\",env=\"prod\",region=\"us\"} 1"));
}

TEST(ServerE2eTest, EventsAndServiceChecksAreCountedAsNotForwardedByPrometheus) {
  TallydProcess tallyd(BaseArgs());
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  SendUdp(tallyd.Address("udp"),
          "_e{6,4}:Deploy|done|t:success|#env:prod\n_sc|db.up|0|#env:prod|m:fine\n_e{1,1}:x|\n");
  Scraper scrape(tallyd);
  EXPECT_TRUE(scrape.WaitForLine("tallyd_events_total{forwarded=\"false\"} 2")) << scrape.Metrics();
  EXPECT_TRUE(scrape.WaitForLine("tallyd_lines_received_total{type=\"event\"} 1"));
  EXPECT_TRUE(scrape.WaitForLine("tallyd_lines_received_total{type=\"service_check\"} 1"));
  EXPECT_TRUE(scrape.WaitForLine("tallyd_lines_rejected_total{reason=\"bad_event\"} 1"));
}

TEST(ServerE2eTest, ConsoleForwardsEventsAndServiceChecks) {
  TallydProcess tallyd(BaseArgs({"--console"}));
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  SendUdp(tallyd.Address("udp"), "_e{6,4}:Deploy|done|#env:prod\n_sc|db.up|2|m:down");
  EXPECT_TRUE(WaitFor([&] {
    std::string out = tallyd.Stdout();
    return out.find("\"type\":\"event\"") != std::string::npos &&
           out.find("\"type\":\"service_check\"") != std::string::npos;
  })) << tallyd.Stdout();
  EXPECT_TRUE(Scraper(tallyd).WaitForLine("tallyd_events_total{forwarded=\"true\"} 2"));
}

TEST(ServerE2eTest, ConsoleWritesOneJsonObjectPerSeries) {
  TallydProcess tallyd(BaseArgs({"--console", "--noprometheus"}));
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  SendUdp(tallyd.Address("udp"), "console.hits:4|c|#a:1");
  EXPECT_TRUE(WaitFor([&] {
    return tallyd.Stdout().find(
               R"({"name":"console.hits","type":"counter","tags":["a:1"],"ts":)") !=
           std::string::npos;
  })) << tallyd.Stdout();
  EXPECT_THAT(tallyd.Stdout(), HasSubstr(R"("values":{"count":4,"rate":20})"));
}

// The value of the sample line `series` ("name{labels}" or "name") in a scrape, if it is there.
std::optional<double> ValueOf(const std::string& body, const std::string& series) {
  for (absl::string_view l : absl::StrSplit(body, '\n')) {
    if (!absl::ConsumePrefix(&l, series) || !absl::ConsumePrefix(&l, " ")) continue;
    double value = 0;
    if (absl::SimpleAtod(l, &value)) return value;
  }
  return std::nullopt;
}

// One datagram that reaches each of max_tags=2, max_events=1 and max_timestamped_points=1 once
// (a datagram is parsed and added by one worker within one interval), among lines that pass.
std::string LimitsDatagram(const std::string& prefix) {
  const std::string now = absl::StrCat(absl::ToUnixSeconds(absl::Now()));
  return absl::StrCat(prefix, ".plain:1|c\n",                    //
                      prefix, ".two_tags:1|c|#a:1,b:2\n",        // at max_tags: kept
                      prefix, ".three_tags:1|c|#a:1,b:2,c:3\n",  // too_many_tags
                      "_e{2,2}:e1|t1\n",                         // kept
                      "_e{2,2}:e2|t2\n",                         // dropped
                      "_sc|", prefix, ".check1|0\n",             // kept
                      "_sc|", prefix, ".check2|0\n",             // dropped
                      prefix, ".ts_first:5|c|T", now, "\n",      // kept
                      prefix, ".ts_second:7|c|T", now, "\n",     // dropped
                      prefix, ".after:1|c\n");
}

// Each limit that has a key bites on the line past it, is counted on /metrics, and the lines
// around it are kept.
TEST(ServerE2eTest, PerLineAndPerIntervalLimitsBiteAndAreCounted) {
  TallydProcess tallyd({"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0",
                        "--flush_interval=200ms", "--workers=1", "--max_tags=2", "--max_events=1",
                        "--max_timestamped_points=1"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  Scraper scrape(tallyd);
  SendUdp(tallyd.Address("udp"), LimitsDatagram("lim"));
  EXPECT_TRUE(scrape.WaitForLine("tallyd_lines_rejected_total{reason=\"too_many_tags\"} 1"))
      << scrape.Metrics();
  EXPECT_TRUE(scrape.WaitForLine("tallyd_events_dropped_total 2"));  // an event, a check
  EXPECT_TRUE(scrape.WaitForLine("tallyd_timestamped_points_dropped_total 1"));
  EXPECT_TRUE(scrape.WaitForLine("tallyd_events_total{forwarded=\"false\"} 2"));
  EXPECT_TRUE(scrape.WaitForLine("lim_plain 1"));
  EXPECT_TRUE(scrape.WaitForLine("lim_two_tags{a=\"1\",b=\"2\"} 1"));
  EXPECT_TRUE(scrape.WaitForLine("lim_ts_first 5"));
  EXPECT_TRUE(scrape.WaitForLine("lim_after 1"));
  const std::string body = scrape.Metrics();
  EXPECT_THAT(body, ::testing::Not(HasSubstr("lim_three_tags")));
  EXPECT_THAT(body, ::testing::Not(HasSubstr("lim_ts_second")));
}

// aggregation.max_series_per_metric: one name whose tag explodes keeps its first series, the
// rest are refused and counted (in total and for that name), and other names are untouched.
TEST(ServerE2eTest, MaxSeriesPerMetricCapsOneExplodingName) {
  TallydProcess tallyd({"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0",
                        "--flush_interval=200ms", "--workers=1", "--max_series_per_metric=3"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  Scraper scrape(tallyd);
  std::string datagram;
  for (int i = 0; i < 10; ++i) absl::StrAppend(&datagram, "exploding:1|c|#id:", i, "\n");
  absl::StrAppend(&datagram, "calm:1|c|#id:1\ncalm:1|c|#id:2\ncalm:1|c|#id:3\n");
  SendUdp(tallyd.Address("udp"), datagram);
  EXPECT_TRUE(scrape.WaitForLine("tallyd_series_dropped_per_metric_total 7")) << scrape.Metrics();
  const std::string body = scrape.Metrics();
  EXPECT_THAT(body, HasSubstr("exploding{id=\"0\"} 1"));
  EXPECT_THAT(body, HasSubstr("exploding{id=\"2\"} 1"));
  EXPECT_THAT(body, ::testing::Not(HasSubstr("exploding{id=\"3\"}")));
  EXPECT_THAT(body, HasSubstr("calm{id=\"3\"} 1"));
  EXPECT_THAT(body, HasSubstr("tallyd_series_dropped_total 0"));
  // The offender is named while it is refused (a gauge of the last flush that refused it).
  EXPECT_TRUE(WaitFor([&] {
    SendUdp(tallyd.Address("udp"), "exploding:1|c|#id:99");
    return scrape.Metrics().find("tallyd_series_dropped_per_metric_top{name=\"exploding\"} 1") !=
           std::string::npos;
  })) << scrape.Metrics();
}

// The same limits set in the file; SIGHUP applies a changed aggregation limit from the next flush
// (listen.max_tags, like every listen key, needs a restart).
TEST(ServerE2eTest, LimitsFromTheConfigFileAndAggregationLimitsReloadLive) {
  TempDir dir;
  const std::string path = dir.File("tallyd.yaml");
  auto write = [&](int max_events) {
    WriteFile(path, absl::StrCat("flush_interval: 200ms\n"
                                 "listen:\n  udp: [\"127.0.0.1:0\"]\n  workers: 1\n  max_tags: 2\n"
                                 "aggregation:\n  max_timestamped_points: 1\n  max_events: ",
                                 max_events,
                                 "\n"
                                 "backends:\n  prometheus: { listen: \"127.0.0.1:0\" }\n"));
  };
  write(1);
  TallydProcess tallyd({"--config", path});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  Scraper scrape(tallyd);
  SendUdp(tallyd.Address("udp"), LimitsDatagram("yaml"));
  EXPECT_TRUE(scrape.WaitForLine("tallyd_lines_rejected_total{reason=\"too_many_tags\"} 1"))
      << scrape.Metrics();
  EXPECT_TRUE(scrape.WaitForLine("tallyd_events_dropped_total 2"));
  EXPECT_TRUE(scrape.WaitForLine("tallyd_timestamped_points_dropped_total 1"));
  EXPECT_TRUE(scrape.WaitForLine("yaml_after 1"));

  write(2);
  tallyd.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] {
    return tallyd.Stderr().find("reload: aggregation settings applied") != std::string::npos;
  })) << tallyd.Stderr();
  // Until a flush after the reload: send the two events, wait for them to be counted, and see
  // whether both were kept.
  EXPECT_TRUE(WaitFor([&] {
    const std::string before = scrape.Metrics();
    const std::optional<double> total = ValueOf(before, "tallyd_events_total{forwarded=\"false\"}");
    const std::optional<double> dropped = ValueOf(before, "tallyd_events_dropped_total");
    if (!total.has_value() || !dropped.has_value()) return false;
    SendUdp(tallyd.Address("udp"), "_e{2,2}:e1|t1\n_e{2,2}:e2|t2\n");
    std::string after;
    if (!WaitFor([&] {
          after = scrape.Metrics();
          return ValueOf(after, "tallyd_events_total{forwarded=\"false\"}") != total;
        })) {
      return false;
    }
    return ValueOf(after, "tallyd_events_total{forwarded=\"false\"}") == *total + 2 &&
           ValueOf(after, "tallyd_events_dropped_total") == *dropped;
  })) << scrape.Metrics();
}

}  // namespace
}  // namespace tallyd::testing
