// backends/: turns immutable flush snapshots into output (Prometheus, Graphite, Datadog, console).
//
// A Backend only formats and delivers. BackendRunner gives each backend its own thread and a
// bounded queue of snapshots (SPEC 4): the flush clock hands a snapshot over without waiting, a
// failed delivery is retried with capped exponential backoff and queued flushes go out in
// order; past `max_buffered_flushes` the oldest is dropped and counted. A backend that keeps
// state across flushes (remote_write's cumulative counters) sees every flush first through
// Observe, even one the queue drops before Deliver reaches it.
#ifndef TALLYD_BACKENDS_BACKEND_H_
#define TALLYD_BACKENDS_BACKEND_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tallyd::aggregator {
struct Snapshot;
}

namespace tallyd::backends {

using SnapshotPtr = std::shared_ptr<const aggregator::Snapshot>;

// One of tallyd's own metrics (SPEC 5), as the server measured it at flush time. Names are the
// Prometheus ones ("tallyd_packets_received_total"); other backends derive theirs from it.
struct SelfMetric {
  enum class Kind { kCounter, kGauge };  // a counter is a running total since start
  std::string name;
  std::string help;
  Kind kind = Kind::kCounter;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

// What a backend receives each flush: the aggregated series and tallyd's own metrics.
struct Flush {
  SnapshotPtr snapshot;
  std::shared_ptr<const std::vector<SelfMetric>> self_metrics;
};

// What became of one delivery attempt.
struct Delivery {
  enum class Outcome { kDelivered, kRetry, kRejected };
  Outcome outcome = Outcome::kDelivered;
  absl::Status error;          // why, when not delivered (logged by the runner)
  absl::Duration retry_after;  // a peer's back-off request (429 Retry-After); 0: use backoff
  static Delivery Delivered() { return {}; }
  static Delivery Retry(absl::Status error, absl::Duration after = absl::ZeroDuration()) {
    return {Outcome::kRetry, std::move(error), after};
  }
  // The peer refused the flush for good (4xx): logged and counted, not retried.
  static Delivery Rejected(absl::Status error) {
    return {Outcome::kRejected, std::move(error), absl::ZeroDuration()};
  }
};

// Retry delays: `initial` after the first failure, doubling up to `max` (each push backend's
// `max_backoff`), so a peer that comes back is written to within `max` (plus one attempt).
struct BackoffPolicy {
  absl::Duration initial = absl::Milliseconds(200);
  absl::Duration max = absl::Seconds(10);
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  // Called on the backend's own thread, one snapshot at a time, in flush order.
  virtual Delivery Deliver(const Flush& flush) = 0;
  // When true, BackendRunner hands every submitted flush to Observe exactly once, in flush order,
  // on the backend's thread: a flush just before its first Deliver, and a flush the full queue
  // dropped before delivery as soon as the thread is free. Off by default: the runner then keeps
  // no dropped snapshot alive.
  virtual bool observes_flushes() const { return false; }
  // See observes_flushes(). When Deliver(flush) starts, every flush up to this one, and none
  // after it, has been observed; during its retries, later (dropped) ones may be.
  virtual void Observe(const Flush& flush) {}
  // Called by BackendRunner on the backend's thread just before each Deliver: how many newer
  // flushes are queued behind the one delivered. A backend showing only the latest flush's
  // view of something may leave that work to the newest (Prometheus: /debug/series' report),
  // so a backlog drains faster.
  virtual void SetNewerQueued(size_t newer) {}
  // Whether the backend forwards events and service checks (SPEC 2: others count them as not
  // forwarded).
  virtual bool forwards_events() const { return false; }
  // How BackendRunner spaces retries of this backend (push backends take `max_backoff` from
  // their options).
  virtual BackoffPolicy backoff() const { return {}; }
  // Called by BackendRunner::Stop, on the stopping thread and possibly while Deliver runs on the
  // backend's: a delivery still in flight at `deadline` should give up then and return Retry, so
  // a hanging peer cannot hold the shutdown past `shutdown_timeout` (SPEC 1). Backends whose
  // every wait is short already may ignore it. `deadline` is on the monotonic clock
  // (backends/clock.h MonotonicNow()), never compared with absl::Now().
  virtual void StopBy(absl::Time deadline) {}
};

struct BackendStats {
  uint64_t sent = 0;             // flushes delivered
  uint64_t errors = 0;           // failed attempts (retried or rejected)
  uint64_t dropped_flushes = 0;  // dropped from a full queue, or rejected by the peer
  uint64_t queued = 0;
};

// Puts the calling thread below the receive path in the scheduler (nice kBackgroundNice). The
// flush and every backend run on such threads. A flush or a delivery competing with a worker for
// its core would otherwise get half of it (fair share) while the worker's socket buffer
// overflows; at nice 10 (CFS weight 110 against a worker's 1024) it gets ~10 % of a core while
// the worker is runnable, and all the worker leaves. Why not nice 19 (weight 15, 1.5 %): beside
// other processes' CPU-bound threads it got well under 1 % of the core and snapshots reached the
// backends late, their totals short (the nice-19 A/B in bench/README.md); 10 % of a 1 s interval
// is ~100 ms, several times a 100k-series flush and delivery. Not SCHED_IDLE: it starved the
// flush for over 100 ms behind other processes' compiles (FlushLoopTest's slow-shard test then
// saw a late shard), and an unprivileged thread cannot leave it again. Threads this thread
// creates inherit it.
inline constexpr int kBackgroundNice = 10;
absl::Status LowerCallingThreadPriority();

// Names the calling thread as `top -H`, `ps -L`, perf and gdb show it (Linux keeps 15 bytes: a
// longer name is cut). tallyd's threads: "worker-N" (receive path), "flush", and each backend's
// delivery thread under the backend's name ("prometheus", "graphite", ...); civetweb names its own.
void NameCallingThread(std::string_view name);

class BackendRunner {
 public:
  // Retries as the backend's own policy says (Backend::backoff()).
  BackendRunner(std::unique_ptr<Backend> backend, size_t max_buffered_flushes);
  // Retries with `backoff` instead (tests).
  BackendRunner(std::unique_ptr<Backend> backend, size_t max_buffered_flushes,
                BackoffPolicy backoff);
  ~BackendRunner();  // Stops (without waiting for delivery) if Stop() was not called.
  BackendRunner(const BackendRunner&) = delete;
  BackendRunner& operator=(const BackendRunner&) = delete;

