// End-to-end: the real tallyd pushing remote write into real engines (SPEC 4.5): Debian's
// Prometheus (--web.enable-remote-write-receiver) and VictoriaMetrics, each started here on a
// loopback port the test picks, then read back through their PromQL query API (/api/v1/query,
// parsed with nlohmann-json): names, labels and values of a counter over several flushes, a
// gauge, a set, a timer as a summary and as a histogram, the fleet-wide quantile of two tallyd
// "hosts", and an outage of the engine (queued flushes delivered once, in order, the rest
// counted as dropped).
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/backends/test_http_server.h"
#include "tests/e2e/tallyd_process.h"

extern char** environ;

namespace tallyd::testing {
namespace {

using nlohmann::json;

constexpr char kPrometheus[] = "/usr/bin/prometheus";
constexpr char kVictoriaMetrics[] = "/usr/bin/victoria-metrics";

// A port free a moment ago: bound to 127.0.0.1:0, read back, closed, for a program that takes
// its port on the command line. Another process may take it meanwhile: callers retry.
int PickPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return 0;
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// One engine process (Prometheus or VictoriaMetrics) with scratch storage, killed at the end.
class Engine {
 public:
  enum class Kind { kPrometheus, kVictoriaMetrics };

  explicit Engine(Kind kind) : kind_(kind) {
    WriteFile(dir_.File("prometheus.yml"), "global: {}\n");
    for (int attempt = 0; attempt < 5 && !ready_; ++attempt) Start();
  }
  ~Engine() { Kill(); }

  bool ready() const { return ready_; }
  std::string base() const { return absl::StrCat("http://127.0.0.1:", port_); }
  std::string write_url() const {
    return base() + (kind_ == Kind::kPrometheus ? "/api/v1/write" : "/api/v1/write");
  }
  std::string log() const { return ReadFile(dir_.File("engine.log")); }
  // A clean stop (SIGTERM: Prometheus writes out its WAL), then a start on the same port and
  // storage.
  bool Stop() {
    kill(pid_, SIGTERM);
    int status = 0;
    const bool exited = WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; });
    pid_ = -1;
    ready_ = false;
    return exited;
  }
  bool Restart() {
    Start(port_);
    return ready_;
  }

  // An instant PromQL query at now: the `data.result` array (null on failure).
  json Query(const std::string& promql) const {
    // VictoriaMetrics makes fresh samples searchable every few seconds; ask for it now.
    if (kind_ == Kind::kVictoriaMetrics) HttpGet(base() + "/internal/force_flush");
    CURL* curl = curl_easy_init();
    char* escaped = curl_easy_escape(curl, promql.c_str(), static_cast<int>(promql.size()));
    const std::string url = base() + "/api/v1/query?query=" + escaped;
    curl_free(escaped);
    curl_easy_cleanup(curl);
    long status = 0;
    const std::string body = HttpGet(url, &status);
    if (status != 200) return json();
    json parsed = json::parse(body, nullptr, false);
    if (parsed.is_discarded() || parsed.value("status", "") != "success") return json();
    return parsed["data"]["result"];
  }

  // The value of the one series `promql` selects, or nullopt while there is none.
  std::optional<double> Value(const std::string& promql) const {
    json result = Query(promql);
    if (!result.is_array() || result.size() != 1) return std::nullopt;
    return std::stod(result[0]["value"][1].get<std::string>());
  }

  // Waits until `promql` has one series whose value is within `tolerance` of `want`.
  bool AwaitValue(const std::string& promql, double want, double tolerance = 1e-9,
                  absl::Duration timeout = absl::Seconds(20)) const {
    return WaitFor(
        [&] {
          std::optional<double> got = Value(promql);
          return got.has_value() && std::fabs(*got - want) <= tolerance;
        },
        timeout);
  }

