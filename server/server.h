// The daemon: opens the listeners, starts the workers and the backends, runs the flushes on
// their own thread (FlushLoop) and the signals on the main thread's libuv loop (SPEC 1, 3, 4).
//
//   Server server(config, {.command_line = command_line});
//   if (absl::Status s = server.Start(); !s.ok()) ... exit 1
//   int code = server.Run();   // returns after SIGTERM/SIGINT and the final flush
//   if (server.abandoned_threads()) ... exit now, without destructors
//
// Threads: the main loop (signals, reload decisions), the flush thread, one per worker, one per
// backend, and short-lived ones that stop and start backends for a reload, off both the main
// loop and the flushes, so neither waits for a backend.
#ifndef TALLYD_SERVER_SERVER_H_
#define TALLYD_SERVER_SERVER_H_

#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aggregator/aggregator.h"
#include "config/config.h"
#include "mapping/mapping.h"
#include "server/backend_factory.h"
#include "server/backend_set.h"
#include "server/flush_clock.h"
#include "server/flush_loop.h"
#include "server/worker.h"

namespace tallyd::server {

// `mapping`: the rules config.mapping_file holds (null: none).
aggregator::Options ToAggregatorOptions(const AggregationConfig& config,
                                        std::shared_ptr<const mapping::Mapping> mapping = nullptr);

struct ReloadChannel;  // server_reload.h

struct ServerOptions {
  // Its config file and flags are read again on SIGHUP. Unless its ports_file is "", the bound
  // addresses are written there once Start() has bound them, and again whenever a reload moves
  // a listening backend.
  CommandLine command_line;
  // Listen addresses, as written in config.listen.udp / tcp, that this host may not have: the
  // embedded default [::1]:8125 on a host without IPv6 is skipped with a log line. An address
  // the user configured is never listed here: if it cannot be bound, start-up fails.
  std::vector<std::string> optional_listen;
  // Where each value of the config given to the Server came from (LoadConfig's), for
  // GET /debug/config; empty: all defaults.
  ConfigOrigins origins;
  // SIGHUP's new configuration, filling in where each value came from (default:
  // LoadConfig(command_line, origins)).
  std::function<absl::StatusOr<Config>(ConfigOrigins* origins)> load_config;
  // Builds a backend (default: StartBackend). Called on a reload thread for restarts.
  std::function<absl::StatusOr<StartedBackend>(const Config&, BackendKind)> start_backend;
  // The rules of config.mapping_file, as main() loaded them (so that a bad file stops start-up
  // with exit 2). Null with a mapping_file set: Start() loads it.
  std::shared_ptr<const mapping::Mapping> mapping;
};

class Server {
 public:
  Server(Config config, ServerOptions options);
  ~Server();

  // Binds every listener and starts workers and backends. An address in use fails here with
  // the address named.
  absl::Status Start();
  // Runs until SIGTERM/SIGINT, then stops the workers (they read what their sockets held), runs
  // the final flush and stops the backends, all within shutdown_timeout of the signal. Returns
  // the exit status.
  int Run();
  // After Run(): a backend (or a reload's restart) was still stopping at shutdown_timeout and
  // its thread goes on. The process must then end without running destructors (std::_Exit).
  bool abandoned_threads() const { return abandoned_threads_; }

  // "udp 127.0.0.1:8125", "prometheus 0.0.0.0:9102", ... as actually bound (port 0 resolved):
  // the listeners, then the listening backends.
  std::vector<std::string> bound_addresses() const;

 private:
  static void OnSignal(uv_signal_t* handle, int signum);
  static void OnReloadDone(uv_async_t* handle);
  // Flush thread: each snapshot, with tallyd's own metrics, to every backend.
  void Deliver(std::shared_ptr<const aggregator::Snapshot> snapshot, absl::Duration took);
  // Reads the new config, applies what applies in place, and hands backend restarts to a
  // thread of their own (server_reload.cc).
  void Reload();
  // Main loop, once the reload thread is done: installs what it started.
  void FinishReload();
  void WritePortsFile() const;
  // GET /debug/config shows config_ and origins_ from now on (main loop).
  void PublishConfigPage();
  void BeginShutdown();
  void CloseHandles();

  Config config_;
  // Where each value of config_ came from; a reload updates both (main loop).
  ConfigOrigins origins_;
  ServerOptions options_;
  SystemClock clock_;
  std::unique_ptr<aggregator::Aggregator> aggregator_;
  // The mapping rules the shards use; replaced by a reload that loads a good file (main loop).
  std::shared_ptr<const mapping::Mapping> mapping_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<FlushLoop> flush_loop_;
  // Shared with the threads that stop backends, which a stop past shutdown_timeout leaves behind.
  std::shared_ptr<BackendSet> backends_ = std::make_shared<BackendSet>();
  std::atomic<int> open_tcp_connections_{0};
  std::vector<std::string> listeners_bound_;

  uv_loop_t loop_;
  uv_signal_t sigterm_, sigint_, sighup_;
  uv_async_t reload_done_;
  bool handles_open_ = false;
  std::shared_ptr<ReloadChannel> reload_;  // set while a reload's thread runs
  bool reload_again_ = false;              // a SIGHUP came while one ran
  bool stopping_ = false;
  bool abandoned_threads_ = false;
};

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_SERVER_H_
