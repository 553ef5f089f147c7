// Reads UDP and Unix datagram sockets in batches on a worker's libuv loop.
//
// libuv's own UDP handle (even with UV_UDP_RECVMMSG) hides each datagram's MSG_TRUNC, which tallyd
// needs, so the reader watches the socket with a uv_poll_t and calls recvmmsg(2) itself: one
// syscall per batch of up to kBatch datagrams. The kernel's drop count is not asked for per
// datagram (an SO_RXQ_OVFL control message on each cost about 5 % of the receive path): the
// worker reads the socket's running total once per flush (CollectKernelDrops).
#ifndef TALLYD_SERVER_DATAGRAM_READER_H_
#define TALLYD_SERVER_DATAGRAM_READER_H_

#include <sys/socket.h>
#include <uv.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/ingest_counters.h"
#include "server/socket_address.h"

namespace tallyd::server {

// Receives each complete datagram, on the worker thread. A datagram's view stays valid until
// OnReceiveEnd() of its receive call (the reader reuses its buffers only on the next call), so a
// sink may collect the views of a whole receive batch and hand them on as one unit; a TCP
// listener's view is valid during the call only.
class DatagramSink {
 public:
  virtual ~DatagramSink() = default;
  virtual void OnData(std::string_view data, Transport transport) = 0;
  // Called once per receive call (one recvmmsg batch) that returned datagrams, before their
  // OnData: the moment the worker stamps them with (a gauge's newest value wins across workers).
  virtual void OnReceive() {}
  // After the last OnData of that receive call: the batch's views end here.
  virtual void OnReceiveEnd() {}
};

// Opens a non-blocking UDP socket bound to `address`, claiming the port alone or joining the
// port a claimed socket shares (`sharing`; so every worker binds its own socket to the same
// address), with the receive buffer asked for (SO_RCVBUFFORCE when permitted, else SO_RCVBUF).
// An IPv6 socket is v6-only so "[::]:8125" and "0.0.0.0:8125" can both be
// listed. Errors name the address ("udp 0.0.0.0:8125: Address already in use").
absl::StatusOr<int> OpenUdpSocket(const SocketAddress& address, int receive_buffer,
                                  PortSharing sharing);

// Opens a Unix datagram socket at `path`, replacing a stale socket file, with file `mode`.
absl::StatusOr<int> OpenUnixDatagramSocket(const std::string& path, int mode, int receive_buffer);

class DatagramReader {
 public:
  static constexpr int kBatch = 32;

  // Takes ownership of `fd`. `max_packet_size` bounds a datagram; a larger one is counted in
  // packets_truncated and dropped, never parsed as if it were whole. `counts_kernel_drops`: false
  // for a descriptor that shares its socket with another reader's (a Unix socket every worker
  // reads), whose kernel drop count that other reader reports.
  DatagramReader(uv_loop_t* loop, int fd, Transport transport, size_t max_packet_size,
                 DatagramSink* sink, IngestCounters* counters, bool counts_kernel_drops = true);
  ~DatagramReader();
  DatagramReader(const DatagramReader&) = delete;
  DatagramReader& operator=(const DatagramReader&) = delete;

  void Start();
  // Stops watching the socket, then reads what the kernel holds for it at this moment (graceful
  // stop: nothing already received is lost), but not what keeps arriving while it reads (a
  // flood must not hold the stop), and closes it.
  void DrainAndClose();
  // Adds to counters->kernel_drops what the kernel dropped on this socket (a full receive queue,
  // SO_MEMINFO's SK_MEMINFO_DROPS) since the last call. One getsockopt: the worker calls it once
  // per flush, and DrainAndClose once more at the end.
  void CollectKernelDrops();

 private:
  static void OnReadable(uv_poll_t* handle, int status, int events);
  // Reads batches until the socket is empty, `max_batches` were read, or the budget is spent
  // (datagram bytes, at least 1 each, and datagrams). True when it stopped at max_batches.
  bool ReadBatches(int max_batches, size_t* bytes_left, size_t* datagrams_left);

  int fd_;
  Transport transport_;
  size_t max_packet_size_;
  DatagramSink* sink_;
  IngestCounters* counters_;
  bool counts_kernel_drops_;
  uv_poll_t poll_;
  bool polling_ = false;
  // The kernel's count is a running 32-bit total per socket, from its creation: the unsigned
  // difference is right across a wrap.
  uint32_t kernel_drops_seen_ = 0;
  std::unique_ptr<char[]> buffers_;
  std::vector<mmsghdr> messages_;
  std::vector<iovec> iovecs_;
};

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_DATAGRAM_READER_H_
