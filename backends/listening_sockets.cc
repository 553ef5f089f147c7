#include "backends/listening_sockets.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>

namespace tallyd::backends {

std::set<ListeningSocket> ListeningTcpSockets() {
  std::set<ListeningSocket> sockets;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return sockets;
  const int dir_fd = dirfd(dir);
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dir_fd) continue;
    int listening = 0, protocol = 0;
    socklen_t length = sizeof(int);
    if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 ||
        listening == 0) {
      continue;  // not a socket, or not listening
    }
    length = sizeof(int);
    if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_PROTOCOL, &protocol, &length) != 0 ||
        protocol != IPPROTO_TCP) {
      continue;
    }
    sockaddr_storage address{};
    length = sizeof(address);
    if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      continue;
    }
    int port = 0;
    if (address.ss_family == AF_INET) {
      port = ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
    } else if (address.ss_family == AF_INET6) {
      port = ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
    } else {
      continue;
    }
    sockets.insert({static_cast<int>(fd), port});
  }
  closedir(dir);
  return sockets;
}

std::vector<int> NewListeningSockets(const std::set<ListeningSocket>& before,
                                     const std::set<ListeningSocket>& after,
                                     const std::vector<int>& ports) {
  std::vector<int> fds;
  for (const ListeningSocket& socket : after) {
    auto old = before.find(socket);
    bool existed = old != before.end() && old->port == socket.port;
    bool ours = std::find(ports.begin(), ports.end(), socket.port) != ports.end();
    if (!existed && ours) fds.push_back(socket.fd);
  }
  return fds;
}

}  // namespace tallyd::backends
