// tallyd re-executes itself once with glibc's malloc huge-page tunable
// (server/malloc_huge_pages.h), keeping its pid and its name, unless TALLYD_MALLOC_HUGEPAGES=0 or
// the machine cannot use it.
#include <gnu/libc-version.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "tests/e2e/tallyd_process.h"

namespace tallyd::testing {
namespace {

std::string EnvironOf(pid_t pid) {
  std::string env = ReadFile("/proc/" + std::to_string(pid) + "/environ");
  for (char& c : env) {
    if (c == '\0') c = '\n';
  }
  return env;
}

bool MachineCanUseTunable() {
  int major = 0, minor = 0;
  std::sscanf(gnu_get_libc_version(), "%d.%d", &major, &minor);
  std::string thp;
  std::getline(std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled"), thp);
  return major * 100 + minor >= 235 && !thp.empty() && thp.find("[never]") == std::string::npos;
}

// The name ps, pidof and systemd show (the kernel's comm, without the newline).
std::string NameOf(pid_t pid) {
  std::string comm = ReadFile("/proc/" + std::to_string(pid) + "/comm");
  if (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return comm;
}

std::vector<std::string> Args() {
  return {"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0", "--workers=1"};
}

TEST(HugePagesE2eTest, ReexecutesWithMallocHugePagesKeepingItsPid) {
  if (!MachineCanUseTunable()) GTEST_SKIP() << "glibc < 2.35 or transparent huge pages off";
  ASSERT_EQ(std::getenv("GLIBC_TUNABLES"), nullptr) << "run the test without GLIBC_TUNABLES";
  TallydProcess tallyd(Args());
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  // The ports file is written after the exec, so /proc shows the re-executed image's environment.
  EXPECT_NE(EnvironOf(tallyd.pid()).find("GLIBC_TUNABLES=glibc.malloc.hugetlb=1"),
            std::string::npos);
  EXPECT_EQ(NameOf(tallyd.pid()), "tallyd");
  tallyd.Signal(SIGTERM);
  EXPECT_EQ(tallyd.WaitExit(), 0);
}

TEST(HugePagesE2eTest, OptOutWithEnvironmentVariable) {
  setenv("TALLYD_MALLOC_HUGEPAGES", "0", 1);
  TallydProcess tallyd(Args());
  unsetenv("TALLYD_MALLOC_HUGEPAGES");
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  EXPECT_EQ(EnvironOf(tallyd.pid()).find("glibc.malloc.hugetlb"), std::string::npos);
  EXPECT_EQ(NameOf(tallyd.pid()), "tallyd");
  tallyd.Signal(SIGTERM);
  EXPECT_EQ(tallyd.WaitExit(), 0);
}

}  // namespace
}  // namespace tallyd::testing
