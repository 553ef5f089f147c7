// Worker: what it logs about the lines it rejects (SPEC 2: logged lines are escaped), and the
// kernel's drop count it reads once per flush.
#include "server/worker.h"

#include <glog/logging.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "aggregator/aggregator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/listen_sockets.h"
#include "server/socket_address.h"
#include "tests/server/proc_net_udp.h"

namespace tallyd::server {
namespace {

using ::testing::HasSubstr;

bool AllPrintableAscii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return false;
    }
  }
  return true;
}

TEST(EscapeForLogTest, KeepsPrintableAsciiAndEscapesEverythingElse) {
  EXPECT_EQ(EscapeForLog("plain:1|c", 200), "plain:1|c");
  EXPECT_EQ(EscapeForLog("a\x1b[31mb", 200), "a\\x1b[31mb");
  EXPECT_EQ(EscapeForLog(std::string("nul\0bel\a\r\x7f", 10), 200),
            "nul\\x00\\x62\\x65l\\x07\\r\\x7f");
  // (a hex digit right after a \x escape is escaped too, as C reads "\x00be" as one byte)
  EXPECT_EQ(EscapeForLog("two\nlines", 200), "two\\nlines");  // no forged log line
  EXPECT_EQ(EscapeForLog("caf\xc3\xa9", 200), "caf\\xc3\\xa9");
  // A backslash is escaped too, so "\x1b" typed by a client cannot pass for an escaped byte.
  EXPECT_EQ(EscapeForLog("back\\x1b", 200), "back\\\\x1b");
}

TEST(EscapeForLogTest, BoundsTheLengthWithoutCuttingAnEscape) {
  EXPECT_EQ(EscapeForLog(std::string(500, 'x'), 10), "xxxxxxxxxx...");
  // The cut is on the client's bytes, before escaping: an escape is never cut.
  EXPECT_EQ(EscapeForLog("abcdefgh\x01zz", 9), "abcdefgh\\x01...");
  const std::string long_control(10000, '\x1b');
  const std::string escaped = EscapeForLog(long_control, kLoggedLineChars);
  EXPECT_EQ(escaped.size(), 4 * kLoggedLineChars + 3);
  EXPECT_TRUE(AllPrintableAscii(escaped));
}

// Collects what glog logs, as stderr would receive it.
class CapturingSink : public google::LogSink {
 public:
  void send(google::LogSeverity, const char*, const char*, int, const google::LogMessageTime&,
            const char* message, size_t length) override {
    std::lock_guard lock(mu_);
    messages_.emplace_back(message, length);
  }
  std::vector<std::string> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> messages_;
};

TEST(WorkerTest, RejectedLineSampleReachesTheLogEscaped) {
  aggregator::Aggregator aggregator(aggregator::Options{}, absl::Seconds(10));
  Worker worker(0, aggregator.AddShard(), WorkerOptions{});
  CapturingSink sink;
  google::AddLogSink(&sink);
  // A line a terminal would act on: clear the screen, set the window title, ring the bell.
  worker.OnData("\x1b[2J\x1b]0;owned\x07:1|zz\n", Transport::kUdp);
  google::RemoveLogSink(&sink);

  uint64_t rejected = 0;
  for (const RelaxedCounter& c : worker.counters().rejected) rejected += c.Get();
  EXPECT_EQ(rejected, 1u);
  std::vector<std::string> logged = sink.messages();
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_THAT(logged[0], HasSubstr("rejected line"));
  EXPECT_THAT(logged[0], HasSubstr("\\x1b[2J\\x1b]0;owned\\x07:1|zz"));
  EXPECT_TRUE(AllPrintableAscii(logged[0])) << logged[0];
}

TEST(WorkerTest, KernelDropsWhileNotReadingAreCountedAtTheNextFlush) {
  aggregator::Aggregator aggregator(aggregator::Options{}, absl::Seconds(10));
  std::mutex mu;
  std::condition_variable cv;
  int rotations = 0;
  bool release = false;
  WorkerOptions options;
  // The first hand-over holds the worker thread, so it reads nothing while the socket overflows.
  options.on_rotated = [&] {
    std::unique_lock lock(mu);
    ++rotations;
    cv.notify_all();
    cv.wait(lock, [&] { return rotations > 1 || release; });
  };
  auto await_rotations = [&](int n) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return rotations >= n; });
  };

  absl::StatusOr<SocketAddress> any = ParseSocketAddress("127.0.0.1:0");
  ASSERT_TRUE(any.ok());
  absl::StatusOr<int> fd = OpenUdpSocket(*any, 1, PortSharing::kClaim);  // the smallest buffer
  ASSERT_TRUE(fd.ok()) << fd.status();
  absl::StatusOr<SocketAddress> to = LocalAddress(*fd);
  ASSERT_TRUE(to.ok());
  struct stat st;
  ASSERT_EQ(fstat(*fd, &st), 0);

  Worker worker(0, aggregator.AddShard(), options);
  worker.AddDatagramSocket(*fd, Transport::kUdp);
  ASSERT_TRUE(worker.Start().ok());
  aggregator.RequestRotation(aggregator::MonotonicNow());
  worker.Wake();
  await_rotations(1);  // the worker is held now

  constexpr int kSent = 500;
  const std::string datagram = "drop." + std::string(200, 'x') + ":1|c";
  int sender = socket(AF_INET, SOCK_DGRAM, 0);
  for (int i = 0; i < kSent; ++i) {
    ASSERT_EQ(sendto(sender, datagram.data(), datagram.size(), 0, to->get(), to->length),
              static_cast<ssize_t>(datagram.size()));
  }
  close(sender);
  const uint64_t kernel = ProcNetUdpDrops(st.st_ino);
  ASSERT_GT(kernel, 0u);
  EXPECT_EQ(worker.counters().kernel_drops.Get(), 0u);  // not read before the next flush

  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  // The next flush: the first interval collected, the shard asked to rotate again.
  ASSERT_TRUE(aggregator.AwaitRotation(absl::Now() + absl::Seconds(30)));
  aggregator.Flush(absl::Now(), aggregator::MonotonicNow());
  aggregator.RequestRotation(aggregator::MonotonicNow());
  worker.Wake();
  await_rotations(2);
  // Nothing was sent after the drops, so no datagram could carry their count: the worker read
  // it from the socket.
  EXPECT_EQ(worker.counters().kernel_drops.Get(), kernel);
  worker.Stop();
  EXPECT_EQ(worker.counters().kernel_drops.Get() + worker.counters().packets[0].Get(),
            static_cast<uint64_t>(kSent));
}

