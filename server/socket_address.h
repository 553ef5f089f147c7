// Listener addresses: "host:port", "[v6]:port" and Unix socket paths, resolved once at start-up.
#ifndef TALLYD_SERVER_SOCKET_ADDRESS_H_
#define TALLYD_SERVER_SOCKET_ADDRESS_H_

#include <sys/socket.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tallyd::server {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int port() const;
  void set_port(int port);
  // "127.0.0.1:8125", "[::1]:8125".
  std::string ToString() const;
};

// Parses "host:port" or "[v6addr]:port"; host is a numeric address or a name resolved with
// getaddrinfo (first result). Port 0 asks the kernel for a free port.
absl::StatusOr<SocketAddress> ParseSocketAddress(std::string_view text);

// The address a bound socket actually has (reads back a port-0 bind).
absl::StatusOr<SocketAddress> LocalAddress(int fd);

// How a worker's UDP or TCP listener socket takes its address. The workers of one address share
// its port (SO_REUSEPORT) but never with another process: the first socket claims the address
// alone, which Linux refuses while any other socket holds the port, with or without
// SO_REUSEPORT; SharePort() then lets the other workers' sockets join it. Why this order, and
// what it relies on: OpenPerWorker in server.cc.
enum class PortSharing {
  kClaim,  // bind (for TCP, also listen) without SO_REUSEPORT
  kJoin,   // SO_REUSEPORT before bind: joins a port that SharePort() opened
};

// The error of a socket call that failed with `err`, as "<what>: <strerror>" ("udp [::1]:8125:
// Address already in use"). An address this host does not have or a family it does not support
// (EADDRNOTAVAIL, EAFNOSUPPORT: [::1] on a host without IPv6) is kFailedPrecondition, which
// IsAddressNotOnHost() tells, so an optional listen address can be skipped; the others (in
// use, permission) are kUnavailable.
absl::Status SocketError(std::string_view what, int err);
bool IsAddressNotOnHost(const absl::Status& status);

// Turns SO_REUSEPORT on for `fd`, bound by kClaim, so that kJoin sockets can bind its port.
// `name` ("udp 127.0.0.1:8125") prefixes the error.
absl::Status SharePort(int fd, const std::string& name);

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_SOCKET_ADDRESS_H_
