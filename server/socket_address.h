// Listener addresses: "host:port", "[v6]:port" and Unix socket paths, resolved once at start-up.
#ifndef TALLYD_SERVER_SOCKET_ADDRESS_H_
#define TALLYD_SERVER_SOCKET_ADDRESS_H_

#include <sys/socket.h>

#include <string>
#include <string_view>

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

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_SOCKET_ADDRESS_H_
