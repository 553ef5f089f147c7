// End-to-end: start-up, configuration errors, exit codes and graceful stop (SPEC 1, 6).
#include <signal.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/tallyd_process.h"

namespace tallyd::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(LifecycleE2eTest, SigtermAfterABurstLosesNothing) {
  // A long flush interval: everything arrives in the final flush that SIGTERM triggers.
  TallydProcess tallyd({"--udp=127.0.0.1:0", "--tcp=127.0.0.1:0", "--noprometheus", "--console",
                        "--flush_interval=1h", "--workers=2"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  constexpr int kDatagrams = 400;
  constexpr int kLinesPerDatagram = 25;
  std::string datagram;
  for (int i = 0; i < kLinesPerDatagram; ++i)
    absl::StrAppend(&datagram, "burst:1|c|#i:", i % 5, "\n");
  for (int d = 0; d < kDatagrams; ++d) SendUdp(tallyd.Address("udp"), datagram);
  SendTcp(tallyd.Address("tcp"), {"burst:1|c|#i:0\n", "burst:1|c|#i:1\n"});
  tallyd.Signal(SIGTERM);
  ASSERT_EQ(tallyd.WaitExit(), 0) << tallyd.Stderr();

  double total = 0;
  for (absl::string_view line : absl::StrSplit(tallyd.Stdout(), '\n')) {
    if (line.find("\"name\":\"burst\"") == absl::string_view::npos) continue;
    size_t at = line.find("\"count\":");
    ASSERT_NE(at, absl::string_view::npos) << line;
    absl::string_view rest = line.substr(at + 8);
    double count = 0;
    ASSERT_TRUE(absl::SimpleAtod(rest.substr(0, rest.find_first_of(",}")), &count)) << line;
    total += count;
  }
  EXPECT_EQ(total, kDatagrams * kLinesPerDatagram + 2) << tallyd.Stderr();
}

TEST(LifecycleE2eTest, SigintAlsoStopsCleanly) {
  TallydProcess tallyd({"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  tallyd.Signal(SIGINT);
  EXPECT_EQ(tallyd.WaitExit(), 0);
  EXPECT_THAT(tallyd.Stderr(), HasSubstr("stopped"));
}

TEST(LifecycleE2eTest, BadConfigKeyExitsTwoNamingFileLineAndKey) {
  TempDir dir;
  std::string path = dir.File("tallyd.yaml");
  WriteFile(path, "flush_interval: 10s\naggregation:\n  exact_sampels: 10\n");
  RunResult r = RunTallyd({"--config", path});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_THAT(r.err, HasSubstr("tallyd.yaml:3"));
  EXPECT_THAT(r.err, HasSubstr("aggregation.exact_sampels"));
}

TEST(LifecycleE2eTest, BadFlagValueExitsTwo) {
  RunResult r = RunTallyd({"--flush_interval=often"});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_THAT(r.err, HasSubstr("flush_interval"));
  EXPECT_EQ(RunTallyd({"--no_such_flag=1"}).exit_status, 2);
}

TEST(LifecycleE2eTest, CheckConfigValidatesWithoutStarting) {
  TempDir dir;
  std::string good = dir.File("good.yaml");
  WriteFile(good, "listen:\n  udp: [\"127.0.0.1:0\"]\nbackends:\n  console: {}\n");
  RunResult ok = RunTallyd({"--check-config", "--config", good});
  EXPECT_EQ(ok.exit_status, 0) << ok.err;
  std::string bad = dir.File("bad.yaml");
  WriteFile(bad, "aggregation:\n  gauge_mode: sometimes\n");
  RunResult r = RunTallyd({"--check-config", "--config", bad});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_THAT(r.err, HasSubstr("bad.yaml:2"));
  EXPECT_THAT(r.err, HasSubstr("aggregation.gauge_mode"));
}

TEST(LifecycleE2eTest, VersionPrintsAndExitsZero) {
  RunResult r = RunTallyd({"--version"});
  EXPECT_EQ(r.exit_status, 0);
  EXPECT_THAT(r.out, HasSubstr("tallyd"));
}

TEST(LifecycleE2eTest, HelpListsTheFlagsAndExitsZero) {
  RunResult r = RunTallyd({"--help"});
  EXPECT_EQ(r.exit_status, 0);
  EXPECT_THAT(r.out, HasSubstr("--flush_interval"));
  EXPECT_THAT(r.out, HasSubstr("--graphite_address"));
}

// The README's key table is what the binary says about its keys.
TEST(LifecycleE2eTest, HelpMarkdownIsTheReadmeKeyTable) {
  RunResult r = RunTallyd({"--help=markdown"});
  EXPECT_EQ(r.exit_status, 0);
  const std::string readme = ReadFile(TALLYD_README);
  const size_t begin = readme.find('\n', readme.find("<!-- config-table:begin")) + 1;
  const size_t end = readme.find("<!-- config-table:end");
  ASSERT_NE(end, std::string::npos);
  EXPECT_EQ(r.out, readme.substr(begin, end - begin))
      << "run scripts/update-readme-config.sh to regenerate README.md's key table";
}

TEST(LifecycleE2eTest, UdpPortInUseExitsOneNamingTheAddress) {
  PortHolder held(/*udp=*/true);
  std::string address = absl::StrCat("127.0.0.1:", held.port());
  RunResult r = RunTallyd({"--udp=" + address, "--prometheus_listen=127.0.0.1:0"});
  EXPECT_EQ(r.exit_status, 1);
  EXPECT_THAT(r.err, HasSubstr("udp " + address));
  EXPECT_THAT(r.err, HasSubstr("in use"));
}

TEST(LifecycleE2eTest, SecondTallydOnTheSamePortsExitsOneAndTheFirstKeepsEverything) {
  // Both run as the same user with several workers, each of which binds the port with
  // SO_REUSEPORT: without the first socket's exclusive claim the second would share the port.
  TallydProcess first({"--udp=127.0.0.1:0,[::1]:0", "--tcp=127.0.0.1:0", "--workers=2",
                       "--prometheus_listen=127.0.0.1:0", "--flush_interval=200ms"});
  ASSERT_TRUE(first.WaitReady()) << first.Stderr();
  std::string udp4, udp6;
  for (absl::string_view line : absl::StrSplit(ReadFile(first.dir().File("ports")), '\n')) {
    if (absl::ConsumePrefix(&line, "udp 127.0.0.1:")) udp4 = absl::StrCat("127.0.0.1:", line);
    if (absl::ConsumePrefix(&line, "udp [::1]:")) udp6 = absl::StrCat("[::1]:", line);
  }
  ASSERT_FALSE(udp4.empty());
  ASSERT_FALSE(udp6.empty());
  const std::string tcp = first.Address("tcp");

  const std::vector<std::pair<std::string, std::string>> attempts = {
      {"--udp=" + udp4, "udp " + udp4},
      {"--udp=" + udp6, "udp " + udp6},
      {"--tcp=" + tcp, "tcp " + tcp},
  };
  for (const auto& [flag, named] : attempts) {
    std::vector<std::string> args = {"--workers=2", "--prometheus_listen=127.0.0.1:0", flag};
    if (flag.rfind("--tcp", 0) == 0) args.push_back("--udp=127.0.0.1:0");
    TallydProcess second(args);
    EXPECT_FALSE(second.WaitReady()) << flag << " was shared: " << second.Stderr();
    EXPECT_EQ(second.WaitExit(), 1) << flag;
    EXPECT_THAT(second.Stderr(), HasSubstr(named + ": Address already in use")) << flag;
  }

  // Every datagram and connection, each from its own source port, still reaches the first.
  constexpr int kDatagrams = 200;
  constexpr int kConnections = 20;
  for (int i = 0; i < kDatagrams; ++i) SendUdp(i % 2 ? udp6 : udp4, "kept.udp:1|c");
  for (int i = 0; i < kConnections; ++i) SendTcp(tcp, {"kept.tcp:1|c\n"});
  const std::string url = "http://" + first.Address("prometheus") + "/metrics";
  EXPECT_TRUE(WaitFor([&] {
    std::string body = HttpGet(url);
    return body.find(absl::StrCat("kept_udp ", kDatagrams, "\n")) != std::string::npos &&
           body.find(absl::StrCat("kept_tcp ", kConnections, "\n")) != std::string::npos;
  })) << HttpGet(url);
}

TEST(LifecycleE2eTest, PrometheusPortInUseExitsOneNamingTheAddress) {
  PortHolder held(/*udp=*/false);
  std::string address = absl::StrCat("127.0.0.1:", held.port());
  RunResult r = RunTallyd({"--udp=127.0.0.1:0", "--prometheus_listen=" + address});
  EXPECT_EQ(r.exit_status, 1);
  EXPECT_THAT(r.err, HasSubstr(address));
}

TEST(LifecycleE2eTest, ConfigFileIsReadAndFlagsOverrideIt) {
  TempDir dir;
  std::string path = dir.File("tallyd.yaml");
  WriteFile(path,
            "flush_interval: 1h\n"
            "listen:\n  udp: [\"127.0.0.1:0\"]\n"
            "aggregation:\n  global_tags: [\"from:file\"]\n"
            "backends:\n  prometheus: { listen: \"127.0.0.1:0\" }\n");
  TallydProcess tallyd({"--config", path, "--flush_interval=200ms"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  SendUdp(tallyd.Address("udp"), "cfg.hits:1|c");
  std::string url = "http://" + tallyd.Address("prometheus") + "/metrics";
  EXPECT_TRUE(WaitFor([&] {
    return HttpGet(url).find("cfg_hits{from=\"file\"} 1") != std::string::npos;
  })) << HttpGet(url);
}

TEST(LifecycleE2eTest, SighupReloadsAggregationSettings) {
  TempDir dir;
  std::string path = dir.File("tallyd.yaml");
  auto write = [&](const char* tag) {
    WriteFile(path, absl::StrCat("flush_interval: 200ms\nlisten:\n  udp: [\"127.0.0.1:0\"]\n",
                                 "aggregation:\n  global_tags: [\"", tag, "\"]\n",
                                 "backends:\n  prometheus: { listen: \"127.0.0.1:0\" }\n"));
  };
  write("gen:one");
  TallydProcess tallyd({"--config", path});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  std::string url = "http://" + tallyd.Address("prometheus") + "/metrics";
  SendUdp(tallyd.Address("udp"), "hup.hits:1|c");
  ASSERT_TRUE(
      WaitFor([&] { return HttpGet(url).find("hup_hits{gen=\"one\"} 1") != std::string::npos; }));
  write("gen:two");
  tallyd.Signal(SIGHUP);
  // Keep sending until a flush after the reload carries the new global tag.
  EXPECT_TRUE(WaitFor([&] {
    SendUdp(tallyd.Address("udp"), "hup.hits:1|c");
    return HttpGet(url).find("hup_hits{gen=\"two\"}") != std::string::npos;
  })) << tallyd.Stderr();
  EXPECT_THAT(tallyd.Stderr(), HasSubstr("reload"));
}

TEST(LifecycleE2eTest, SighupRestartsChangedBackends) {
  TempDir dir;
  std::string path = dir.File("tallyd.yaml");
  std::string base = "flush_interval: 200ms\nlisten:\n  udp: [\"127.0.0.1:0\"]\nbackends:\n";
  WriteFile(path, base + "  prometheus: { listen: \"127.0.0.1:0\" }\n");
  TallydProcess tallyd({"--config", path});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  WriteFile(path, base + "  console: {}\n");
  tallyd.Signal(SIGHUP);
  EXPECT_TRUE(WaitFor([&] {
    SendUdp(tallyd.Address("udp"), "hup.console:1|c");
    return tallyd.Stdout().find("\"name\":\"hup.console\"") != std::string::npos;
  })) << tallyd.Stderr();
  EXPECT_THAT(tallyd.Stderr(), HasSubstr("reload: prometheus stopped"));
  EXPECT_THAT(tallyd.Stderr(), HasSubstr("reload: console started"));
}

TEST(LifecycleE2eTest, SighupWithoutChangesRestartsNothing) {
  TempDir dir;
  std::string path = dir.File("tallyd.yaml");
  WriteFile(path,
            "flush_interval: 100ms\nlisten:\n  udp: [\"127.0.0.1:0\"]\nbackends:\n"
            "  prometheus: { listen: \"127.0.0.1:0\" }\n  console: {}\n");
  TallydProcess tallyd({"--config", path});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  const std::string ports = ReadFile(tallyd.dir().File("ports"));
  const std::string url = "http://" + tallyd.Address("prometheus") + "/metrics";
  SendUdp(tallyd.Address("udp"), "same.hits:3|c");
  ASSERT_TRUE(WaitFor([&] { return HttpGet(url).find("\nsame_hits 3\n") != std::string::npos; }))
      << HttpGet(url);

  tallyd.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] {
    return tallyd.Stderr().find("reload: backend settings unchanged") != std::string::npos;
  })) << tallyd.Stderr();
  // Same port, same cumulative counter, and it goes on counting.
  EXPECT_THAT(HttpGet(url), HasSubstr("\nsame_hits 3\n"));
  SendUdp(tallyd.Address("udp"), "same.hits:1|c");
  EXPECT_TRUE(WaitFor([&] { return HttpGet(url).find("\nsame_hits 4\n") != std::string::npos; }))
      << HttpGet(url);
  EXPECT_EQ(ReadFile(tallyd.dir().File("ports")), ports);
  EXPECT_THAT(tallyd.Stderr(), Not(HasSubstr("reload: prometheus")));
  EXPECT_THAT(tallyd.Stderr(), Not(HasSubstr("reload: console")));
}

TEST(LifecycleE2eTest, SighupMovingPrometheusRewritesThePortsFile) {
  TempDir dir;
  std::string path = dir.File("tallyd.yaml");
  auto write = [&](const std::string& listen) {
    WriteFile(path, absl::StrCat("flush_interval: 100ms\nlisten:\n  udp: [\"127.0.0.1:0\"]\n",
                                 "backends:\n  prometheus: { listen: \"", listen, "\" }\n"));
  };
  write("127.0.0.1:0");
  TallydProcess tallyd({"--config", path});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  const std::string ports_file = tallyd.dir().File("ports");
  EXPECT_THAT(ReadFile(ports_file), HasSubstr("udp " + tallyd.Address("udp") + "\n"));

  // Another loopback address (all of 127/8 is loopback on Linux), again on a port of its own.
  write("127.0.0.2:0");
  tallyd.Signal(SIGHUP);
  std::string prometheus;
  ASSERT_TRUE(WaitFor([&] {
    for (absl::string_view line : absl::StrSplit(ReadFile(ports_file), '\n')) {
      if (absl::ConsumePrefix(&line, "prometheus 127.0.0.2:")) {
        prometheus = absl::StrCat("127.0.0.2:", line);
        return true;
      }
    }
    return false;
  })) << ReadFile(ports_file)
      << tallyd.Stderr();
  // The listeners are still listed, the new endpoint serves.
  EXPECT_THAT(ReadFile(ports_file), HasSubstr("udp " + tallyd.Address("udp") + "\n"));
  SendUdp(tallyd.Address("udp"), "moved.hits:1|c");
  EXPECT_TRUE(WaitFor([&] {
    return HttpGet("http://" + prometheus + "/metrics").find("\nmoved_hits 1\n") !=
           std::string::npos;
  })) << tallyd.Stderr();
  EXPECT_THAT(tallyd.Stderr(), HasSubstr("listening: prometheus " + prometheus));
}

TEST(LifecycleE2eTest, SighupAppliesLogLevel) {
  TempDir dir;
  std::string path = dir.File("tallyd.yaml");
  auto write = [&](const char* level, const char* tag) {
    WriteFile(path, absl::StrCat("log_level: ", level, "\nflush_interval: 100ms\n",
                                 "listen:\n  udp: [\"127.0.0.1:0\"]\n",
                                 "aggregation:\n  global_tags: [\"", tag, "\"]\n",
                                 "backends:\n  prometheus: { listen: \"127.0.0.1:0\" }\n"));
  };
  write("warning", "gen:one");
  TallydProcess tallyd({"--config", path});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  // Start-up's INFO lines are logged before the ports file is written: held back at warning.
  EXPECT_THAT(tallyd.Stderr(), Not(HasSubstr("listening: ")));

  // warning -> info: the reload's own INFO lines after the change show.
  write("info", "gen:one");
  tallyd.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] {
    return tallyd.Stderr().find("reload: backend settings unchanged") != std::string::npos;
  })) << tallyd.Stderr();
  EXPECT_THAT(tallyd.Stderr(), HasSubstr("reload: log_level warning -> info"));
  // Logged before the new config was read, still at warning.
  EXPECT_THAT(tallyd.Stderr(), Not(HasSubstr("SIGHUP: reloading the configuration")));

