// The running backends, shared by the flush thread (every flush goes to each of them, with
// tallyd's own metrics) and the main thread (a SIGHUP restarts some, the stop ends them all).
// Starting and stopping a backend can take seconds (a hung peer, a Prometheus endpoint closing),
// so neither happens under the set's lock nor on the flush thread: a backend is taken out
// (Detach) and stopped elsewhere (StopBackends), and its successor put in (Install); flushes for
// it meanwhile are held for the successor.
#ifndef TALLYD_SERVER_BACKEND_SET_H_
#define TALLYD_SERVER_BACKEND_SET_H_

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "backends/backend.h"
#include "backends/debug_endpoint.h"
#include "server/backend_factory.h"
#include "server/ingest_counters.h"
#include "server/self_metrics.h"

namespace tallyd::server {

class BackendSet {
 public:
  // Flushes held for a backend being restarted, at most (the oldest dropped first).
  static constexpr size_t kMaxHeldFlushes = 6;

  // Start-up, before the first flush.
  void Add(StartedBackend backend);

  // Flush thread: tallyd's own metrics from `workers` and the backends' stats, then the flush
  // to every backend (held for one being restarted).
  void Submit(backends::SnapshotPtr snapshot, const std::vector<const IngestCounters*>& workers,
              absl::Duration flush_duration);

  // ---- Main thread (reload). ----
  bool Has(BackendKind kind) const;  // running, or being restarted
  void ApplyLiveSettings(const Config& config, BackendKind kind);
  // Takes `kind`'s runner off the flush path (null if none runs). Its stats still count until
  // Retire(runner). With `hold`, flushes for `kind` are kept for Install(); a kind that was not
  // running can be held too, for a backend about to start.
  std::unique_ptr<backends::BackendRunner> Detach(BackendKind kind, bool hold);
  // Puts `backend` on the flush path, after the flushes held for its kind.
  void Install(StartedBackend backend);
  // `kind` will not run after all: what was held for it is dropped.
  void Forget(BackendKind kind);

  // Any thread: a detached runner has stopped; its last stats are carried over to whatever
  // runs later under its name (the tallyd_backend_* counters never go down).
  void Retire(const backends::BackendRunner& runner);

  // Shutdown: every runner, off the flush path (after the final flush).
  std::vector<std::unique_ptr<backends::BackendRunner>> TakeAll();

  // Main thread: GET /debug/config's page, for the Prometheus backend running now and for any
  // that Install puts in later (a reload restarting it).
  void SetConfigPage(std::shared_ptr<const backends::ConfigPage> page);

  // "prometheus 0.0.0.0:9102" for each listening backend, in kBackendKinds order.
  std::vector<std::string> bound() const;

 private:
  struct Slot {
    BackendKind kind;
    std::unique_ptr<backends::BackendRunner> runner;  // null while held
    std::string bound;
    std::deque<backends::Flush> held;
    uint64_t held_dropped = 0;  // past kMaxHeldFlushes, counted as dropped at Install
  };
  Slot* Find(BackendKind kind);
  const Slot* Find(BackendKind kind) const;

  mutable std::mutex mu_;
  std::vector<Slot> slots_;                                  // in kBackendKinds order
  std::vector<const backends::BackendRunner*> retiring_;     // detached, stopping
  std::shared_ptr<const backends::ConfigPage> config_page_;  // null until the server sets one
  SelfMetricsCollector self_metrics_;
};

// Stops every runner at once, each delivering what it holds until `deadline`, then destroys it
// (a Prometheus endpoint may take a while to close), each on a thread of its own:
// `on_stopped(runner)` runs just before. Waits until all are done or `give_up`
// (InfiniteFuture: until all are done). Returns false if some still ran at `give_up`: their
// threads go on, detached, owning their runners and a copy of `on_stopped`. Both times are on
// the monotonic clock (backends::MonotonicNow(), as BackendRunner::Stop's deadline).
bool StopBackends(std::vector<std::unique_ptr<backends::BackendRunner>> runners,
                  absl::Time deadline, absl::Time give_up,
                  std::function<void(const backends::BackendRunner&)> on_stopped);

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_BACKEND_SET_H_
