#include "server/flush_loop.h"

#include <glog/logging.h>

#include <algorithm>
#include <chrono>

#include "backends/backend.h"

namespace tallyd::server {
namespace {

// A flush whose shards all rotated is the rule; should a notification go missing, the wait still
// looks again this often.
constexpr absl::Duration kRecheck = absl::Milliseconds(50);

// The aggregator's two clocks: the wall-clock stamp for the snapshot, the monotonic one (the
// tick's due time) for idle TTL, so that a wall-clock step never expires a series early.
void RequestRotation(aggregator::Aggregator* aggregator, const FlushTick& tick) {
  aggregator->RequestRotation(tick.mono);
}
std::shared_ptr<const aggregator::Snapshot> Merge(aggregator::Aggregator* aggregator,
                                                  const FlushTick& tick) {
  return aggregator->Flush(tick.wall, tick.mono);
}

}  // namespace

FlushLoop::FlushLoop(aggregator::Aggregator* aggregator, const Clock* clock,
                     absl::Duration interval, std::function<void()> wake_workers, Deliver deliver)
    : aggregator_(aggregator),
      clock_(clock),
      schedule_(clock, interval),
      wake_workers_(std::move(wake_workers)),
      deliver_(std::move(deliver)) {}

FlushLoop::~FlushLoop() { Stop(); }

void FlushLoop::Start() {
  thread_ = std::thread([this] {
    backends::NameCallingThread("flush");
    // The flush yields the core to the workers, as the backends' threads do: at the receive
    // path's priority, any flush-side work sharing a worker's core takes half of it while it
    // runs (backends::LowerCallingThreadPriority says why, and what it costs on a busy host).
    if (absl::Status s = backends::LowerCallingThreadPriority(); !s.ok()) {
      LOG(WARNING) << "flush thread keeps normal priority: " << s;
    }
    Run();
  });
}

void FlushLoop::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool FlushLoop::stopping() {
  std::lock_guard lock(mu_);
  return stop_;
}

void FlushLoop::NotifyRotated() {
  {
    std::lock_guard lock(mu_);
    ++rotations_;
  }
  changed_.notify_all();
}

void FlushLoop::UpdateOptions(aggregator::Options options) {
  std::lock_guard lock(mu_);
  new_options_ = std::move(options);
}

void FlushLoop::ApplyPendingOptions() {
  std::optional<aggregator::Options> options;
  {
    std::lock_guard lock(mu_);
    options.swap(new_options_);
  }
  if (options.has_value()) aggregator_->UpdateOptions(std::move(*options));
}

void FlushLoop::Run() {
  while (true) {
    {
      std::unique_lock lock(mu_);
      // On the monotonic clock (steady_clock is CLOCK_MONOTONIC): a wall-clock step changes
      // nothing here.
      while (!stop_) {
        const absl::Duration left = schedule_.next().mono - clock_->MonotonicNow();
        if (left <= absl::ZeroDuration()) break;
        changed_.wait_for(lock, absl::ToChronoNanoseconds(left));
      }
      if (stop_) return;
    }
    FlushOnce(schedule_.Take());
  }
}

bool FlushLoop::AwaitShards(absl::Time mono_deadline) {
  std::unique_lock lock(mu_);
  while (true) {
    const uint64_t seen = rotations_;
    lock.unlock();
    // A deadline in the past: only looks.
    const bool all = aggregator_->AwaitRotation(absl::UnixEpoch());
    lock.lock();
    if (all) return true;
    const absl::Duration left = mono_deadline - clock_->MonotonicNow();
    if (stop_ || left <= absl::ZeroDuration()) return false;
    changed_.wait_for(lock, absl::ToChronoNanoseconds(std::min(left, kRecheck)),
                      [&] { return stop_ || rotations_ != seen; });
  }
}

void FlushLoop::FlushOnce(const FlushTick& tick) {
  const absl::Time started = clock_->MonotonicNow();
  ApplyPendingOptions();
  RequestRotation(aggregator_, tick);
  wake_workers_();
  // Each snapshot covers one interval: a shard merged one flush late would double its rates in
  // the next and leave a hole in Graphite and Datadog. So the flush waits for every shard, up to
  // when the next flush is due.
  if (!AwaitShards(tick.mono + schedule_.interval()) && !stopping()) {
    LOG_EVERY_T(WARNING, 60) << "flush " << tick.wall << ": a worker did not hand over its "
                             << "interval within " << schedule_.interval()
                             << "; it goes into the next flush";
  }
  MergeAndDeliver(tick, started);
}

void FlushLoop::MergeAndDeliver(const FlushTick& tick, absl::Time started) {
  std::shared_ptr<const aggregator::Snapshot> snapshot = Merge(aggregator_, tick);
  deliver_(std::move(snapshot), clock_->MonotonicNow() - started);
}

void FlushLoop::FlushFinal(const std::function<bool(absl::Time)>& rotate_all) {
  const absl::Time started = clock_->MonotonicNow();
  ApplyPendingOptions();
  const FlushTick tick = schedule_.Take();
  RequestRotation(aggregator_, tick);
  if (!rotate_all(tick.mono)) {
    MergeAndDeliver(tick, started);
    RequestRotation(aggregator_, tick);
    rotate_all(tick.mono);
  }
  MergeAndDeliver(tick, started);
}

}  // namespace tallyd::server
