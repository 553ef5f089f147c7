// End-to-end with a real Prometheus server (Debian's `prometheus` package): it scrapes tallyd on
// loopback every second, and a value sent over UDP is read back through Prometheus' HTTP API;
// the adversarial corpus (tests/backends/adversarial_corpus.h) must leave its scrapes whole.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/backends/adversarial_corpus.h"
#include "tests/e2e/tallyd_process.h"

extern char** environ;

namespace tallyd::testing {
namespace {

constexpr char kPrometheus[] = "/usr/bin/prometheus";

// A real Prometheus scraping `target` every second, its web API on a loopback port of its own.
// Stopped (SIGTERM, then reaped) at destruction.
class RealPrometheus {
 public:
  explicit RealPrometheus(const std::string& target) {
    WriteFile(dir_.File("prometheus.yml"),
              absl::StrCat("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n",
                           "scrape_configs:\n  - job_name: tallyd\n    static_configs:\n",
                           "      - targets: ['", target, "']\n"));
    {
      PortHolder probe(/*udp=*/false);  // a free loopback port for Prometheus' own web API
      web_ = absl::StrCat("127.0.0.1:", probe.port());
    }
    std::vector<std::string> args = {kPrometheus, "--config.file=" + dir_.File("prometheus.yml"),
                                     "--storage.tsdb.path=" + dir_.File("data"),
                                     "--web.listen-address=" + web_, "--log.level=warn"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string log = dir_.File("prometheus.log");
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT, 0644);
    if (posix_spawn(&pid_, kPrometheus, &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~RealPrometheus() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }

  bool started() const { return pid_ > 0; }
  // The body of an instant query through the HTTP API.
  std::string Query(const std::string& promql) const {
    return HttpGet(absl::StrCat("http://", web_, "/api/v1/query?query=", promql));
  }
  // Prometheus' own metrics.
  std::string SelfMetrics() const { return HttpGet(absl::StrCat("http://", web_, "/metrics")); }
  std::string Log() const { return ReadFile(dir_.File("prometheus.log")); }

 private:
  TempDir dir_;
  std::string web_;
  pid_t pid_ = -1;
};

TEST(PrometheusServerE2eTest, RealPrometheusScrapesTallyd) {
  if (access(kPrometheus, X_OK) != 0) {
    GTEST_SKIP() << kPrometheus << " is not installed (Debian package `prometheus`; "
                 << "scripts/setup.sh installs it where the package is available)";
  }
  TallydProcess tallyd(
      {"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0", "--flush_interval=200ms"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  RealPrometheus prometheus(tallyd.Address("prometheus"));
  ASSERT_TRUE(prometheus.started());

  SendUdp(tallyd.Address("udp"), "e2e.prom.hits:41|c|#app:web\ne2e.prom.hits:1|c|#app:web");
  std::string body;
  bool found = WaitFor(
      [&] {
        body = prometheus.Query("e2e_prom_hits");
        return body.find("\"app\":\"web\"") != std::string::npos &&
               body.find("\"42\"") != std::string::npos;
      },
      absl::Seconds(60));
  EXPECT_TRUE(found) << "last answer: " << body << "\nprometheus log:\n" << prometheus.Log();
}

// The adversarial corpus through the real binary and a real Prometheus: the target stays up,
// every scrape is ingested whole (no duplicate or out-of-order samples) and the series are
// queryable.
TEST(PrometheusServerE2eTest, RealPrometheusIngestsTheAdversarialCorpus) {
  if (access(kPrometheus, X_OK) != 0) GTEST_SKIP() << kPrometheus << " is not installed";
  TallydProcess tallyd(
      {"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0", "--flush_interval=200ms"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  for (const std::string& line : corpus::AdversarialLines()) {
    SendUdp(tallyd.Address("udp"), line);
  }
  SendUdp(tallyd.Address("udp"), "adversarial.done:1|c");
  ASSERT_TRUE(WaitFor([&] {
    return HttpGet("http://" + tallyd.Address("prometheus") + "/metrics")
               .find("\nadversarial_done 1\n") != std::string::npos;
  })) << tallyd.Stderr();
  RealPrometheus prometheus(tallyd.Address("prometheus"));
  ASSERT_TRUE(prometheus.started());

  std::string body;
  ASSERT_TRUE(WaitFor(
      [&] {
        body = prometheus.Query("adversarial_done");
        return body.find("\"1\"]") != std::string::npos;
      },
      absl::Seconds(60)))
      << body << "\nprometheus log:\n"
      << prometheus.Log();
  EXPECT_THAT(prometheus.Query("up"), ::testing::HasSubstr("\"1\"]"));
  // a.b, a_b and a-b are one series (3 x 3); `tags.empty` with and without `k:` too (2 x 3).
  // The gauge `a b` lands on the same name in the same flush: whichever type the backend met
  // first keeps the name (the other is counted as a type conflict), so either value is right,
  // but there is exactly one series.
  const std::string a_b = prometheus.Query("a_b");
  EXPECT_THAT(a_b, ::testing::AnyOf(::testing::HasSubstr("\"9\"]"),
                                    ::testing::HasSubstr("\"-1.5\"]")));
  EXPECT_EQ(a_b.find("\"metric\""), a_b.rfind("\"metric\"")) << a_b;
  EXPECT_THAT(prometheus.Query("tags_empty"), ::testing::HasSubstr("\"6\"]"));
  EXPECT_THAT(prometheus.Query("quote_name"), ::testing::HasSubstr("a\\\"b"));
  const std::string self = prometheus.SelfMetrics();
  for (const char* counter : {"prometheus_target_scrapes_sample_duplicate_timestamp_total 0",
                              "prometheus_target_scrapes_sample_out_of_order_total 0",
                              "prometheus_target_scrapes_exceeded_sample_limit_total 0"}) {
    EXPECT_THAT(self, ::testing::HasSubstr(counter));
  }
  EXPECT_THAT(prometheus.Log(), ::testing::Not(::testing::HasSubstr("level=error")));
}

}  // namespace
}  // namespace tallyd::testing
