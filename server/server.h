// The daemon: opens the listeners, starts the workers, runs the flush clock and the signals on
// the main thread's libuv loop, and hands each flush to every backend (SPEC 1, 3, 4).
//
//   Server server(config, {.config_path = path, .ports_file = ports});
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
#include "server/config.h"
#include "server/self_metrics.h"
#include "server/worker.h"

namespace tallyd::server {

aggregator::Options ToAggregatorOptions(const AggregationConfig& config);

struct ServerOptions {
  // Re-read on SIGHUP ("" when running on the embedded defaults).
  std::string config_path;
  // Unless "", the bound addresses are written there once Start() has bound them, and again
  // whenever a reload moves a listening backend.
  std::string ports_file;
  // Listen addresses, as written in config.listen.udp / tcp, that this host may not have: the
  // embedded default [::1]:8125 on a host without IPv6 is skipped with a log line. An address
  // the user configured is never listed here: if it cannot be bound, start-up fails.
  std::vector<std::string> optional_listen;
};

class Server {
 public:
  Server(Config config, ServerOptions options);
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
  ServerOptions options_;
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
