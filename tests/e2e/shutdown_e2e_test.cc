// End-to-end: the stop is bounded by shutdown_timeout whatever the senders and the backends do,
// and loses nothing that was counted as received (SPEC 1).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/tallyd_process.h"

namespace tallyd::testing {
namespace {

// Sends `datagram` to 127.0.0.1:`port` from `threads` threads as fast as they can, until
// destroyed or 30 s passed.
class Flood {
 public:
  Flood(int port, std::string datagram, int threads) : datagram_(std::move(datagram)) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this, to] {
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        const absl::Time end = absl::Now() + absl::Seconds(30);
        while (!stop_.load(std::memory_order_relaxed) && absl::Now() < end) {
          if (sendto(fd, datagram_.data(), datagram_.size(), 0,
                     reinterpret_cast<const sockaddr*>(&to), sizeof to) > 0) {
            sent_.fetch_add(1, std::memory_order_relaxed);
          }
        }
        close(fd);
      });
    }
  }
  ~Flood() {
    stop_.store(true);
    for (std::thread& t : threads_) t.join();
  }
  uint64_t sent() const { return sent_.load(); }

 private:
  std::string datagram_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> sent_{0};
  std::vector<std::thread> threads_;
};

TEST(ShutdownE2eTest, SigtermUnderAFloodEndsInTimeAndFlushesEveryLineReceived) {
  TallydProcess tallyd({"--udp=127.0.0.1:0", "--noprometheus", "--console",
                        "--console_self_metrics", "--flush_interval=500ms", "--workers=1",
                        "--shutdown_timeout=2s"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  // 50 lines a datagram: the worker spends far longer on one than a sender does, so the socket
  // never runs empty while the flood lasts.
  std::string datagram;
  for (int i = 0; i < 50; ++i) datagram += "flood:1|c\n";
  std::optional<int> status;
  absl::Duration took;
  {
    Flood flood(tallyd.Port("udp"), datagram, 2);
    while (flood.sent() < 20000) absl::SleepFor(absl::Milliseconds(10));
    const absl::Time signalled = absl::Now();
    tallyd.Signal(SIGTERM);
    status = tallyd.WaitExit(absl::Seconds(3) + absl::Milliseconds(500));
    took = absl::Now() - signalled;
  }  // the flood stops only now
  if (!status) status = tallyd.WaitExit(absl::Seconds(40));
  ASSERT_EQ(status, 0) << tallyd.Stderr();
  EXPECT_LT(took, absl::Seconds(2 + 1)) << "shutdown_timeout 2s";

  // Every line tallyd counted as received (its own counter, as of the final flush) is in the
  // flushes, the final one included: the sum of the counter's per-flush counts.
  double flushed = 0;
  double received = -1;
  for (absl::string_view line : absl::StrSplit(tallyd.Stdout(), '\n', absl::SkipEmpty())) {
    nlohmann::json j = nlohmann::json::parse(line.begin(), line.end());
    if (j["name"] == "flood") flushed += j["values"]["count"].get<double>();
    if (j["name"] == "tallyd_lines_received_total" &&
        j["tags"] == nlohmann::json::array({"type:counter"})) {
      received = j["values"]["value"].get<double>();  // the last flush's, the final one
    }
  }
  EXPECT_GT(received, 0) << tallyd.Stderr();
  EXPECT_EQ(flushed, received);
}

// A peer that takes connections (the kernel completes them into the backlog) and never answers.
class SilentPeer {
 public:
  SilentPeer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 64);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~SilentPeer() { close(fd_); }
  int port() const { return port_; }
  // A client connected (and waits for an answer).
  bool Connected() const {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, 0) == 1;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(ShutdownE2eTest, HungDatadogAndPrometheusStopTogetherWithinShutdownTimeout) {
  SilentPeer datadog;
  // The Datadog request would wait 30 s; shutdown_timeout cuts it. Prometheus' endpoint takes
  // its own while to close: stopped one after the other the two overrun the budget.
  TallydProcess tallyd({"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0", "--datadog",
                        "--datadog_url=http://127.0.0.1:" + std::to_string(datadog.port()),
                        "--datadog_api_key=e2e-key", "--datadog_timeout=30s",
                        "--flush_interval=200ms", "--shutdown_timeout=2s"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  SendUdp(tallyd.Address("udp"), "hung.peer:1|c");
  ASSERT_TRUE(WaitFor([&] { return datadog.Connected(); }));  // a delivery waits, unanswered
  const absl::Time signalled = absl::Now();
  tallyd.Signal(SIGTERM);
  std::optional<int> status = tallyd.WaitExit(absl::Seconds(10));
  const absl::Duration took = absl::Now() - signalled;
  EXPECT_EQ(status, 0) << tallyd.Stderr();
  EXPECT_LT(took, absl::Seconds(2) + absl::Milliseconds(500)) << tallyd.Stderr();
  EXPECT_THAT(tallyd.Stderr(), ::testing::HasSubstr("not delivered within shutdown_timeout"));
}

}  // namespace
}  // namespace tallyd::testing