  std::string_view name() const { return backend_->name(); }
  Backend& backend() { return *backend_; }

  // Never blocks on delivery: queues the snapshot, dropping the oldest queued one when full.
  void Submit(Flush flush);
  // Delivers what is queued (retrying as usual) until the queue is empty or `deadline`, then
  // stops the thread; a delivery in flight at `deadline` is cut short (Backend::StopBy). Returns
  // false if flushes were left undelivered. `deadline` is on the monotonic clock
  // (backends/clock.h MonotonicNow()): a wall-clock step neither stretches nor cuts the stop.
  bool Stop(absl::Time deadline);
  BackendStats stats() const;

 private:
  void Run();
  // Hands the dropped flushes not yet observed, and with `through_front` the queue's front, to
  // Backend::Observe, in order, outside the lock.
  void ObservePending(bool through_front);

  std::unique_ptr<Backend> backend_;
  const bool observes_;  // backend_->observes_flushes(), fixed for the backend's life
  const size_t max_queued_;
  const BackoffPolicy backoff_;
  mutable absl::Mutex mu_;
  std::deque<Flush> queue_ ABSL_GUARDED_BY(mu_);
  // With observes_: the last `unobserved_` entries of queue_ have not been through Observe (all
  // but the front, which Run observes just before delivering it; Submit runs on the flush loop's
  // thread, which must not fold), and flushes the full queue dropped before they were observed
  // wait in dropped_unobserved_, older than every queued one, until the backend's thread takes
  // them: between two deliveries or as they come during a backoff, so they pile up only during
  // one Deliver call (bounded by the backend's timeout).
  size_t unobserved_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<Flush> dropped_unobserved_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();  // monotonic
  BackendStats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_BACKEND_H_
