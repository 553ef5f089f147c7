// backends/graphite.h: the Graphite backend (SPEC 4.2) — Carbon plaintext over one TCP connection.
//
// GraphiteBackend runs on its BackendRunner's thread: it formats each flush chunk by chunk while
// writing it (backends/graphite_format.h, ~256 KiB of text held at a time), keeps one connection
// open across flushes, and on any failure closes it and returns Delivery::Retry; the runner backs
// off, keeps the queue in order and calls Deliver again with the same flush (or a newer one if the
// oldest was dropped).
//
// Delivery semantics (README):
// - Connect: non-blocking connect to each address `address` resolves to, bounded by
//   connect_timeout in total. Before each flush the connection is checked for a close by the peer
//   (Carbon never writes to us, so a readable socket means EOF or an error), so a Carbon restart
//   between flushes costs no data.
// - Write: bounded by write_timeout without progress, so a peer that accepts but never reads
//   holds the runner's thread (never the flush clock) for write_timeout at most. The connection is
//   then aborted (RST), not left to linger with unsent bytes.
// - Stop: StopBy (from BackendRunner::Stop, on another thread) bounds every wait by the stop
//   deadline too, so a connect or write still waiting then gives up at that moment instead of at
//   connect_timeout / write_timeout; it fails like a timeout (Retry, connection aborted).
// - Resume, not repeat: the backend remembers how much of the current flush the peer has
//   acknowledged (bytes handed to the kernel minus the socket's unacknowledged bytes, SIOCOUTQ).
//   After a failure the next connection starts at the first line not fully acknowledged: Carbon
//   reads lines independently, so restarting mid-line would corrupt one. A line sent but not yet
//   acknowledged may have arrived and is then written twice, which only rewrites the same value at
//   the same timestamp (Graphite keeps one). Bytes the peer's kernel acknowledged but its process
//   never read (it died) are lost: plaintext Carbon has no application-level acknowledgement.
// - A flush counts as delivered once the kernel accepted all its bytes.
#ifndef TALLYD_BACKENDS_GRAPHITE_H_
#define TALLYD_BACKENDS_GRAPHITE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "backends/backend.h"
#include "backends/clock.h"
#include "backends/graphite_format.h"

namespace tallyd::backends {

struct GraphiteOptions {
  std::string address = "127.0.0.1:2003";  // "host:port" or "[v6]:port", resolved per connect
  GraphiteFormatOptions format;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration write_timeout = absl::Seconds(10);
  int send_buffer_bytes = 0;  // SO_SNDBUF of the connection; 0 keeps the OS default
  // Cap of the reconnect backoff (from 200 ms, doubling): a carbon that comes back is written
  // to within max_backoff.
  absl::Duration max_backoff = absl::Seconds(10);
  // The timeouts and the stop deadline are measured on clock->MonotonicNow(); null: the machine's
  // (tests pass one whose wall clock steps).
  const Clock* clock = nullptr;
};

// The flush being delivered and how far it got, holding one chunk of its text at a time. Offsets
// are from the start of the flush's text. Pure bookkeeping, so the resume rule is unit-tested
// without sockets.
class GraphitePayload {
 public:
  // A new flush (`source` at its first chunk, not owned; null: nothing to send): nothing sent yet.
  void Reset(GraphiteChunkSource* source);
  bool done() { return unsent().empty(); }
  // What the current connection still has to write of the current chunk (the next chunk once
  // this one is all sent; empty when the flush is).
  std::string_view unsent();
  size_t sent() const { return sent_; }
  // Bytes of this flush the peer has acknowledged (a lower bound).
  size_t acknowledged() const { return acknowledged_; }

  // The kernel accepted `n` more bytes of unsent().
  void Sent(size_t n);
  // The socket still holds `unacknowledged` bytes the peer has not acknowledged (SIOCOUTQ; may
  // include bytes of earlier flushes written on the same connection).
  void Unacknowledged(size_t unacknowledged);
  // The connection broke: the next one starts at the first line not fully acknowledged. If that
  // line is in a chunk already let go (the socket held more than a chunk), the source is
  // restarted and read up to it.
  void Rewind();

