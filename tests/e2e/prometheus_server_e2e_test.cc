// End-to-end with a real Prometheus server (Debian's `prometheus` package): it scrapes tallyd on
// loopback every second, and a value sent over UDP is read back through Prometheus' HTTP API.
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
#include "tests/e2e/tallyd_process.h"

extern char** environ;

namespace tallyd::testing {
namespace {

constexpr char kPrometheus[] = "/usr/bin/prometheus";

TEST(PrometheusServerE2eTest, RealPrometheusScrapesTallyd) {
  if (access(kPrometheus, X_OK) != 0) {
    GTEST_SKIP() << kPrometheus << " is not installed (Debian package `prometheus`; "
                 << "scripts/setup.sh installs it where the package is available)";
  }
  TallydProcess tallyd(
      {"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0", "--flush_interval=200ms"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();

  TempDir dir;
  WriteFile(dir.File("prometheus.yml"),
            absl::StrCat("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n",
                         "scrape_configs:\n  - job_name: tallyd\n    static_configs:\n",
                         "      - targets: ['", tallyd.Address("prometheus"), "']\n"));
  int web_port;
  {
    PortHolder probe(/*udp=*/false);  // a free loopback port for Prometheus' own web API
    web_port = probe.port();
  }
  std::string web = absl::StrCat("127.0.0.1:", web_port);
  std::vector<std::string> args = {kPrometheus, "--config.file=" + dir.File("prometheus.yml"),
                                   "--storage.tsdb.path=" + dir.File("data"),
                                   "--web.listen-address=" + web, "--log.level=warn"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  std::string log = dir.File("prometheus.log");
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT, 0644);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, kPrometheus, &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  } reaper{pid};

  SendUdp(tallyd.Address("udp"), "e2e.prom.hits:41|c|#app:web\ne2e.prom.hits:1|c|#app:web");
  std::string query = absl::StrCat("http://", web, "/api/v1/query?query=e2e_prom_hits");
  std::string body;
  bool found = WaitFor(
      [&] {
        body = HttpGet(query);
        return body.find("\"app\":\"web\"") != std::string::npos &&
               body.find("\"42\"") != std::string::npos;
      },
      absl::Seconds(60));
  EXPECT_TRUE(found) << "last answer: " << body << "\nprometheus log:\n" << ReadFile(log);
}

}  // namespace
}  // namespace tallyd::testing
