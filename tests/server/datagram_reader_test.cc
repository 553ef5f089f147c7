// DatagramReader against real loopback sockets: batching, truncation and SO_RXQ_OVFL drops.
#include "server/datagram_reader.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/socket_address.h"

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

TEST(DatagramReaderTest, CountsKernelDropsFromSoRxqOvfl) {
  // A tiny receive buffer and nobody reading: the kernel drops most of 500 datagrams. It stamps
  // its running drop count on each datagram it queues, so the drops show up on the first
  // datagram queued after them: read the queue empty, send one more, read again.
  BoundSocket s = Open(1);
  constexpr int kSent = 500;
  for (int i = 0; i < kSent; ++i) SendTo(s.address, std::string(200, 'y'));
  uv_loop_t loop;
  uv_loop_init(&loop);
  CollectingSink sink;
  IngestCounters counters;
  {
    DatagramReader reader(&loop, s.fd, Transport::kUdp, 65535, &sink, &counters);
    reader.Start();
    while (sink.received.empty()) uv_run(&loop, UV_RUN_NOWAIT);
    uv_run(&loop, UV_RUN_NOWAIT);
    const size_t first = sink.received.size();
    ASSERT_LT(first, static_cast<size_t>(kSent));
    SendTo(s.address, "after:1|c");
    reader.DrainAndClose();
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(sink.received.back(), "after:1|c");
    EXPECT_EQ(counters.kernel_drops.Get(), static_cast<uint64_t>(kSent) - first);
  }
  uv_loop_close(&loop);
}

}  // namespace
}  // namespace tallyd::server