 private:
  void Start(int port = 0) {
    port_ = port != 0 ? port : PickPort();
    const std::string listen = absl::StrCat("127.0.0.1:", port_);
    std::vector<std::string> args;
    if (kind_ == Kind::kPrometheus) {
      args = {kPrometheus,
              "--config.file=" + dir_.File("prometheus.yml"),
              "--storage.tsdb.path=" + dir_.File("data"),
              "--web.listen-address=" + listen,
              "--web.enable-remote-write-receiver",
              "--log.level=warn"};
    } else {
      args = {kVictoriaMetrics, "-httpListenAddr=" + listen,
              "-storageDataPath=" + dir_.File("vmdata"),
              // Samples visible to queries at once, and no cached answers between polls.
              "-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=WARN"};
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string log = dir_.File("engine.log");
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    if (pid_ <= 0) return;
    const std::string probe = base() + (kind_ == Kind::kPrometheus ? "/-/ready" : "/health");
    ready_ = WaitFor(
        [&] {
          int status = 0;
          if (waitpid(pid_, &status, WNOHANG) == pid_) {  // lost the port race: try another
            pid_ = -1;
            return true;
          }
          long http = 0;
          HttpGet(probe, &http);
          return http == 200;
        },
        absl::Seconds(30));
    ready_ = ready_ && pid_ > 0;
  }

  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGCONT);
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  Kind kind_;
  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool ready_ = false;
};

