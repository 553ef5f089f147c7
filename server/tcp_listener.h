// TCP input: newline-delimited lines over many connections, on a worker's libuv loop.
//
// Every worker listens on its own socket, all sharing the port (SO_REUSEPORT), so the kernel
// spreads connections over workers and a connection's lines go to that worker's shard. Complete
// lines are handed to the sink straight from the read buffer; only a line split across reads is
// copied (into the connection's carry buffer, bounded by max_line_length).
#ifndef TALLYD_SERVER_TCP_LISTENER_H_
#define TALLYD_SERVER_TCP_LISTENER_H_

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/datagram_reader.h"
#include "server/ingest_counters.h"
#include "server/socket_address.h"

namespace tallyd::server {

// Opens a non-blocking TCP socket bound to `address` and listening, either claiming the port
// alone or joining the port a claimed socket shares (`sharing`). Errors name the address.
absl::StatusOr<int> OpenTcpSocket(const SocketAddress& address, PortSharing sharing);

struct TcpOptions {
  size_t max_line_length = 65535;
  // A connection that sent nothing for this long is closed (InfiniteDuration: never).
  absl::Duration idle_timeout = absl::Minutes(5);
  // listen.tcp_line_timeout: a connection holding an incomplete line (no '\n' yet) for this long
  // is closed, so that a sender trickling bytes cannot hold a slot (InfiniteDuration: never).
  absl::Duration line_timeout = absl::Seconds(10);
  // Shared by every worker's listener: connections open across the whole server. Past
  // max_connections a new connection closes this listener's longest idle one (counted
  // kEvicted); a listener with none to close refuses the newcomer (tcp_connections_rejected).
  std::atomic<int>* open_connections = nullptr;
  int max_connections = 1024;
};

class TcpListener {
 public:
  // Takes ownership of the listening socket `fd` (OpenTcpSocket). Lines are passed to `sink` as
  // chunks holding whole lines only (terminated or not by '\n').
  TcpListener(uv_loop_t* loop, int fd, const TcpOptions& options, DatagramSink* sink,
              IngestCounters* counters);
  ~TcpListener();
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  absl::Status Start();
  // Stops accepting, reads what every connection's socket held when called (not what arrives
  // while it reads: a flood must not hold the stop), then closes them all.
  void DrainAndClose();

 private:
  struct Connection;
  static void OnConnection(uv_stream_t* server, int status);
  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnTimer(uv_timer_t* timer);
  // Hands the whole lines of `data` to the sink and keeps an unterminated tail. Returns whether
  // a line ended in `data` (so whatever is held now started in it).
  bool Consume(Connection* conn, std::string_view data);
  // Arms the connection's timer for its earliest deadline (idle, incomplete line).
  void ArmTimer(Connection* conn);
  void EvictLongestIdle(Connection* except);
  void Close(Connection* conn);

  uv_loop_t* loop_;
  uv_tcp_t server_;
  TcpOptions options_;
  DatagramSink* sink_;
  IngestCounters* counters_;
  uint64_t idle_timeout_ms_;  // UINT64_MAX: never
  uint64_t line_timeout_ms_;
  uint64_t reads_ = 0;  // reads and accepts so far, to tell the longest idle connection
  std::unique_ptr<char[]> read_buffer_;  // one per listener: reads are processed synchronously
  absl::flat_hash_set<Connection*> connections_;
};

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_TCP_LISTENER_H_
