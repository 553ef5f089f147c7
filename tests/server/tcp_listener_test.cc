// TcpListener on a real loopback socket: slow senders cannot hold the connection slots
// (tcp_line_timeout, eviction of the longest idle at tcp_max_connections), and the stop reads
// what the sockets held, not what keeps arriving.
#include "server/tcp_listener.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/socket_address.h"

namespace tallyd::server {
namespace {

// Keeps the first few KiB received and checks every line: a chunk holds whole lines only (the
// last one with or without its '\n').
class CollectingSink : public DatagramSink {
 public:
  void OnData(std::string_view data, Transport) override {
    if (chunk_cost > absl::ZeroDuration()) absl::SleepFor(chunk_cost);  // a slow parser
    if (received.size() < 4096) received += data;
    for (absl::string_view line :
         absl::StrSplit(absl::string_view(data.data(), data.size()), '\n', absl::SkipEmpty())) {
      if (line == "flood:1|c") {
        ++flood_lines;
      } else if (line != "queued:1|c") {
        ++other_lines;
      }
    }
  }
  absl::Duration chunk_cost;
  std::string received;
  size_t flood_lines = 0;
  size_t other_lines = 0;
};

int Closed(const IngestCounters& c, TcpCloseReason reason) {
  return static_cast<int>(c.tcp_connections_closed[static_cast<int>(reason)].Get());
}

// A listener on 127.0.0.1:<free port> on a loop the test turns itself.
class TcpListenerTest : public ::testing::Test {
 protected:
  void Listen(TcpOptions options) {
    absl::StatusOr<SocketAddress> any = ParseSocketAddress("127.0.0.1:0");
    ASSERT_TRUE(any.ok());
    absl::StatusOr<int> fd = OpenTcpSocket(*any, PortSharing::kClaim);
    ASSERT_TRUE(fd.ok()) << fd.status();
    address_ = *LocalAddress(*fd);
    options.open_connections = &open_;
    uv_loop_init(&loop_);
    // Keeps UV_RUN_ONCE from blocking longer than 5 ms, so Turn() can check its condition.
    uv_timer_init(&loop_, &tick_);
    uv_timer_start(
        &tick_, [](uv_timer_t*) {}, 5, 5);
    listener_ = std::make_unique<TcpListener>(&loop_, *fd, options, &sink_, &counters_);
    ASSERT_TRUE(listener_->Start().ok());
  }

  void TearDown() override {
    if (listener_ == nullptr) return;
    if (!drained_) listener_->DrainAndClose();
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    listener_.reset();
    for (int fd : clients_) close(fd);
    uv_loop_close(&loop_);
  }

  int Connect() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(connect(fd, address_.get(), address_.length), 0);
    clients_.push_back(fd);
    return fd;
  }

  void Send(int fd, std::string_view bytes) {
    ASSERT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }

  // Turns the loop until `done` or `timeout`; returns whether `done` held.
  bool Turn(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time end = absl::Now() + timeout;
    while (!done()) {
      if (absl::Now() > end) return false;
      uv_run(&loop_, UV_RUN_ONCE);
    }
    return true;
  }

  // Whether the server closed the client's connection (EOF after whatever it had sent).
  static bool ClosedByServer(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 0) != 1) return false;
    char byte;
    return recv(fd, &byte, 1, MSG_DONTWAIT) == 0;
  }

  uv_loop_t loop_;
  uv_timer_t tick_;
  SocketAddress address_;
  std::atomic<int> open_{0};
  CollectingSink sink_;
  IngestCounters counters_;
  std::unique_ptr<TcpListener> listener_;
  std::vector<int> clients_;
  bool drained_ = false;
};

TEST_F(TcpListenerTest, IncompleteLineHeldPastTheLineTimeoutClosesTheConnection) {
  TcpOptions options;
  options.idle_timeout = absl::InfiniteDuration();
  options.line_timeout = absl::Milliseconds(300);
  Listen(options);
  // The slow sender keeps the connection busy (no idle timeout could catch it) but never ends
  // its line; the steady one ends a line every time.
  const int slow = Connect();
  const int steady = Connect();
  Send(slow, "slow.line:1");
  const absl::Time started = absl::Now();
  int sent = 0;
  ASSERT_TRUE(Turn([&] {
    if (absl::Now() - started > absl::Milliseconds(50) * sent) {
      Send(slow, "1");
      Send(steady, "steady:1|c\n");
      ++sent;
    }
    return ClosedByServer(slow);
  })) << "the trickling connection was never closed";
  EXPECT_GE(absl::Now() - started, absl::Milliseconds(250));  // the loop's clock has ms steps
  EXPECT_EQ(Closed(counters_, TcpCloseReason::kLineTimeout), 1);
  EXPECT_EQ(open_.load(), 1);
  // Its unfinished line was dropped; the steady sender, whose lines all end, stays.
  ASSERT_TRUE(Turn([&] { return sink_.received.find("steady:1|c\n") != std::string::npos; }));
  EXPECT_EQ(sink_.received.find("slow.line"), std::string::npos);
  EXPECT_FALSE(ClosedByServer(steady));
}