 private:
  size_t chunk_end() const { return chunk_start_ + chunk_.size(); }
  // Reads chunks until one ends past `offset` or the source ends.
  void LoadPast(size_t offset);

  GraphiteChunkSource* source_ = nullptr;
  std::string chunk_;       // reused from chunk to chunk
  size_t chunk_start_ = 0;  // the offset of chunk_ in the flush's text (a line start)
  bool exhausted_ = true;
  size_t sent_ = 0;
  size_t acknowledged_ = 0;
};

// Counters of the backend's own work (the runner counts flushes sent, errors and drops).
struct GraphiteBackendStats {
  uint64_t connects = 0;          // connections established
  uint64_t connect_failures = 0;  // attempts that ended without a connection
  uint64_t disconnects = 0;       // connections closed after an error, a timeout or a peer close
  uint64_t bytes_written = 0;     // accepted by the kernel, rewritten bytes included
  uint64_t bytes_rewritten = 0;   // written again after a failure (unacknowledged lines)
  uint64_t lines = 0;             // formatted
  uint64_t invalid_names = 0;
  uint64_t dropped_tags = 0;
  uint64_t non_finite_values = 0;
  uint64_t long_lines = 0;  // over carbon's 16384-byte line limit, not written
};

class GraphiteBackend : public Backend {
 public:
  // Checks the address' syntax; it is resolved on each connect (a DNS change is picked up).
  static absl::StatusOr<std::unique_ptr<GraphiteBackend>> Create(GraphiteOptions options);
  ~GraphiteBackend() override;  // closes the connection gracefully (queued bytes still go out)

  std::string_view name() const override { return "graphite"; }
  Delivery Deliver(const Flush& flush) override;
  BackoffPolicy backoff() const override { return {.max = options_.max_backoff}; }
  // Thread-safe; wakes a connect or write waiting in Deliver so it sees the deadline (on the
  // monotonic clock, as Backend::StopBy's).
  void StopBy(absl::Time deadline) override;

  GraphiteBackendStats stats() const;  // any thread
  // Bytes of the current flush already written and kept across a failure; the backend's thread
  // only (tests call Deliver themselves).
  size_t resume_offset() const { return payload_.sent(); }

 private:
  // What a wait for the socket ended with.
  enum class Wait { kReady, kTimedOut, kStopped };

  GraphiteBackend(GraphiteOptions options, std::string host, std::string port, int wake_fd);

  absl::Time StopDeadline() const;
  absl::Time Now() const { return clock_.MonotonicNow(); }  // every deadline's clock
  // Waits until `fd` reports `events` (or an error), `deadline` (monotonic) passes or the stop
  // deadline does.
  absl::StatusOr<Wait> Await(int fd, short events, absl::Time deadline);
  absl::Status Stopped(std::string_view what) const;
  absl::Status Connect();
  bool PeerClosed();
  absl::Status WritePayload();
  void SampleUnacknowledged();
  void Abort();
  void CountFormatStats();
  absl::Status Error(std::string_view what, int error) const;

  const GraphiteOptions options_;
  const Clock& clock_;
  const std::string host_;
  const std::string port_;

  // Set by StopBy (any thread), read before and after each wait (the backend's thread):
  // INT64_MAX while not stopping. wake_fd_ (an eventfd, nonblocking) is written by StopBy after
  // the store and drained by Await before it re-reads the deadline, so no wake-up is lost.
  // Nanoseconds of the monotonic clock (MonotonicNow() - UnixEpoch()).
  std::atomic<int64_t> stop_deadline_ns_{INT64_MAX};
  const int wake_fd_;

  // The backend's thread only.
  int fd_ = -1;
  Flush current_;  // the flush in payload_, held so its snapshot cannot be mistaken for another
  std::unique_ptr<GraphiteChunks> chunks_;  // the text of current_
  GraphiteFormatStats counted_;             // chunks_' stats already added to stats_
  GraphitePayload payload_;

  struct AtomicStats {
    std::atomic<uint64_t> connects{0}, connect_failures{0}, disconnects{0}, bytes_written{0},
        bytes_rewritten{0}, lines{0}, invalid_names{0}, dropped_tags{0}, non_finite_values{0},
        long_lines{0};
  };
  AtomicStats stats_;
};

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_GRAPHITE_H_
