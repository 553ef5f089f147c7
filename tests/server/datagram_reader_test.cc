// DatagramReader against real loopback sockets: batching, truncation and the kernel's drop count.
#include "server/datagram_reader.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/socket_address.h"
#include "tests/server/proc_net_udp.h"

namespace tallyd::server {
namespace {

class CollectingSink : public DatagramSink {
 public:
  void OnData(std::string_view data, Transport) override { received.emplace_back(data); }
  std::vector<std::string> received;
};

void SendTo(const SocketAddress& to, const std::string& payload) {
  int fd = socket(to.family(), SOCK_DGRAM, 0);
  ASSERT_EQ(sendto(fd, payload.data(), payload.size(), 0, to.get(), to.length),
            static_cast<ssize_t>(payload.size()));
  close(fd);
}

struct BoundSocket {
  int fd = -1;
  SocketAddress address;
};

BoundSocket Open(int receive_buffer) {
  absl::StatusOr<SocketAddress> any = ParseSocketAddress("127.0.0.1:0");
  EXPECT_TRUE(any.ok());
  absl::StatusOr<int> fd = OpenUdpSocket(*any, receive_buffer, PortSharing::kClaim);
  EXPECT_TRUE(fd.ok()) << fd.status();
  absl::StatusOr<SocketAddress> bound = LocalAddress(*fd);
  return {*fd, *bound};
}

TEST(DatagramReaderTest, ReadsEveryQueuedDatagramOnDrain) {
  BoundSocket s = Open(1 << 20);
  for (int i = 0; i < 100; ++i) SendTo(s.address, "d:" + std::to_string(i) + "|c");
  uv_loop_t loop;
  uv_loop_init(&loop);
  CollectingSink sink;
  IngestCounters counters;
  {
    DatagramReader reader(&loop, s.fd, Transport::kUdp, 65535, &sink, &counters);
    reader.DrainAndClose();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop);
  ASSERT_EQ(sink.received.size(), 100u);  // more than one recvmmsg batch, in order
  EXPECT_EQ(sink.received[0], "d:0|c");
  EXPECT_EQ(sink.received[99], "d:99|c");
  EXPECT_EQ(counters.packets[0].Get(), 100u);
  EXPECT_EQ(counters.kernel_drops.Get(), 0u);
}

// The worker keeps views into a receive call's datagrams until OnReceiveEnd and hands their lines
// to the shard there, as one unit: every OnData falls between an OnReceive and its OnReceiveEnd,
// and at OnReceiveEnd every view of the call still holds what was sent.
class BatchSink : public DatagramSink {
 public:
  void OnReceive() override {
    EXPECT_FALSE(open);
    open = true;
  }
  void OnData(std::string_view data, Transport) override {
    EXPECT_TRUE(open);
    views.push_back(data);
  }
  void OnReceiveEnd() override {
    EXPECT_TRUE(open);
    open = false;
    ++calls;
    for (std::string_view v : views) received.emplace_back(v);
    views.clear();
  }
  bool open = false;
  int calls = 0;
  std::vector<std::string_view> views;
  std::vector<std::string> received;
};

TEST(DatagramReaderTest, ViewsLastUntilTheEndOfTheirReceiveCall) {
  BoundSocket s = Open(1 << 20);
  constexpr int kSent = 3 * DatagramReader::kBatch + 5;
  for (int i = 0; i < kSent; ++i) SendTo(s.address, "d:" + std::to_string(i) + "|c");
  uv_loop_t loop;
  uv_loop_init(&loop);
  BatchSink sink;
  IngestCounters counters;
  {
    DatagramReader reader(&loop, s.fd, Transport::kUdp, 65535, &sink, &counters);
    reader.DrainAndClose();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop);
  EXPECT_FALSE(sink.open);
  EXPECT_GE(sink.calls, 4);  // several datagrams per call
  ASSERT_EQ(sink.received.size(), static_cast<size_t>(kSent));
  for (int i = 0; i < kSent; ++i) EXPECT_EQ(sink.received[i], "d:" + std::to_string(i) + "|c");
}

TEST(DatagramReaderTest, OversizedDatagramIsCountedAndNotDelivered) {
  BoundSocket s = Open(1 << 20);
  SendTo(s.address, std::string(200, 'x'));
  SendTo(s.address, "ok:1|c");
  uv_loop_t loop;
  uv_loop_init(&loop);
  CollectingSink sink;
  IngestCounters counters;
  {
    DatagramReader reader(&loop, s.fd, Transport::kUdp, 64, &sink, &counters);
    reader.DrainAndClose();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop);
  ASSERT_EQ(sink.received.size(), 1u);
  EXPECT_EQ(sink.received[0], "ok:1|c");
  EXPECT_EQ(counters.packets_truncated[0].Get(), 1u);
}

TEST(DatagramReaderTest, CountsKernelDropsWhenCollectedWithoutReadingADatagram) {
  // A tiny receive buffer and nobody reading: the kernel drops most of what is sent. The count
  // comes from the socket (once per flush), not from the datagrams, so it is right before any is
  // read, adds only what is new on a second call, and equals sent - received at the end.
  BoundSocket s = Open(1);
  constexpr int kSent = 500;
  uv_loop_t loop;
  uv_loop_init(&loop);
  CollectingSink sink;
  IngestCounters counters;
  {
    DatagramReader reader(&loop, s.fd, Transport::kUdp, 65535, &sink, &counters);
    for (int i = 0; i < kSent; ++i) SendTo(s.address, std::string(200, 'y'));
    reader.CollectKernelDrops();
    const uint64_t first = counters.kernel_drops.Get();
    EXPECT_GT(first, 0u);
    EXPECT_EQ(first, ProcNetUdpDrops(InodeOf(s.fd)));
    reader.CollectKernelDrops();  // nothing new: nothing added
    EXPECT_EQ(counters.kernel_drops.Get(), first);

    for (int i = 0; i < kSent; ++i) SendTo(s.address, std::string(200, 'z'));
    reader.CollectKernelDrops();
    EXPECT_GT(counters.kernel_drops.Get(), first);
    EXPECT_EQ(counters.kernel_drops.Get(), ProcNetUdpDrops(InodeOf(s.fd)));
    reader.DrainAndClose();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop);
  EXPECT_EQ(counters.kernel_drops.Get() + sink.received.size(), 2u * kSent);
  EXPECT_EQ(counters.packets[0].Get(), sink.received.size());
}

TEST(DatagramReaderTest, DrainCollectsTheDropsSinceTheLastCollection) {
  BoundSocket s = Open(1);
  constexpr int kSent = 300;
  for (int i = 0; i < kSent; ++i) SendTo(s.address, std::string(200, 'y'));
  uv_loop_t loop;
  uv_loop_init(&loop);
  CollectingSink sink;
  IngestCounters counters;
  {
    DatagramReader reader(&loop, s.fd, Transport::kUdp, 65535, &sink, &counters);
    reader.DrainAndClose();  // the last flush must see them without another collection
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop);
  ASSERT_LT(sink.received.size(), static_cast<size_t>(kSent));
  EXPECT_EQ(counters.kernel_drops.Get(), kSent - sink.received.size());
}

// A worker slower than the sender: each datagram costs it `cost` (busy, as parsing would).
class SlowSink : public DatagramSink {
 public:
  explicit SlowSink(absl::Duration cost) : cost_(cost) {}
  void OnData(std::string_view data, Transport) override {
    const absl::Time until = absl::Now() + cost_;
    while (absl::Now() < until) {
    }
    if (data.rfind("held:", 0) == 0) held.emplace_back(data);
    ++datagrams;
  }
  std::vector<std::string> held;
  size_t datagrams = 0;

