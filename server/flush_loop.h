// The flushes (SPEC 1, 3), on a thread of their own and on FlushClock's schedule: at each tick
// every shard is asked to rotate, the flush waits until each one has (bounded by the interval),
// merges them into one snapshot covering exactly that interval, and hands it on. On its own
// thread, nothing the main loop does (a SIGHUP reload stopping a backend) can make a flush late,
// and a flush waiting for a busy worker holds up nothing else.
//
//   FlushLoop flushes(&aggregator, &clock, interval, wake_workers, deliver);
//   flushes.Start();                          // workers call NotifyRotated() after rotating
//   ... flushes.Stop(); stop the workers; flushes.FlushFinal(rotate_every_shard);
#ifndef TALLYD_SERVER_FLUSH_LOOP_H_
#define TALLYD_SERVER_FLUSH_LOOP_H_

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/time/time.h"
#include "aggregator/aggregator.h"
#include "server/flush_clock.h"

namespace tallyd::server {

class FlushLoop {
 public:
  using Deliver =
      std::function<void(std::shared_ptr<const aggregator::Snapshot>, absl::Duration took)>;

  // `wake_workers` asks every worker to rotate its shard now; `deliver` receives each snapshot,
  // on the flush thread, in order. `clock` must outlive the loop.
  FlushLoop(aggregator::Aggregator* aggregator, const Clock* clock, absl::Duration interval,
            std::function<void()> wake_workers, Deliver deliver);
  ~FlushLoop();
  FlushLoop(const FlushLoop&) = delete;
  FlushLoop& operator=(const FlushLoop&) = delete;

  void Start();
  // Ends the thread. A flush waiting for shards stops waiting and flushes what has rotated.
  void Stop();

  // Any thread (a worker, right after it rotated its shard): a flush waiting for the shards
  // looks again.
  void NotifyRotated();
  // Any thread: aggregation options for the flushes from the next one on (SIGHUP).
  void UpdateOptions(aggregator::Options options);

  // After Stop(), once the workers have stopped: the last flush, closing the interval the next
  // tick would have closed. `rotate_all(mono_now)` rotates every shard from this thread and
  // tells whether all could (false: one still held an interval the last flush missed, which
  // then goes out first, on its own).
  void FlushFinal(const std::function<bool(absl::Time)>& rotate_all);

  const FlushClock& schedule() const { return schedule_; }

 private:
  void Run();
  // The flush of `tick`: rotation asked, every shard awaited (until the next tick at most).
  void FlushOnce(const FlushTick& tick);
  void MergeAndDeliver(const FlushTick& tick, absl::Time started);
  // Until every shard has published its interval, `mono_deadline`, or Stop(). True when all did.
  bool AwaitShards(absl::Time mono_deadline);
  void ApplyPendingOptions();
  bool stopping();

  aggregator::Aggregator* aggregator_;
  const Clock* clock_;
  FlushClock schedule_;  // flush thread only (FlushFinal: after Stop)
  std::function<void()> wake_workers_;
  Deliver deliver_;
  std::thread thread_;

  std::mutex mu_;
  std::condition_variable changed_;                 // stop_ or rotations_
  bool stop_ = false;                               // under mu_
  uint64_t rotations_ = 0;                          // under mu_
  std::optional<aggregator::Options> new_options_;  // under mu_
};

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_FLUSH_LOOP_H_