// A Unix datagram socket is read by every worker (SO_REUSEPORT cannot share a path): with the
// first worker held in its flush hand-over, the second reads every datagram.
TEST(WorkerTest, UnixSocketIsReadByEveryWorker) {
  aggregator::Aggregator aggregator(aggregator::Options{}, absl::Seconds(10));
  std::mutex mu;
  std::condition_variable cv;
  bool held = false;
  bool release = false;
  WorkerOptions hold;
  hold.on_rotated = [&] {
    std::unique_lock lock(mu);
    held = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  };
  char dir[] = "/tmp/tallyd-worker-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/dsd.socket";
  absl::StatusOr<ListenSockets> sockets = OpenUnixListener(path, 0622, 2, 1 << 20);
  ASSERT_TRUE(sockets.ok()) << sockets.status();
  ASSERT_EQ(sockets->fds.size(), 2u);

  Worker first(0, aggregator.AddShard(), hold);
  Worker second(1, aggregator.AddShard(), WorkerOptions{});
  first.AddDatagramSocket(sockets->fds[0], Transport::kUnix, true);
  second.AddDatagramSocket(sockets->fds[1], Transport::kUnix, false);
  ASSERT_TRUE(first.Start().ok());
  ASSERT_TRUE(second.Start().ok());
  aggregator.RequestRotation(aggregator::MonotonicNow());
  first.Wake();
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return held; });  // the first worker reads nothing from here
  }

  constexpr int kSent = 100;
  int sender = socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  std::strncpy(to.sun_path, path.c_str(), sizeof to.sun_path - 1);
  const std::string datagram = "unix.lines:1|c";
  for (int i = 0; i < kSent; ++i) {
    ASSERT_EQ(sendto(sender, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to),
                     sizeof to),
              static_cast<ssize_t>(datagram.size()));
  }
  close(sender);
  const int unix = static_cast<int>(Transport::kUnix);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (second.counters().packets[unix].Get() < kSent && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(second.counters().packets[unix].Get(), static_cast<uint64_t>(kSent));
  EXPECT_EQ(first.counters().packets[unix].Get(), 0u);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  second.Stop();
  first.Stop();
  unlink(path.c_str());
  rmdir(dir);
}

// One client's gauge set on two workers in one interval (its datagrams spread over them) ends at
// the value received last, though the flush side merges worker 0's shard first: each worker
// stamps its receive batches.
TEST(WorkerTest, AGaugeSetOnTwoWorkersEndsAtTheValueReceivedLast) {
  aggregator::Aggregator aggregator(aggregator::Options{}, absl::Seconds(10));
  absl::StatusOr<SocketAddress> any = ParseSocketAddress("127.0.0.1:0");
  ASSERT_TRUE(any.ok());
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<SocketAddress> to;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<int> fd = OpenUdpSocket(*any, 1 << 20, PortSharing::kClaim);
    ASSERT_TRUE(fd.ok()) << fd.status();
    to.push_back(*LocalAddress(*fd));
    workers.push_back(std::make_unique<Worker>(i, aggregator.AddShard(), WorkerOptions{}));
    workers.back()->AddDatagramSocket(*fd, Transport::kUdp);
    ASSERT_TRUE(workers.back()->Start().ok());
  }
  int sender = socket(AF_INET, SOCK_DGRAM, 0);
  auto send_to = [&](int worker, const std::string& datagram) {
    ASSERT_EQ(
        sendto(sender, datagram.data(), datagram.size(), 0, to[worker].get(), to[worker].length),
        static_cast<ssize_t>(datagram.size()));
    const int gauge = static_cast<int>(protocol::MetricType::kGauge);
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (workers[worker]->counters().lines[gauge].Get() == 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    ASSERT_EQ(workers[worker]->counters().lines[gauge].Get(), 1u);
  };
  send_to(1, "spread.gauge:1|g");  // received first, merged last
  send_to(0, "spread.gauge:2|g");
  close(sender);
  aggregator.RequestRotation(aggregator::MonotonicNow());
  for (auto& w : workers) w->Wake();
  ASSERT_TRUE(aggregator.AwaitRotation(absl::Now() + absl::Seconds(30)));
  auto snapshot = aggregator.Flush(absl::Now(), aggregator::MonotonicNow());
  ASSERT_EQ(snapshot->series.size(), 1u);
  EXPECT_EQ(snapshot->series[0].value, 2);
  for (auto& w : workers) w->Stop();
}

}  // namespace
}  // namespace tallyd::server
