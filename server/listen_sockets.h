// The sockets of one listen address, one per worker. UDP and TCP: all on one port (SO_REUSEPORT),
// so that the kernel spreads the traffic over the workers; the port is never shared with another
// process (SPEC 1: a port in use fails start-up, naming the address). UDP datagrams are spread
// one by one (a reuseport BPF program), so that one busy sender is spread too. A Unix datagram
// socket cannot be shared that way: every worker reads the one socket (a dup of it each).
//
//   absl::StatusOr<ListenSockets> s = OpenUdpListener("127.0.0.1:8125", workers, rcvbuf, false);
//   if (!s.ok()) ... exit 1;  if (s->fds.empty()) ... an optional address this host lacks
#ifndef TALLYD_SERVER_LISTEN_SOCKETS_H_
#define TALLYD_SERVER_LISTEN_SOCKETS_H_

#include <string_view>
#include <vector>

#include "absl/status/status.h"
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

// One Unix datagram socket at `path` (OpenUnixDatagramSocket), as `workers` descriptors: the
// socket and dup(2)s of it, so that every worker reads it and closes its own. Every reader reads
// non-blocking, so a worker woken for a datagram another took meets EAGAIN and goes back to its
// loop. `bound` is left empty. fds[0] is the one whose kernel drop count is reported (the dups
// see the same count).
absl::StatusOr<ListenSockets> OpenUnixListener(const std::string& path, int mode, int workers,
                                               int receive_buffer);

// Makes the kernel pick one of the `fds` (one SO_REUSEPORT group, in join order) for each
// datagram at random (SO_ATTACH_REUSEPORT_CBPF: SKF_AD_RANDOM modulo their number), instead of by
// the hash of the sender's address and port, which sends all of one sender's datagrams to one
// worker. An error when the kernel refuses the program: the hash stays (the caller logs it).
absl::Status SpreadDatagramsAtRandom(const std::vector<int>& fds);

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_LISTEN_SOCKETS_H_
