// SIGHUP's backend restarts, on a thread of their own: stopping a backend can take seconds (a
// queue to deliver, a Prometheus endpoint closing), and neither the flushes nor the main loop
// (a SIGTERM during the reload) may wait for it. The main loop decides what changes
// (Server::Reload), the thread stops the old backends and starts the new ones, and the main loop
// puts them in place when it reports back (Server::FinishReload).
#ifndef TALLYD_SERVER_SERVER_RELOAD_H_
#define TALLYD_SERVER_SERVER_RELOAD_H_

#include <uv.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "backends/backend.h"
#include "config/config.h"
#include "server/backend_factory.h"
#include "server/backend_set.h"

namespace tallyd::server {

// One backend the reload changes.
struct BackendRestart {
  BackendKind kind;
  std::unique_ptr<backends::BackendRunner> old;  // taken off the flush path; null if none ran
  bool start = false;                            // on in the new config
  bool was_running = false;
};

// What became of it.
struct ReloadOutcome {
  BackendKind kind;
  bool was_running = false;
  bool wanted = false;        // on in the new config
  bool new_settings = false;  // started with the new settings (else the running ones, or none)
  absl::StatusOr<StartedBackend> started = absl::CancelledError("not started");
};

// Between the main loop and the reload thread, which may outlive the server (a stop past
// shutdown_timeout): so it is shared, and the thread tells the loop only while `notify` is set.
struct ReloadChannel {
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;                    // under mu
  std::vector<ReloadOutcome> outcomes;  // under mu, once done
  uv_async_t* notify = nullptr;         // under mu; null once the main loop stopped listening
  Config fresh;                         // the new config (main thread)
  ConfigOrigins fresh_origins;          // where its values came from (main thread)
  std::vector<std::string> bound_before;
};

using StartBackendFn = std::function<absl::StatusOr<StartedBackend>(const Config&, BackendKind)>;

// Starts the thread: stops the old runners of `restarts` in parallel, each delivering what it
// holds until `deadline` and retired from `backends` once stopped; then starts the wanted ones
// with `fresh`, falling back on `running`'s settings for one that ran and fails to start; then
// reports on `channel`. `deadline` is on the monotonic clock (backends::MonotonicNow()).
void StartBackendRestarts(std::shared_ptr<ReloadChannel> channel,
                          std::shared_ptr<BackendSet> backends,
                          std::vector<BackendRestart> restarts, const Config& running,
                          const Config& fresh, absl::Time deadline, StartBackendFn start_backend);

// Waits until the thread reported, or `deadline` (monotonic). True when it did.
bool AwaitReload(ReloadChannel& channel, absl::Time deadline);
// The main loop will not hear from the thread any more (its handle closes).
void DetachReload(ReloadChannel& channel);

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_SERVER_RELOAD_H_
