// A receive worker: one thread with its own libuv loop, its own sockets and its own aggregator
// shard (SPEC 2, STYLE "the hot path"). Datagrams and TCP reads are parsed in place and fed to
// the shard; nothing here is shared with another worker, so the hot path takes no lock.
//
// The flush loop talks to a worker only through Wake() (rotate the shard if the aggregator
// asked; WorkerOptions::on_rotated tells it when done) and Stop() (drain the sockets and end the
// thread).
#ifndef TALLYD_SERVER_WORKER_H_
#define TALLYD_SERVER_WORKER_H_

#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "aggregator/shard.h"
#include "protocol/parser.h"
#include "server/datagram_reader.h"
#include "server/ingest_counters.h"
#include "server/relay.h"
#include "server/tcp_listener.h"

namespace tallyd::server {

// A client's line as the log shows it: its first `max_chars` bytes through absl::CHexEscape
// (printable ASCII kept; control bytes, terminal escape sequences, non-ASCII, quotes and the
// backslash written as C escapes: \x1b, \n, \\), then "..." when it was longer. What a client
// sends must not drive the terminal or forge log lines (SPEC 2: logged lines are escaped).
std::string EscapeForLog(std::string_view text, size_t max_chars);
inline constexpr size_t kLoggedLineChars = 200;

struct WorkerOptions {
  protocol::ParserOptions parser;
  // Called on the worker thread each time it rotated its shard (the flush waits for that).
  std::function<void()> on_rotated;
  size_t max_packet_size = 65535;
  TcpOptions tcp;
  RelayOptions relay;  // no addresses: no relay
};

class Worker : public DatagramSink {
 public:
  Worker(int index, aggregator::Shard* shard, const WorkerOptions& options);
  ~Worker() override;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Before Start(): sockets opened (and bound) by the server; the worker takes ownership.
  // `counts_kernel_drops`: see DatagramReader (false for the dups of a shared Unix socket).
  void AddDatagramSocket(int fd, Transport transport, bool counts_kernel_drops = true);
  void AddTcpSocket(int fd);

  absl::Status Start();
  // Any thread: the worker rotates its shard if the aggregator asked for it.
  void Wake();
  // Any thread: stop reading, process what the sockets already hold, close them, end the thread.
  // Returns once the thread has ended.
  void Stop();

  // After Stop(), from the flush thread: publishes the shard's last interval. False while the
  // previously published interval is still uncollected (the caller flushes, then retries).
  // `mono_now`: aggregator::MonotonicNow().
  bool RotateNow(absl::Time mono_now) { return shard_->Rotate(mono_now); }

  const IngestCounters& counters() const { return counters_; }

  // DatagramSink, on the worker thread. The metric lines of a receive call's datagrams go to the
  // shard together at OnReceiveEnd (in full groups, however small the datagrams); a TCP chunk's
  // at the end of its OnData.
  void OnData(std::string_view data, Transport transport) override;
  void OnReceive() override;
  void OnReceiveEnd() override { FlushBatch(); }

 private:
  static constexpr size_t kBatchLines = 64;

  static void OnAsync(uv_async_t* handle);
  // Hands the collected metric lines to the shard (Shard::AddBatch) and empties the batch.
  void FlushBatch();
  void Run();
  void Shutdown();

  int index_;
  aggregator::Shard* shard_;
  WorkerOptions options_;
  IngestCounters counters_;
  uv_loop_t loop_;
  uv_async_t async_;
  std::atomic<bool> stop_requested_{false};
  struct DatagramSocket {
    int fd;
    Transport transport;
    bool counts_kernel_drops;
  };
  std::vector<DatagramSocket> datagram_fds_;
  std::vector<int> tcp_fds_;
  std::vector<std::unique_ptr<DatagramReader>> readers_;
  std::vector<std::unique_ptr<TcpListener>> tcp_listeners_;
  std::unique_ptr<LineRelay> relay_;  // null without relay addresses
  std::thread thread_;
  bool ran_ = false;  // Start() got as far as the thread
  // Metric lines not yet handed to the shard, viewing the datagrams of the current receive call
  // (or the TCP chunk being parsed): the parser writes each one straight into its slot (no copy
  // per line); handed to the shard in groups (it prefetches a group's lookups together) when
  // full and at the end of the receive call or chunk.
  protocol::MetricLine batch_[kBatchLines];
  size_t batch_size_ = 0;
  // Names and tags the parser rewrote (tags in the name) for the lines in batch_: cleared with it.
  protocol::LineScratch scratch_;
};

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_WORKER_H_
