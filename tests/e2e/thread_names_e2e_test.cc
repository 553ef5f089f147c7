// tallyd names its threads (backends::NameCallingThread) so that `top -H`, `ps -L` and perf say
// which one is busy: the receive workers, the flush, each backend's delivery.
#include <dirent.h>
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "tests/e2e/tallyd_process.h"

namespace tallyd::testing {
namespace {

std::set<std::string> ThreadNames(pid_t pid) {
  std::set<std::string> names;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string comm = ReadFile(dir + "/" + e->d_name + "/comm");
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
    names.insert(comm);
  }
  closedir(d);
  return names;
}

TEST(ThreadNamesE2eTest, WorkersFlushAndBackendsAreNamed) {
  TallydProcess tallyd({"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0", "--workers=2",
                        "--flush_interval=1s"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  const std::set<std::string> want = {"worker-0", "worker-1", "flush", "prometheus"};
  std::set<std::string> names;
  // Threads name themselves as they start; the ports file may come first.
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(std::chrono::milliseconds(20))) {
    names = ThreadNames(tallyd.pid());
    bool all = true;
    for (const std::string& n : want) all = all && names.count(n) != 0;
    if (all) break;
  }
  for (const std::string& n : want) EXPECT_EQ(names.count(n), 1u) << n;
  EXPECT_EQ(names.count("tallyd"), 1u);  // the main thread keeps the process' name
  tallyd.Signal(SIGTERM);
  EXPECT_EQ(tallyd.WaitExit(), 0);
}

}  // namespace
}  // namespace tallyd::testing
