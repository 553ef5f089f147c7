// Tests for server/relay.h against a real UDP receiver on 127.0.0.1 (port picked by the kernel):
// the bytes arrive unchanged, datagrams stay within relay_packet_size, a longer line goes alone,
// a full buffer is sent rather than grown, and a receiver that is gone makes drops, counted.
#include "server/relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace tallyd::server {
namespace {

class UdpReceiver {
 public:
  UdpReceiver() {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~UdpReceiver() { Close(); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  // Every datagram queued now (loopback delivers within the send call).
  std::vector<std::string> Drain() {
    std::vector<std::string> out;
    char buffer[65536];
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 0) != 1) break;
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n < 0) break;
      out.emplace_back(buffer, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

std::unique_ptr<LineRelay> MakeRelay(const std::vector<std::string>& addresses, size_t packet_size,
                                     IngestCounters* counters, size_t max_datagrams = 64) {
  RelayOptions options;
  options.addresses = addresses;
  options.packet_size = packet_size;
  options.max_datagrams = max_datagrams;
  absl::StatusOr<std::unique_ptr<LineRelay>> relay = LineRelay::Create(options, counters);
  EXPECT_TRUE(relay.ok()) << relay.status();
  return relay.ok() ? *std::move(relay) : nullptr;
}

TEST(LineRelayTest, LinesArriveUnchangedInOneDatagram) {
  UdpReceiver receiver;
  IngestCounters counters;
  auto relay = MakeRelay({receiver.address()}, 1432, &counters);
  ASSERT_NE(relay, nullptr);
  relay->Add("a.b:1|c|#k:v");
  relay->Add("x,y=z:2|ms|@0.5");
  relay->Add("_e{1,1}:t|x");
  relay->Send();
  EXPECT_EQ(receiver.Drain(),
            (std::vector<std::string>{"a.b:1|c|#k:v\nx,y=z:2|ms|@0.5\n_e{1,1}:t|x"}));
  EXPECT_EQ(counters.relay_datagrams.Get(), 1u);
  EXPECT_EQ(counters.relay_lines.Get(), 3u);
  EXPECT_EQ(counters.relay_dropped_lines.Get(), 0u);
}

TEST(LineRelayTest, DatagramsNeverExceedThePacketSizeAndKeepTheLinesInOrder) {
  UdpReceiver receiver;
  IngestCounters counters;
  auto relay = MakeRelay({receiver.address()}, 32, &counters);
  ASSERT_NE(relay, nullptr);
  std::vector<std::string> lines;
  for (int i = 0; i < 200; ++i) {
    lines.push_back(absl::StrCat("m", std::string(i % 17, 'x'), ":", i, "|c"));
    relay->Add(lines.back());
  }
  relay->Send();
  std::vector<std::string> got;
  const std::vector<std::string> datagrams = receiver.Drain();
  for (const std::string& d : datagrams) {
    EXPECT_LE(d.size(), 32u) << d;
    for (absl::string_view l : absl::StrSplit(d, '\n')) got.emplace_back(l);
  }
  EXPECT_EQ(got, lines);
  EXPECT_EQ(counters.relay_datagrams.Get(), datagrams.size());
  EXPECT_EQ(counters.relay_lines.Get(), 200u);
}

TEST(LineRelayTest, ALineLongerThanThePacketSizeGoesAlone) {
  UdpReceiver receiver;
  IngestCounters counters;
  auto relay = MakeRelay({receiver.address()}, 20, &counters);
  ASSERT_NE(relay, nullptr);
  const std::string long_line = "long.metric.name.here:1|c|#a:b";
  relay->Add("a:1|c");
  relay->Add(long_line);
  relay->Add("b:1|c");
  relay->Send();
  EXPECT_EQ(receiver.Drain(), (std::vector<std::string>{"a:1|c", long_line, "b:1|c"}));
}

TEST(LineRelayTest, AFullBufferIsSentNotGrown) {
  UdpReceiver receiver;
  IngestCounters counters;
  auto relay = MakeRelay({receiver.address()}, 10, &counters, /*max_datagrams=*/2);
  ASSERT_NE(relay, nullptr);
  relay->Add("aaaa:1|c");  // datagram 1
  relay->Add("bbbb:1|c");  // datagram 2
  EXPECT_TRUE(receiver.Drain().empty());
  relay->Add("cccc:1|c");  // no room: the two go out first
  EXPECT_EQ(receiver.Drain(), (std::vector<std::string>{"aaaa:1|c", "bbbb:1|c"}));
  relay->Send();
  EXPECT_EQ(receiver.Drain(), (std::vector<std::string>{"cccc:1|c"}));
}

TEST(LineRelayTest, EveryAddressGetsEveryLine) {
  UdpReceiver a, b;
  IngestCounters counters;
  auto relay = MakeRelay({a.address(), b.address()}, 1432, &counters);
  ASSERT_NE(relay, nullptr);
  relay->Add("x:1|c");
  relay->Send();
  EXPECT_EQ(a.Drain(), (std::vector<std::string>{"x:1|c"}));
  EXPECT_EQ(b.Drain(), (std::vector<std::string>{"x:1|c"}));
  EXPECT_EQ(counters.relay_lines.Get(), 2u);
}

TEST(LineRelayTest, AReceiverThatIsGoneMakesCountedDrops) {
  UdpReceiver receiver;
  const std::string address = receiver.address();
  receiver.Close();
  IngestCounters counters;
  auto relay = MakeRelay({address}, 1432, &counters);
  ASSERT_NE(relay, nullptr);
  // The first send may leave before the port-unreachable answer comes back; a later one fails
  // with ECONNREFUSED on the connected socket, without blocking.
  for (int i = 0; i < 100 && counters.relay_dropped_lines.Get() == 0; ++i) {
    relay->Add("x:1|c");
    relay->Add("y:1|c");
    relay->Send();
  }
  EXPECT_GT(counters.relay_dropped_lines.Get(), 0u);
  EXPECT_EQ(counters.relay_dropped_lines.Get() % 2, 0u);  // whole datagrams, both lines
}

TEST(LineRelayTest, ABadAddressIsAnError) {
  IngestCounters counters;
  RelayOptions options;
  options.addresses = {"not an address"};
  EXPECT_FALSE(LineRelay::Create(options, &counters).ok());
}

}  // namespace
}  // namespace tallyd::server
