// The worker sockets of one listen address: they share its port among themselves (SO_REUSEPORT,
// every one of them gets traffic) and never with another process (SPEC 1: a port in use fails).
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/datagram_reader.h"
#include "server/listen_sockets.h"
#include "server/socket_address.h"
#include "server/tcp_listener.h"

namespace tallyd::server {
namespace {

using ::testing::HasSubstr;

constexpr int kWorkers = 4;

SocketAddress Address(const std::string& text) {
  absl::StatusOr<SocketAddress> address = ParseSocketAddress(text);
  EXPECT_TRUE(address.ok()) << address.status();
  return *address;
}

// Opens the sockets as Server::Start does: the first claims the address, the others join.
template <typename Open>
std::vector<int> OpenWorkers(SocketAddress* address, Open open) {
  std::vector<int> fds;
  absl::StatusOr<int> claim = open(*address, PortSharing::kClaim);
  EXPECT_TRUE(claim.ok()) << claim.status();
  if (!claim.ok()) return fds;
  fds.push_back(*claim);
  address->set_port(LocalAddress(*claim)->port());
  EXPECT_TRUE(SharePort(*claim, "test").ok());
  for (int i = 1; i < kWorkers; ++i) {
    absl::StatusOr<int> join = open(*address, PortSharing::kJoin);
    EXPECT_TRUE(join.ok()) << join.status();
    if (join.ok()) fds.push_back(*join);
  }
  return fds;
}

absl::StatusOr<int> OpenUdp(const SocketAddress& address, PortSharing sharing) {
  return OpenUdpSocket(address, 1 << 20, sharing);
}

// Another program's socket on `address`, bound with or without SO_REUSEPORT.
int ForeignSocket(const SocketAddress& address, int type, bool reuseport) {
  int fd = socket(address.family(), type, 0);
  int one = 1;
  if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  EXPECT_EQ(bind(fd, address.get(), address.length), 0);
  if (type == SOCK_STREAM) {
    EXPECT_EQ(listen(fd, 8), 0);
  }
  return fd;
}

// Reads (UDP) or accepts (TCP) on every fd until `total` arrived or 10 s passed; per-fd counts.
std::vector<int> Receive(const std::vector<int>& fds, bool tcp, int total) {
  std::vector<int> counts(fds.size(), 0);
  std::vector<pollfd> polls;
  for (int fd : fds) polls.push_back({fd, POLLIN, 0});
  int received = 0;
  for (int rounds = 0; received < total && rounds < 1000; ++rounds) {
    if (poll(polls.data(), polls.size(), 10) < 0) break;
    for (size_t i = 0; i < fds.size(); ++i) {
      while (true) {
        char byte;
        int got = tcp ? accept4(fds[i], nullptr, nullptr, SOCK_CLOEXEC)
                      : static_cast<int>(recv(fds[i], &byte, 1, MSG_DONTWAIT));
        if (got < 0) break;
        if (tcp) close(got);
        ++counts[i];
        ++received;
      }
    }
  }
  return counts;
}

void CloseAll(const std::vector<int>& fds) {
  for (int fd : fds) close(fd);
}

TEST(ListenerSocketTest, UdpClaimFailsWhileAnotherProgramHoldsThePort) {
  for (bool reuseport : {false, true}) {
    SocketAddress address = Address("127.0.0.1:0");
    int foreign = ForeignSocket(address, SOCK_DGRAM, reuseport);
    address.set_port(LocalAddress(foreign)->port());
    absl::StatusOr<int> claim = OpenUdpSocket(address, 0, PortSharing::kClaim);
    ASSERT_FALSE(claim.ok()) << "reuseport " << reuseport;
    EXPECT_THAT(claim.status().message(), HasSubstr("udp " + address.ToString() + ": "));
    EXPECT_THAT(claim.status().message(), HasSubstr("in use"));
    close(foreign);
  }
}

TEST(ListenerSocketTest, TcpClaimFailsWhileAnotherProgramListensOnThePort) {
  for (bool reuseport : {false, true}) {
    SocketAddress address = Address("127.0.0.1:0");
    int foreign = ForeignSocket(address, SOCK_STREAM, reuseport);
    address.set_port(LocalAddress(foreign)->port());
    absl::StatusOr<int> claim = OpenTcpSocket(address, PortSharing::kClaim);
    ASSERT_FALSE(claim.ok()) << "reuseport " << reuseport;
    EXPECT_THAT(claim.status().message(), HasSubstr("tcp " + address.ToString() + ": "));
    EXPECT_THAT(claim.status().message(), HasSubstr("in use"));
    close(foreign);
  }
}

TEST(ListenerSocketTest, UdpWorkersShareThePortAndEachGetsDatagrams) {
  for (const char* text : {"127.0.0.1:0", "[::1]:0"}) {
    SocketAddress address = Address(text);
    std::vector<int> fds = OpenWorkers(&address, OpenUdp);
    ASSERT_EQ(fds.size(), static_cast<size_t>(kWorkers));
    // Another tallyd's claim fails, though the port is now open to SO_REUSEPORT sockets.
    EXPECT_FALSE(OpenUdp(address, PortSharing::kClaim).ok()) << text;
    // Each datagram from its own source port: the kernel hashes them over the group.
    constexpr int kSent = 200;
    for (int i = 0; i < kSent; ++i) {
      int fd = socket(address.family(), SOCK_DGRAM, 0);
      ASSERT_EQ(sendto(fd, "x", 1, 0, address.get(), address.length), 1);
      close(fd);
    }
    std::vector<int> counts = Receive(fds, /*tcp=*/false, kSent);
    int total = 0;
    for (int i = 0; i < kWorkers; ++i) {
      EXPECT_GT(counts[i], 0) << text << " worker " << i;
      total += counts[i];
    }
    EXPECT_EQ(total, kSent) << text;
    CloseAll(fds);
  }
}

TEST(ListenerSocketTest, TcpWorkersShareThePortAndEachAcceptsConnections) {
  for (const char* text : {"127.0.0.1:0", "[::1]:0"}) {
    SocketAddress address = Address(text);
    std::vector<int> fds = OpenWorkers(&address, OpenTcpSocket);
    ASSERT_EQ(fds.size(), static_cast<size_t>(kWorkers));
    EXPECT_FALSE(OpenTcpSocket(address, PortSharing::kClaim).ok()) << text;
    constexpr int kConnections = 100;
    std::vector<int> clients;
    for (int i = 0; i < kConnections; ++i) {
      int fd = socket(address.family(), SOCK_STREAM, 0);
      ASSERT_EQ(connect(fd, address.get(), address.length), 0) << text;
      clients.push_back(fd);
    }
    std::vector<int> counts = Receive(fds, /*tcp=*/true, kConnections);
    int total = 0;
    for (int i = 0; i < kWorkers; ++i) {
      EXPECT_GT(counts[i], 0) << text << " worker " << i;
      total += counts[i];
    }
    EXPECT_EQ(total, kConnections) << text;
    CloseAll(clients);
    CloseAll(fds);
  }
}

// Runs `body` on a thread of its own in a new network namespace whose loopback has IPv4 only
// (as on a host booted without IPv6); the test's other threads keep the host's. False when this
// process may not make one (not root, or a sandbox that forbids it).
bool RunWithoutIpv6(const std::function<void()>& body) {
  bool made = false;
  std::thread([&] {
    if (unshare(CLONE_NEWNET) != 0) return;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ifreq lo{};
    std::strncpy(lo.ifr_name, "lo", IFNAMSIZ - 1);
    lo.ifr_flags = IFF_UP;
    const bool up = ioctl(fd, SIOCSIFFLAGS, &lo) == 0;
    close(fd);
    // /proc/sys/net is the namespace of whoever opens it: this thread's.
    std::ofstream("/proc/sys/net/ipv6/conf/lo/disable_ipv6") << "1\n";
    if (!up) return;
    made = true;
    body();
  }).join();
  return made;
}

TEST(ListenSocketsTest, OptionalAddressTheHostLacksIsSkippedAConfiguredOneFails) {
  const bool made = RunWithoutIpv6([] {
    for (bool tcp : {false, true}) {
      auto open = [tcp](const char* text, bool optional) {
        return tcp ? OpenTcpListener(text, 2, optional) : OpenUdpListener(text, 2, 0, optional);
      };
      absl::StatusOr<ListenSockets> skipped = open("[::1]:0", /*optional=*/true);
      ASSERT_TRUE(skipped.ok()) << skipped.status();
      EXPECT_TRUE(skipped->fds.empty());
      absl::StatusOr<ListenSockets> configured = open("[::1]:0", /*optional=*/false);
      ASSERT_FALSE(configured.ok());
      EXPECT_THAT(configured.status().message(), HasSubstr(tcp ? "tcp [::1]:0" : "udp [::1]:0"));
      // IPv4 is there: an optional address that exists is opened as any other.
      absl::StatusOr<ListenSockets> v4 = open("127.0.0.1:0", /*optional=*/true);
      ASSERT_TRUE(v4.ok()) << v4.status();
      EXPECT_EQ(v4->fds.size(), 2u);
      EXPECT_NE(v4->bound.port(), 0);
      CloseAll(v4->fds);
    }
  });
  if (!made) GTEST_SKIP() << "cannot make a network namespace here";
}

TEST(ListenSocketsTest, OptionalAddressWhosePortIsInUseStillFails) {
  for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
    SocketAddress address = Address("127.0.0.1:0");
    int foreign = ForeignSocket(address, type, /*reuseport=*/false);
    const std::string text = "127.0.0.1:" + std::to_string(LocalAddress(foreign)->port());
    absl::StatusOr<ListenSockets> s =
        type == SOCK_DGRAM ? OpenUdpListener(text, 2, 0, true) : OpenTcpListener(text, 2, true);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_THAT(s.status().message(), HasSubstr("in use"));
    close(foreign);
  }
}

// One sender (one source address and port, so one SO_REUSEPORT hash) is spread over the workers'
// sockets datagram by datagram (the reuseport BPF program), each getting a fair share.
TEST(ListenerSocketTest, OneUdpSenderIsSpreadOverTheWorkers) {
  absl::StatusOr<ListenSockets> sockets = OpenUdpListener("127.0.0.1:0", 2, 4 << 20, false);
  ASSERT_TRUE(sockets.ok()) << sockets.status();
  ASSERT_EQ(sockets->fds.size(), 2u);
  int sender = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(connect(sender, sockets->bound.get(), sockets->bound.length), 0);
  constexpr int kRounds = 20, kPerRound = 100;  // drained between rounds: no buffer fills
  std::vector<int> total(2, 0);
  for (int r = 0; r < kRounds; ++r) {
    for (int i = 0; i < kPerRound; ++i) ASSERT_EQ(send(sender, "x", 1, 0), 1);
    std::vector<int> counts = Receive(sockets->fds, false, kPerRound);
    total[0] += counts[0];
    total[1] += counts[1];
  }
  close(sender);
  ASSERT_EQ(total[0] + total[1], kRounds * kPerRound);
  // Binomial(2000, 1/2): 40 % is about 9 standard deviations below the mean. The 4-tuple hash
  // alone sends everything to one socket.
  EXPECT_GE(total[0], kRounds * kPerRound * 4 / 10) << total[0] << " / " << total[1];
  EXPECT_GE(total[1], kRounds * kPerRound * 4 / 10) << total[0] << " / " << total[1];
  CloseAll(sockets->fds);
}

}  // namespace
}  // namespace tallyd::server
