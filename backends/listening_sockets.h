// backends/listening_sockets.h: finds the listening TCP sockets a library opened inside this
// process, so that PrometheusBackend can wake civetweb's accept loop when it stops.
//
// Why: civetweb 1.15 (Debian's) polls its listening sockets in rounds of 2 s and checks its stop
// flag only between rounds, so mg_stop (in prometheus-cpp's ~Exposer) waits up to 2 s; it has no
// option to shorten the round and exposes no socket. shutdown(2) on a listening socket ends the
// poll at once (Linux reports it hung up), so the stop is immediate.
#ifndef TALLYD_BACKENDS_LISTENING_SOCKETS_H_
#define TALLYD_BACKENDS_LISTENING_SOCKETS_H_

#include <set>
#include <vector>

namespace tallyd::backends {

// The descriptors of this process' TCP sockets in the listening state, with their local port.
struct ListeningSocket {
  int fd = -1;
  int port = 0;
  friend bool operator<(const ListeningSocket& a, const ListeningSocket& b) { return a.fd < b.fd; }
};
std::set<ListeningSocket> ListeningTcpSockets();

// The sockets of `after` that are not in `before` and listen on one of `ports`: the ones a
// library opened between the two calls.
std::vector<int> NewListeningSockets(const std::set<ListeningSocket>& before,
                                     const std::set<ListeningSocket>& after,
                                     const std::vector<int>& ports);

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_LISTENING_SOCKETS_H_
