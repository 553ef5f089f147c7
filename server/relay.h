// Relay (`relay`, `relay_packet_size`): every accepted line is also sent, unchanged, over UDP to
// each relay address, as statsd_exporter's --statsd.relay.address and the Datadog Agent's
// statsd_forward_host do, so a fleet can move to tallyd one host at a time.
//
// One LineRelay per worker, touched only by that worker's thread: lines are appended to its own
// bounded buffer of datagrams (each at most packet_size bytes, lines joined by '\n'; a longer line
// goes alone), which is sent with one non-blocking sendmmsg per address when full and at the end
// of each receive batch (a uv_check handle on the worker's loop, run after the loop's reads). A
// send that would block or fails (a receiver gone: ECONNREFUSED) drops those datagrams and counts
// their lines: ingestion never waits for a relay.
#ifndef TALLYD_SERVER_RELAY_H_
#define TALLYD_SERVER_RELAY_H_

#include <sys/socket.h>
#include <uv.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/ingest_counters.h"

namespace tallyd::server {

struct RelayOptions {
  std::vector<std::string> addresses;  // "host:port", "[v6]:port"
  size_t packet_size = 1432;
  size_t max_datagrams = 64;  // the buffer's bound: one sendmmsg's worth
};

class LineRelay {
 public:
  // Opens one non-blocking UDP socket per address, connected to it. `counters` outlives this.
  static absl::StatusOr<std::unique_ptr<LineRelay>> Create(const RelayOptions& options,
                                                           IngestCounters* counters);
  ~LineRelay();
  LineRelay(const LineRelay&) = delete;
  LineRelay& operator=(const LineRelay&) = delete;

  // Buffers one line (no '\n'); sends the buffer first when the line does not fit.
  void Add(std::string_view line);
  // Sends what is buffered to every address and empties the buffer.
  void Send();

  // Sends at the end of each turn of `loop` that read something (a uv_check handle); Close()
  // before the loop ends.
  void Attach(uv_loop_t* loop);
  void Close();

 private:
  LineRelay(const RelayOptions& options, std::vector<int> fds, IngestCounters* counters);

  RelayOptions options_;
  std::vector<int> fds_;  // one connected socket per address
  IngestCounters* counters_;
  // Datagram i is bytes_[i * packet_size, + sizes_[i]) unless it holds one long line, kept in
  // long_lines_[i] (a view into the caller's data is not enough: it dies with the datagram).
  std::unique_ptr<char[]> bytes_;
  std::vector<size_t> sizes_;
  std::vector<uint32_t> lines_;  // lines in each datagram
  std::vector<std::string> long_lines_;
  std::vector<mmsghdr> messages_;  // Send()'s, allocated once
  std::vector<iovec> iovecs_;
  size_t count_ = 0;  // datagrams in use; the last one is open for more lines
  uv_check_t check_;
  bool attached_ = false;
};

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_RELAY_H_