std::vector<std::string> TallydArgs(const Engine& engine, const std::string& host,
                                    std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--udp=127.0.0.1:0",
                                   "--noprometheus",
                                   "--flush_interval=500ms",
                                   "--remote_write_url=" + engine.write_url(),
                                   "--remote_write_external_labels=host=" + host,
                                   "--remote_write_max_backoff=200ms"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// The counter over several flushes, a gauge, a set and a timer as a summary, read back from
// `engine`: the same names and values as the scrape endpoint would show.
void CheckSeries(Engine& engine) {
  ASSERT_TRUE(engine.ready()) << engine.log();
  TallydProcess tallyd(TallydArgs(engine, "host-a", {"--remote_write_quantiles=0.5,0.9"}));
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  const std::string udp = tallyd.Address("udp");

  SendUdp(udp, "e2e.hits:3|c|#env:test\ne2e.temp:21.5|g|#env:test\ne2e.users:a|s\ne2e.users:b|s");
  ASSERT_TRUE(engine.AwaitValue(R"(e2e_hits{env="test",host="host-a"})", 3))
      << tallyd.Stderr() << engine.log();
  SendUdp(udp, "e2e.hits:4|c|#env:test");  // a later flush: the pushed total keeps growing
  ASSERT_TRUE(engine.AwaitValue(R"(e2e_hits{env="test",host="host-a"})", 7)) << tallyd.Stderr();
  SendUdp(udp, "e2e.hits:5|c|#env:test");
  ASSERT_TRUE(engine.AwaitValue(R"(e2e_hits{env="test",host="host-a"})", 12)) << tallyd.Stderr();

  // Exactly the labels the scrape endpoint has, plus `host`.
  json hits = engine.Query(R"(e2e_hits)");
  ASSERT_EQ(hits.size(), 1u) << hits.dump();
  EXPECT_EQ(hits[0]["metric"],
            json({{"__name__", "e2e_hits"}, {"env", "test"}, {"host", "host-a"}}));

  EXPECT_TRUE(engine.AwaitValue(R"(e2e_temp{env="test",host="host-a"})", 21.5));
  EXPECT_TRUE(engine.AwaitValue(R"(e2e_users{host="host-a"})", 2));
  // An upper-case label name sorts before __name__ (byte order, as the specification asks).
  SendUdp(udp, "e2e.up:1|g|#Zone:eu");
  EXPECT_TRUE(engine.AwaitValue(R"(e2e_up{Zone="eu",host="host-a"})", 1)) << tallyd.Stderr();

  SendUdp(udp, "e2e.lat:100|ms\ne2e.lat:200|ms\ne2e.lat:300|ms\ne2e.lat:400|ms");
  ASSERT_TRUE(engine.AwaitValue(R"(e2e_lat_count{host="host-a"})", 4)) << tallyd.Stderr();
  EXPECT_TRUE(engine.AwaitValue(R"(e2e_lat_sum{host="host-a"})", 1.0, 1e-9));  // seconds
  json quantiles = engine.Query(R"(e2e_lat{host="host-a"})");
  ASSERT_EQ(quantiles.size(), 2u) << quantiles.dump();
  std::set<std::string> levels;
  for (const json& series : quantiles) {
    levels.insert(series["metric"]["quantile"].get<std::string>());
    const double value = std::stod(series["value"][1].get<std::string>());
    EXPECT_GE(value, 0.1);
    EXPECT_LE(value, 0.4);
  }
  EXPECT_EQ(levels, (std::set<std::string>{"0.5", "0.9"}));

  // tallyd's own metrics are pushed too.
  EXPECT_TRUE(WaitFor([&] {
    std::optional<double> sent =
        engine.Value(R"(tallyd_backend_sent_total{backend="remote_write",host="host-a"})");
    return sent.has_value() && *sent >= 1;
  })) << engine.Query("tallyd_backend_sent_total").dump();
}

void CheckHistogram(Engine& engine) {
  ASSERT_TRUE(engine.ready()) << engine.log();
  TallydProcess tallyd(
      TallydArgs(engine, "host-a",
                 {"--remote_write_timer_type=histogram", "--remote_write_buckets=0.1,0.25,0.5"}));
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  SendUdp(tallyd.Address("udp"),
          "e2e.hist:50|ms\ne2e.hist:150|ms\ne2e.hist:300|ms\ne2e.hist:600|ms");
  ASSERT_TRUE(engine.AwaitValue(R"(e2e_hist_count{host="host-a"})", 4)) << tallyd.Stderr();
  EXPECT_TRUE(engine.AwaitValue(R"(e2e_hist_bucket{le="0.1"})", 1));
  EXPECT_TRUE(engine.AwaitValue(R"(e2e_hist_bucket{le="0.25"})", 2));
  EXPECT_TRUE(engine.AwaitValue(R"(e2e_hist_bucket{le="0.5"})", 3));
  EXPECT_TRUE(engine.AwaitValue(R"(e2e_hist_bucket{le="+Inf"})", 4));
  EXPECT_TRUE(engine.AwaitValue(R"(e2e_hist_sum)", 1.1, 1e-9));
  // The median: rank 2 of 4 ends the (0.1, 0.25] bucket.
  EXPECT_TRUE(engine.AwaitValue(R"(histogram_quantile(0.5, e2e_hist_bucket))", 0.25, 1e-9))
      << engine.Query(R"(histogram_quantile(0.5, e2e_hist_bucket))").dump();
}

TEST(RemoteWriteE2eTest, PrometheusReadsCounterGaugeSetAndSummary) {
  Engine prometheus(Engine::Kind::kPrometheus);
  CheckSeries(prometheus);
}

TEST(RemoteWriteE2eTest, PrometheusReadsAHistogram) {
  Engine prometheus(Engine::Kind::kPrometheus);
  CheckHistogram(prometheus);
}

TEST(RemoteWriteE2eTest, VictoriaMetricsReadsCounterGaugeSetAndSummary) {
  Engine vm(Engine::Kind::kVictoriaMetrics);
  CheckSeries(vm);
}

TEST(RemoteWriteE2eTest, VictoriaMetricsReadsAHistogram) {
  Engine vm(Engine::Kind::kVictoriaMetrics);
  CheckHistogram(vm);
}

// Two hosts push the same histogram; the engine merges their buckets into the fleet's quantile,
// which neither host alone has.
TEST(RemoteWriteE2eTest, PrometheusComputesTheFleetQuantileFromTwoHosts) {
  Engine prometheus(Engine::Kind::kPrometheus);
  ASSERT_TRUE(prometheus.ready()) << prometheus.log();
  const std::vector<std::string> histogram = {"--remote_write_timer_type=histogram",
                                              "--remote_write_buckets=0.1,0.2,0.4,0.8"};
  TallydProcess a(TallydArgs(prometheus, "a", histogram));
  TallydProcess b(TallydArgs(prometheus, "b", histogram));
  ASSERT_TRUE(a.WaitReady()) << a.Stderr();
  ASSERT_TRUE(b.WaitReady()) << b.Stderr();
  // One observation each first, so that rate() sees the rest as an increase over the window.
  SendUdp(a.Address("udp"), "fleet.lat:50|ms");
  SendUdp(b.Address("udp"), "fleet.lat:700|ms");
  ASSERT_TRUE(prometheus.AwaitValue(R"(count(fleet_lat_count))", 2)) << a.Stderr() << b.Stderr();
  std::string fast, slow;
  for (int i = 0; i < 30; ++i) fast += "fleet.lat:50|ms\n";
  for (int i = 0; i < 10; ++i) slow += "fleet.lat:700|ms\n";
  SendUdp(a.Address("udp"), fast);
  SendUdp(b.Address("udp"), slow);
  ASSERT_TRUE(prometheus.AwaitValue(R"(fleet_lat_count{host="a"})", 31));
  ASSERT_TRUE(prometheus.AwaitValue(R"(fleet_lat_count{host="b"})", 11));

  // Over the cumulative buckets: 31 at <= 0.1 s, 11 in (0.4, 0.8]; rank 0.9 * 42 = 37.8 lies
  // 6.8 / 11 into the (0.4, 0.8] bucket.
  const double merged = 0.4 + 0.4 * (0.9 * 42 - 31) / 11;
  EXPECT_TRUE(prometheus.AwaitValue(R"(histogram_quantile(0.9, sum by (le) (fleet_lat_bucket)))",
                                    merged, 1e-9));
  // Over rate(): only the 30 + 10 later observations, both hosts' windows extrapolated alike:
  // 0.4 + 0.4 * (36 - 30) / 10 = 0.64, where host a alone says < 0.1 and host b alone 0.76.
  const std::string rate = R"(histogram_quantile(0.9, sum by (le) (rate(fleet_lat_bucket[1m]))))";
  std::optional<double> fleet;
  EXPECT_TRUE(WaitFor([&] {
    fleet = prometheus.Value(rate);
    return fleet.has_value() && std::fabs(*fleet - 0.64) < 0.05;
  })) << (fleet ? *fleet : -1);
  std::optional<double> only_b = prometheus.Value(
      R"(histogram_quantile(0.9, sum by (le) (rate(fleet_lat_bucket{host="b"}[1m]))))");
  ASSERT_TRUE(only_b.has_value());
  EXPECT_NEAR(*only_b, 0.76, 0.01);
}

// The engine is stopped for several flushes and restarted: the queued flushes arrive once
// and in order (Prometheus refuses out-of-order samples), the older ones are dropped and counted,
// and every flush time is accounted for as either stored or dropped.
TEST(RemoteWriteE2eTest, OutageDeliversTheQueuedFlushesInOrderAndCountsTheRest) {
  Engine prometheus(Engine::Kind::kPrometheus);
  ASSERT_TRUE(prometheus.ready()) << prometheus.log();
  constexpr int kBuffered = 3;
  std::vector<std::string> args =
      TallydArgs(prometheus, "a",
                 {absl::StrCat("--remote_write_max_buffered_flushes=", kBuffered), "--prometheus",
                  "--prometheus_listen=127.0.0.1:0"});
  TallydProcess tallyd(args);
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  SendUdp(tallyd.Address("udp"), "outage.hits:1|c");
  ASSERT_TRUE(prometheus.AwaitValue("outage_hits", 1)) << tallyd.Stderr();

  // Requests are now refused: flushes queue up, then the oldest are dropped.
  ASSERT_TRUE(prometheus.Stop());
  // Until tallyd's own scrape endpoint shows several flushes dropped (the queue's three kept).
  const std::string scrape = "http://" + tallyd.Address("prometheus") + "/metrics";
  ASSERT_TRUE(WaitFor([&] {
    const std::string text = HttpGet(scrape);
    const std::string name = "tallyd_backend_dropped_flushes_total{backend=\"remote_write\"} ";
    const size_t at = text.find(name);
    return at != std::string::npos && std::stod(text.substr(at + name.size())) >= 3;
  })) << HttpGet(scrape);
  ASSERT_TRUE(prometheus.Restart()) << prometheus.log();

  // Flushes go through again: a sample stamped after the restart. From then on nothing is
  // dropped, so tallyd's own count is final.
  const int64_t restarted_ms = absl::ToUnixMillis(absl::Now());
  auto latest_ms = [&] {
    json range = prometheus.Query("outage_hits[2m]");
    if (!range.is_array() || range.size() != 1) return int64_t{0};
    return static_cast<int64_t>(std::llround(range[0]["values"].back()[0].get<double>() * 1000));
  };
  ASSERT_TRUE(WaitFor([&] { return latest_ms() > restarted_ms; })) << tallyd.Stderr();
  const std::string text = HttpGet(scrape);
  const std::string name = "tallyd_backend_dropped_flushes_total{backend=\"remote_write\"} ";
  ASSERT_NE(text.find(name), std::string::npos) << text;
  const double dropped = std::stod(text.substr(text.find(name) + name.size()));
  EXPECT_GE(dropped, 3);
  // tallyd pushes its own count too.
  EXPECT_TRUE(WaitFor([&] {
    std::optional<double> pushed =
        prometheus.Value(R"(tallyd_backend_dropped_flushes_total{backend="remote_write"})");
    return pushed.has_value() && *pushed == dropped;
  }));

  // Every stored sample of the counter, in time order, at multiples of the flush interval.
  json range = prometheus.Query("outage_hits[2m]");
  ASSERT_EQ(range.size(), 1u) << range.dump();
  std::vector<int64_t> times;  // in ms
  for (const json& point : range[0]["values"]) {
    times.push_back(std::llround(point[0].get<double>() * 1000));
  }
  ASSERT_GE(times.size(), 3u);
  int64_t missing = 0;
  for (size_t i = 1; i < times.size(); ++i) {
    EXPECT_GT(times[i], times[i - 1]);
    EXPECT_EQ(times[i] % 500, 0) << times[i];
    missing += (times[i] - times[i - 1]) / 500 - 1;
  }
  // The queue kept the last flushes of the outage: stored, so the gaps are the drops. One
  // flush may be both: the request in flight when Prometheus stopped can be stored while its
  // answer is lost, then retried into the outage and dropped (remote write is at least once).
  EXPECT_GT(missing, 0);
  EXPECT_LE(static_cast<double>(missing), dropped) << range.dump() << tallyd.Stderr();
  EXPECT_GE(static_cast<double>(missing), dropped - 1) << range.dump() << tallyd.Stderr();
}

// A receiver that never answers holds only remote write's own thread: the scrape endpoint of
// the same tallyd keeps showing every flush.
TEST(RemoteWriteE2eTest, AHangingReceiverDelaysNeitherIngestionNorTheScrape) {
  TestHttpServer hanging;
  for (int i = 0; i < 20; ++i) {
    HttpResponse never;
    never.delay = absl::Seconds(30);
    hanging.Enqueue(never);
  }
  TallydProcess tallyd({"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0",
                        "--flush_interval=200ms", "--remote_write_url=" + hanging.url() + "/push",
                        "--remote_write_timeout=60s", "--shutdown_timeout=200ms"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  const std::string scrape = "http://" + tallyd.Address("prometheus") + "/metrics";
  for (int round = 1; round <= 3; ++round) {
    SendUdp(tallyd.Address("udp"), "hang.hits:1|c");
    const std::string want = absl::StrCat("hang_hits ", round, "\n");
    EXPECT_TRUE(
        WaitFor([&] { return HttpGet(scrape).find(want) != std::string::npos; }, absl::Seconds(5)))
        << HttpGet(scrape);
  }
  EXPECT_GE(hanging.requests().size(), 1u);  // remote write is stuck on its first request
  EXPECT_LE(hanging.requests().size(), 1u);
}

}  // namespace
}  // namespace tallyd::testing
