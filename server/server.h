// The daemon: opens the listeners, starts the workers, runs the flush clock and the signals on
// the main thread's libuv loop, and hands each flush to every backend (SPEC 1, 3, 4).
//
//   Server server(config, command_line);
//   if (absl::Status s = server.Start(); !s.ok()) ... exit 1
//   int code = server.Run();   // returns after SIGTERM/SIGINT and the final flush
#ifndef TALLYD_SERVER_SERVER_H_
#define TALLYD_SERVER_SERVER_H_

#include <uv.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "aggregator/aggregator.h"
#include "backends/backend.h"
#include "server/backend_factory.h"
#include "config/config.h"
#include "server/self_metrics.h"
#include "server/worker.h"

namespace tallyd::server {

aggregator::Options ToAggregatorOptions(const AggregationConfig& config);

class Server {
 public:
  // `command_line` (its config file and flags) is read again on SIGHUP. Unless its ports_file is
  // "", the bound addresses are written there once Start() has bound them, and again whenever a
  // reload moves a listening backend.
  Server(Config config, CommandLine command_line);
  ~Server();

  // Binds every listener and starts workers and backends. An address in use fails here with
  // the address named.
  absl::Status Start();
  // Runs until SIGTERM/SIGINT, then stops the workers (draining their sockets), runs the final
  // flush and waits for the backends up to shutdown_timeout. Returns the exit status.
  int Run();

  // "udp 127.0.0.1:8125", "prometheus 0.0.0.0:9102", ... as actually bound (port 0 resolved):
  // the listeners, then the listening backends. Main thread.
  std::vector<std::string> bound_addresses() const;

 private:
  static void OnFlushTimer(uv_timer_t* timer);
  static void OnSignal(uv_signal_t* handle, int signum);
  void ScheduleFlush();
  void FlushOnce(absl::Time flush_time, bool final);
  void Reload();
  // Restarts the backends whose settings differ in `fresh`, starts the new ones, stops the
  // removed ones; the others keep running untouched.
  void ReloadBackends(const Config& fresh);
  // Stops `runner`, delivering what it holds until `deadline`, and carries its counters over to
  // its successor.
  void RetireBackend(backends::BackendRunner* runner, absl::Time deadline);
  void WritePortsFile() const;
  void BeginShutdown();

  Config config_;
  CommandLine command_line_;
  std::string ports_file_;
  std::unique_ptr<aggregator::Aggregator> aggregator_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<StartedBackend> backends_;  // in kBackendKinds order
  SelfMetricsCollector self_metrics_;
  std::atomic<int> open_tcp_connections_{0};
  std::vector<std::string> listeners_bound_;

  uv_loop_t loop_;
  uv_timer_t flush_timer_;
  uv_signal_t sigterm_, sigint_, sighup_;
  absl::Time next_flush_;
  bool stopping_ = false;
};

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_SERVER_H_