 private:
  absl::Duration cost_;
};

// Datagrams queued before a flood starts are all read by the drain, and the flood (a sender that
// never stops, bounded here to 5 s) does not keep the drain going.
void DrainUnderFlood(int fd, const sockaddr* to, socklen_t to_len, Transport transport,
                     int held_count) {
  int sender = socket(to->sa_family, SOCK_DGRAM, 0);
  for (int i = 0; i < held_count; ++i) {
    std::string d = "held:" + std::to_string(i);
    ASSERT_EQ(sendto(sender, d.data(), d.size(), 0, to, to_len), static_cast<ssize_t>(d.size()));
  }
  std::atomic<bool> stop{false};
  std::atomic<int> attempts{0};
  std::thread flood([&] {
    const std::string big(8000, 'f');
    const absl::Time end = absl::Now() + absl::Seconds(5);
    while (!stop.load() && absl::Now() < end) {
      sendto(sender, big.data(), big.size(), MSG_DONTWAIT, to, to_len);
      ++attempts;
    }
  });
  while (attempts.load() < 1000) std::this_thread::yield();  // the queue is full by now

  uv_loop_t loop;
  uv_loop_init(&loop);
  SlowSink sink(absl::Microseconds(100));
  IngestCounters counters;
  absl::Duration took;
  {
    DatagramReader reader(&loop, fd, transport, 65535, &sink, &counters);
    const absl::Time started = absl::Now();
    reader.DrainAndClose();
    took = absl::Now() - started;
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  stop.store(true);
  flood.join();
  close(sender);
  uv_loop_close(&loop);
  EXPECT_LT(took, absl::Seconds(2)) << sink.datagrams << " datagrams read";
  ASSERT_EQ(sink.held.size(), static_cast<size_t>(held_count));
  EXPECT_EQ(sink.held.front(), "held:0");
  EXPECT_EQ(sink.held.back(), "held:" + std::to_string(held_count - 1));
}

TEST(DatagramReaderTest, UdpDrainReadsWhatWasQueuedAndEndsUnderAFlood) {
  BoundSocket s = Open(1 << 20);
  DrainUnderFlood(s.fd, s.address.get(), s.address.length, Transport::kUdp, 100);
}

TEST(DatagramReaderTest, UnixDrainReadsWhatWasQueuedAndEndsUnderAFlood) {
  char dir[] = "/tmp/tallyd-drain-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/statsd.sock";
  absl::StatusOr<int> fd = OpenUnixDatagramSocket(path, 0600, 1 << 20);
  ASSERT_TRUE(fd.ok()) << fd.status();
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  std::memcpy(to.sun_path, path.data(), path.size());
  // The queue of a Unix datagram socket holds net.unix.max_dgram_qlen datagrams (10 by
  // default); a sender waits beyond that.
  int qlen = 10;
  std::ifstream("/proc/sys/net/unix/max_dgram_qlen") >> qlen;
  DrainUnderFlood(*fd, reinterpret_cast<const sockaddr*>(&to), sizeof to, Transport::kUnix,
                  std::min(qlen, 8));
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace tallyd::server
