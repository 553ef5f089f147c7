#include "server/socket_address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "config/config.h"

namespace tallyd::server {

int SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

void SocketAddress::set_port(int port) {
  if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
}

std::string SocketAddress::ToString() const {
  char host[INET6_ADDRSTRLEN] = {0};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, host,
              sizeof host);
    return absl::StrCat(host, ":", port());
  }
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, host,
              sizeof host);
    return absl::StrCat("[", host, "]:", port());
  }
  return "?";
}

absl::StatusOr<SocketAddress> ParseSocketAddress(std::string_view text) {
  // The syntax is the config module's (it validated the text already); this only resolves it.
  absl::StatusOr<HostPort> host_port = ParseHostPort(absl::string_view(text.data(), text.size()));
  if (!host_port.ok()) return host_port.status();
  const std::string& host_z = host_port->host;
  const int port = host_port->port;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* result = nullptr;
  int rc = getaddrinfo(host_z.c_str(), nullptr, &hints, &result);
  if (rc != 0 || result == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot resolve host in address \"",
                                                   std::string(text), "\": ", gai_strerror(rc)));
  }
  SocketAddress address;
  std::memcpy(&address.storage, result->ai_addr, result->ai_addrlen);
  address.length = result->ai_addrlen;
  freeaddrinfo(result);
  address.set_port(port);
  return address;
}

absl::StatusOr<SocketAddress> LocalAddress(int fd) {
  SocketAddress address;
  address.length = sizeof address.storage;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address.storage), &address.length) != 0) {
    return absl::InternalError(absl::StrCat("getsockname: ", std::strerror(errno)));
  }
  return address;
}

absl::Status SocketError(std::string_view what, int err) {
  std::string message =
      absl::StrCat(absl::string_view(what.data(), what.size()), ": ", std::strerror(err));
  if (err == EADDRNOTAVAIL || err == EAFNOSUPPORT || err == EPFNOSUPPORT) {
    return absl::FailedPreconditionError(message);
  }
  return absl::UnavailableError(message);
}

bool IsAddressNotOnHost(const absl::Status& status) {
  return status.code() == absl::StatusCode::kFailedPrecondition;
}

absl::Status SharePort(int fd, const std::string& name) {
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return absl::InternalError(absl::StrCat(name, ": SO_REUSEPORT: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace tallyd::server
