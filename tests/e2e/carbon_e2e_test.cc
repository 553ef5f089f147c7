// End-to-end with a real Graphite carbon-cache (Debian's `graphite-carbon`): tallyd's Graphite
// backend writes to it over loopback and the value is read back from the whisper file.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/tallyd_process.h"

extern char** environ;

namespace tallyd::testing {
namespace {

constexpr char kCarbonCache[] = "/usr/bin/carbon-cache";
constexpr char kWhisperFetch[] = "/usr/bin/whisper-fetch";

int FreeTcpPort() {
  PortHolder probe(/*udp=*/false);
  return probe.port();  // released here; a small race, acceptable for a test-owned loopback port
}

pid_t SpawnLogged(std::vector<std::string> args, const std::string& log) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

TEST(CarbonE2eTest, ValueReadBackFromWhisper) {
  if (access(kCarbonCache, X_OK) != 0 || access(kWhisperFetch, X_OK) != 0) {
    GTEST_SKIP() << kCarbonCache << " or " << kWhisperFetch << " missing (Debian package "
                 << "`graphite-carbon`; scripts/setup.sh installs it where it is available)";
  }
  TempDir dir;
  const int line_port = FreeTcpPort();
  std::string whisper = dir.File("storage/whisper");
  WriteFile(
      dir.File("carbon.conf"),
      absl::StrCat("[cache]\nSTORAGE_DIR = ", dir.File("storage"), "\nLOCAL_DATA_DIR = ", whisper,
                   "\nWHITELISTS_DIR = ", dir.File("storage/lists"), "\nCONF_DIR = ", dir.path(),
                   "\nLOG_DIR = ", dir.File("log"), "\nPID_DIR = ", dir.path(),
                   "\nENABLE_LOGROTATION = False\nUSER =\nMAX_CACHE_SIZE = inf\n"
                   "MAX_UPDATES_PER_SECOND = 100000\nMAX_CREATES_PER_MINUTE = inf\n"
                   "LINE_RECEIVER_INTERFACE = 127.0.0.1\nLINE_RECEIVER_PORT = ",
                   line_port,
                   "\nENABLE_UDP_LISTENER = False\nPICKLE_RECEIVER_INTERFACE = 127.0.0.1\n"
                   "PICKLE_RECEIVER_PORT = ",
                   FreeTcpPort(), "\nCACHE_QUERY_INTERFACE = 127.0.0.1\nCACHE_QUERY_PORT = ",
                   FreeTcpPort(), "\nENABLE_TAGS = False\n"));
  WriteFile(dir.File("storage-schemas.conf"), "[all]\npattern = .*\nretentions = 1s:1h\n");
  std::string log = dir.File("carbon.out");
  pid_t carbon = SpawnLogged(
      {kCarbonCache, "--config=" + dir.File("carbon.conf"), "--nodaemon", "start"}, log);
  ASSERT_GT(carbon, 0);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  } reaper{carbon};

  // tallyd retries until carbon listens, so no need to wait for carbon first.
  TallydProcess tallyd({"--udp=127.0.0.1:0", "--noprometheus", "--flush_interval=1s",
                        absl::StrCat("--graphite_address=127.0.0.1:", line_port),
                        "--graphite_tags=none", "--graphite_self_metrics=false"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  SendUdp(tallyd.Address("udp"), "e2e.carbon.orders:21|c\ne2e.carbon.orders:21|c");

  const std::string file = whisper + "/stats_counts/e2e/carbon/orders.wsp";
  std::string fetched;
  bool found = WaitFor(
      [&] {
        if (!std::filesystem::exists(file)) return false;
        std::string out = dir.File("fetch.out");
        pid_t fetch = SpawnLogged({kWhisperFetch, "--from=0", file}, out);
        if (fetch <= 0) return false;
        waitpid(fetch, nullptr, 0);
        fetched = ReadFile(out);
        std::remove(out.c_str());
        for (absl::string_view line : absl::StrSplit(fetched, '\n')) {
          if (absl::EndsWith(line, "\t42.000000")) return true;
        }
        return false;
      },
      absl::Seconds(60));
  EXPECT_TRUE(found) << "whisper: " << fetched << "\ncarbon:\n"
                     << ReadFile(log) << "\ntallyd:\n"
                     << tallyd.Stderr();
}

}  // namespace
}  // namespace tallyd::testing