  // info -> error: the change is logged while info still holds; after it, a WARNING (a listener
  // change needing a restart) is held back. The new global tag tells the reload is done.
  write("error", "gen:one");
  tallyd.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] {
    return tallyd.Stderr().find("reload: log_level info -> error") != std::string::npos;
  })) << tallyd.Stderr();
  const std::string udp = tallyd.Address("udp");
  WriteFile(path, absl::StrCat("log_level: error\nflush_interval: 100ms\n",
                               "listen:\n  udp: [\"127.0.0.1:0\", \"127.0.0.1:0\"]\n",
                               "aggregation:\n  global_tags: [\"gen:two\"]\n",
                               "backends:\n  prometheus: { listen: \"127.0.0.1:0\" }\n"));
  tallyd.Signal(SIGHUP);
  const std::string url = "http://" + tallyd.Address("prometheus") + "/metrics";
  ASSERT_TRUE(WaitFor([&] {
    SendUdp(udp, "level.hits:1|c");
    return HttpGet(url).find("level_hits{gen=\"two\"}") != std::string::npos;
  })) << tallyd.Stderr();
  EXPECT_THAT(tallyd.Stderr(), Not(HasSubstr("need a restart")));
  EXPECT_THAT(tallyd.Stderr(), Not(HasSubstr("reload: aggregation settings applied")));
}

}  // namespace
}  // namespace tallyd::testing
