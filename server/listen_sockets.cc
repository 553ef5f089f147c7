#include "server/listen_sockets.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <linux/filter.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

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
  absl::StatusOr<ListenSockets> sockets =
      OpenPerWorker("udp", text, workers, optional,
                    [receive_buffer](const SocketAddress& a, PortSharing sharing) {
                      return OpenUdpSocket(a, receive_buffer, sharing);
                    });
  if (!sockets.ok()) return sockets;
  if (absl::Status spread = SpreadDatagramsAtRandom(sockets->fds); !spread.ok()) {
    // Once per process: every listen address meets the same kernel.
    static std::atomic<bool> logged{false};
    if (!logged.exchange(true)) {
      LOG(WARNING) << "udp " << sockets->bound.ToString() << ": " << spread.message()
                   << ": each sender's datagrams go to one worker (SO_REUSEPORT's hash)";
    }
  }
  return sockets;
}

absl::Status SpreadDatagramsAtRandom(const std::vector<int>& fds) {
  if (fds.size() < 2) return absl::OkStatus();
  // Random rather than the receiving CPU (SKF_AD_CPU): one sender's datagrams are mostly
  // received on one CPU (its own on loopback, one NIC queue's by RSS), so the CPU would not
  // spread it. Reordering one sender's datagrams across workers is harmless: counters, timers
  // and sets merge at flush time, and a gauge's merge keeps the newest value (cells.h).
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_RANDOM)),
      BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, static_cast<uint32_t>(fds.size())),
      BPF_STMT(BPF_RET | BPF_A, 0),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  // The program belongs to the group: attaching it through one member serves them all.
  if (setsockopt(fds[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof program) != 0) {
    return absl::UnavailableError(
        absl::StrCat("SO_ATTACH_REUSEPORT_CBPF refused: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<ListenSockets> OpenUnixListener(const std::string& path, int mode, int workers,
                                               int receive_buffer) {
  absl::StatusOr<int> fd = OpenUnixDatagramSocket(path, mode, receive_buffer);
  if (!fd.ok()) return fd.status();
  ListenSockets sockets;
  sockets.fds.push_back(*fd);
  for (int i = 1; i < workers; ++i) {
    int dup = fcntl(*fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) {
      int err = errno;
      for (int f : sockets.fds) close(f);
      return absl::InternalError(absl::StrCat("unix ", path, ": dup: ", std::strerror(err)));
    }
    sockets.fds.push_back(dup);
  }
  return sockets;
}

absl::StatusOr<ListenSockets> OpenTcpListener(std::string_view text, int workers, bool optional) {
  return OpenPerWorker("tcp", text, workers, optional, OpenTcpSocket);
}

}  // namespace tallyd::server
