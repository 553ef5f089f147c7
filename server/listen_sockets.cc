#include "server/listen_sockets.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "server/datagram_reader.h"
#include "server/tcp_listener.h"

namespace tallyd::server {
namespace {

// Opens one `kind` ("udp", "tcp") socket per worker on `text`, all on one port so that the kernel
// spreads the traffic over the workers (SO_REUSEPORT), and fails, naming the address, when another
// process holds the port (SPEC 1). With port 0 the first bind picks the port and the others join
// it.
//
// SO_REUSEPORT alone would let a second tallyd of the same user bind the same port and take
// part of the traffic. So the first socket claims the address alone: bound (for TCP, also
// listening) without SO_REUSEPORT, which Linux refuses with EADDRINUSE while any other socket
// holds the port, whether or not that one set SO_REUSEPORT. Only then does SharePort() turn
// SO_REUSEPORT on for it, and the other workers' sockets join. From the claim on, the port is
// never free, so there is no race with another tallyd (its claim fails); a probe socket bound
// alone and closed just before the workers bind would leave a gap between the two in which
// another tallyd's probe could pass and both would end up sharing. What remains: a program
// that binds with SO_REUSEPORT itself, as the same user, after the claim, still joins, as
// SO_REUSEPORT means it to.
//
// socket(7) asks for SO_REUSEPORT before bind(2). Linux reads the flag of the bound sockets when
// a new one binds or listens, and creates the group when a second socket joins
// (reuseport_add_sock allocates it for the socket joined), so turning it on after the claim's
// bind works: ListenerSocketTest checks that every worker socket still gets traffic. A kernel
// that refused it would fail the second worker's bind, so start-up would stop loudly, never
// share the port silently.
template <typename Open>
absl::StatusOr<ListenSockets> OpenPerWorker(const char* kind, std::string_view text, int workers,
                                            bool optional, Open open) {
  absl::StatusOr<SocketAddress> address = ParseSocketAddress(text);
  if (!address.ok()) return address.status();
  ListenSockets sockets;
  auto fail = [&sockets](absl::Status status) {
    for (int fd : sockets.fds) close(fd);
    return status;
  };
  for (int i = 0; i < workers; ++i) {
    absl::StatusOr<int> fd = open(*address, i == 0 ? PortSharing::kClaim : PortSharing::kJoin);
    if (!fd.ok()) {
      // Only the claim can meet a missing address: once it is bound, the address exists.
      if (i == 0 && optional && IsAddressNotOnHost(fd.status())) return sockets;
      return fail(fd.status());
    }
    sockets.fds.push_back(*fd);
    if (i == 0) {
      absl::StatusOr<SocketAddress> bound = LocalAddress(*fd);
      if (!bound.ok()) return fail(bound.status());
      address->set_port(bound->port());
      // A single worker keeps the port to itself.
      if (workers > 1) {
        absl::Status shared = SharePort(*fd, absl::StrCat(kind, " ", address->ToString()));
        if (!shared.ok()) return fail(shared);
      }
    }
  }
  sockets.bound = *address;
  return sockets;
}

}  // namespace

absl::StatusOr<ListenSockets> OpenUdpListener(std::string_view text, int workers,
                                              int receive_buffer, bool optional) {
  return OpenPerWorker("udp", text, workers, optional,
                       [receive_buffer](const SocketAddress& a, PortSharing sharing) {
                         return OpenUdpSocket(a, receive_buffer, sharing);
                       });
}

absl::StatusOr<ListenSockets> OpenTcpListener(std::string_view text, int workers, bool optional) {
  return OpenPerWorker("tcp", text, workers, optional, OpenTcpSocket);
}

}  // namespace tallyd::server
