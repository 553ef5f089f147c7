// The sockets of one UDP or TCP listen address: one per worker, all on one port (SO_REUSEPORT),
// so that the kernel spreads the traffic over the workers; the port is never shared with another
// process (SPEC 1: a port in use fails start-up, naming the address).
//
//   absl::StatusOr<ListenSockets> s = OpenUdpListener("127.0.0.1:8125", workers, rcvbuf, false);
//   if (!s.ok()) ... exit 1;  if (s->fds.empty()) ... an optional address this host lacks
#ifndef TALLYD_SERVER_LISTEN_SOCKETS_H_
#define TALLYD_SERVER_LISTEN_SOCKETS_H_

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/socket_address.h"

namespace tallyd::server {

struct ListenSockets {
  SocketAddress bound;   // as bound: port 0 resolved
  std::vector<int> fds;  // one per worker, owned by the caller; empty when skipped
};

// `optional`: an address the host may not have (the embedded default [::1]:8125 on a host
// without IPv6). When the host has no such address or address family the address is skipped:
// OK with no fds. Any other failure (a port in use) fails as for a configured address, which is
// never optional.
absl::StatusOr<ListenSockets> OpenUdpListener(std::string_view text, int workers,
                                              int receive_buffer, bool optional);
absl::StatusOr<ListenSockets> OpenTcpListener(std::string_view text, int workers, bool optional);

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_LISTEN_SOCKETS_H_
