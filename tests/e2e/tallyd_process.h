// End-to-end test harness: starts the real tallyd binary on ports it picks itself (port 0 and
// --ports_file), captures its stdout and stderr, and talks to it over loopback sockets.
#ifndef TALLYD_TESTS_E2E_TALLYD_PROCESS_H_
#define TALLYD_TESTS_E2E_TALLYD_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/common/temp_dir.h"

namespace tallyd::testing {

// Polls `condition` every 10 ms until it holds or `timeout` passes. Returns whether it held.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(20));

class TallydProcess {
 public:
  // Starts tallyd with `args` plus --ports_file in a temp dir. Does not wait.
  explicit TallydProcess(std::vector<std::string> args);
  ~TallydProcess();  // SIGKILL if still running

  // Waits for the ports file (start-up done). False if tallyd exited or timed out.
  bool WaitReady(absl::Duration timeout = absl::Seconds(20));
  // "udp" -> "127.0.0.1:34567" (the first of that kind), from the ports file.
  std::string Address(const std::string& kind) const;
  int Port(const std::string& kind) const;

  void Signal(int signum);
  // Waits for exit; returns the exit status, or nullopt on timeout.
  std::optional<int> WaitExit(absl::Duration timeout = absl::Seconds(30));

  std::string Stdout() const { return ReadFile(dir_.File("stdout")); }
  std::string Stderr() const { return ReadFile(dir_.File("stderr")); }
  const TempDir& dir() const { return dir_; }
  pid_t pid() const { return pid_; }

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::multimap<std::string, std::string> addresses_;
};

// Runs tallyd to completion (for --check-config, bad flags, ...), with a timeout.
struct RunResult {
  int exit_status = -1;
  std::string out;
  std::string err;
};
RunResult RunTallyd(std::vector<std::string> args, absl::Duration timeout = absl::Seconds(20));

// Loopback clients.
void SendUdp(const std::string& address, const std::string& payload);
void SendTcp(const std::string& address, const std::vector<std::string>& chunks);
void SendUnix(const std::string& path, const std::string& payload);
// GET http://address/path; returns the body ("" and status 0 on failure).
std::string HttpGet(const std::string& url, long* status = nullptr);

// A bound-but-unused port holder: binds 127.0.0.1:0 (TCP or UDP) and keeps the socket.
class PortHolder {
 public:
  explicit PortHolder(bool udp);
  ~PortHolder();
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace tallyd::testing

#endif  // TALLYD_TESTS_E2E_TALLYD_PROCESS_H_
