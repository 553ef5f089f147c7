// End-to-end: `relay` through the real binary. A UDP receiver on 127.0.0.1 (port picked by the
// kernel) gets every accepted line, byte for byte, and no rejected one.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/e2e/tallyd_process.h"

namespace tallyd::testing {
namespace {

TEST(RelayE2eTest, AcceptedLinesArriveUnchangedAndRejectedOnesDoNot) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string relay = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));

  TallydProcess tallyd({"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0",
                        "--flush_interval=200ms", "--workers=1", "--relay=" + relay,
                        "--relay_packet_size=64"});
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.Stderr();
  const std::vector<std::string> accepted = {
      "relay.hits:1|c|#env:prod", "relay.lat,code=200:12.5|ms|@0.5", "_sc|db|0|m:ok",
      "relay.a.rather.long.name.that.does.not.fit.in.sixty.four.bytes.at.all:1|g"};
  SendUdp(tallyd.Address("udp"), absl::StrCat(accepted[0], "\n", accepted[1], "\nbad|line\n",
                                              accepted[2], "\r\n", accepted[3], "\n"));
  std::vector<std::string> got;
  std::vector<size_t> sizes;
  ASSERT_TRUE(WaitFor([&] {
    char buffer[65536];
    pollfd p{fd, POLLIN, 0};
    while (poll(&p, 1, 0) == 1) {
      const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      sizes.push_back(static_cast<size_t>(n));
      for (absl::string_view l : absl::StrSplit(absl::string_view(buffer, n), '\n')) {
        got.emplace_back(l);
      }
    }
    return got.size() >= accepted.size();
  })) << tallyd.Stderr();
  EXPECT_EQ(got, accepted);
  // Only the long line's datagram is over relay_packet_size, and it holds that line alone.
  for (size_t s : sizes) {
    if (s > 64) {
      EXPECT_EQ(s, accepted[3].size());
    }
  }
  close(fd);
  std::string scrape;
  EXPECT_TRUE(WaitFor([&] {
    scrape = HttpGet("http://" + tallyd.Address("prometheus") + "/metrics");
    return scrape.find("\ntallyd_relay_sent_lines_total 4\n") != std::string::npos &&
           scrape.find("\ntallyd_relay_dropped_lines_total 0\n") != std::string::npos;
  })) << scrape;
}

}  // namespace
}  // namespace tallyd::testing