TEST_F(TcpListenerTest, CompletedLinesRestartTheLineClock) {
  TcpOptions options;
  options.idle_timeout = absl::InfiniteDuration();
  options.line_timeout = absl::Milliseconds(300);
  Listen(options);
  // Each read ends a line and starts the next: no line is ever held for long.
  const int fd = Connect();
  const absl::Time started = absl::Now();
  int sent = 0;
  EXPECT_FALSE(Turn(
      [&] {
        if (absl::Now() - started > absl::Milliseconds(50) * sent) {
          Send(fd, sent == 0 ? "a:1" : "|c\na:1");
          ++sent;
        }
        return ClosedByServer(fd);
      },
      absl::Milliseconds(1200)));
  EXPECT_EQ(Closed(counters_, TcpCloseReason::kLineTimeout), 0);
}

TEST_F(TcpListenerTest, IdleConnectionIsClosedAndCounted) {
  TcpOptions options;
  options.idle_timeout = absl::Milliseconds(200);
  Listen(options);
  const int fd = Connect();
  Send(fd, "idle:1|c\n");
  ASSERT_TRUE(Turn([&] { return ClosedByServer(fd); }));
  EXPECT_EQ(Closed(counters_, TcpCloseReason::kIdleTimeout), 1);
  EXPECT_EQ(sink_.received, "idle:1|c\n");
}

TEST_F(TcpListenerTest, AtTheLimitTheLongestIdleConnectionMakesRoomForANewOne) {
  TcpOptions options;
  options.max_connections = 2;
  Listen(options);
  const int oldest = Connect();
  Send(oldest, "first:1|c\n");
  ASSERT_TRUE(Turn([&] { return sink_.received.find("first") != std::string::npos; }));
  const int recent = Connect();
  Send(recent, "second:1|c\n");
  ASSERT_TRUE(Turn([&] { return sink_.received.find("second") != std::string::npos; }));

  const int newcomer = Connect();
  Send(newcomer, "third:1|c\n");
  ASSERT_TRUE(Turn([&] { return ClosedByServer(oldest); }));
  ASSERT_TRUE(Turn([&] { return sink_.received.find("third") != std::string::npos; }));
  EXPECT_FALSE(ClosedByServer(recent));
  EXPECT_FALSE(ClosedByServer(newcomer));
  EXPECT_EQ(Closed(counters_, TcpCloseReason::kEvicted), 1);
  EXPECT_EQ(counters_.tcp_connections_rejected.Get(), 0u);
  EXPECT_EQ(open_.load(), 2);
}

TEST_F(TcpListenerTest, DrainReadsWhatWasQueuedAndEndsUnderAFlood) {
  Listen(TcpOptions{});
  const int fd = Connect();
  Send(fd, "queued:1|c\n");
  ASSERT_TRUE(Turn([&] { return !sink_.received.empty(); }));
  // A sender that never stops (bounded here to 5 s), faster than the worker can parse.
  sink_.chunk_cost = absl::Milliseconds(1);
  std::atomic<bool> stop{false};
  std::thread flood([&] {
    std::string lines;
    for (int i = 0; i < 1000; ++i) lines += "flood:1|c\n";
    const absl::Time end = absl::Now() + absl::Seconds(5);
    while (!stop.load() && absl::Now() < end) {
      if (send(fd, lines.data(), lines.size(), MSG_NOSIGNAL) < 0) break;
    }
  });
  ASSERT_TRUE(Turn([&] { return sink_.flood_lines > 10000; }));
  const absl::Time started = absl::Now();
  listener_->DrainAndClose();
  drained_ = true;
  const absl::Duration took = absl::Now() - started;
  stop.store(true);
  flood.join();
  // It read what the socket held (a few MiB at most: its receive buffer) and stopped.
  EXPECT_LT(took, absl::Seconds(2));
  EXPECT_EQ(sink_.received.rfind("queued:1|c\nflood:1|c\n", 0), 0u);
  // Cut at the bound inside a line, the start of that line is not taken for a whole one.
  EXPECT_EQ(sink_.other_lines, 0u);
}

}  // namespace
}  // namespace tallyd::server
