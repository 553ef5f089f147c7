// FlushLoop with real shards fed by stand-in workers: every snapshot covers exactly one interval
// even when a worker is slow to hand over, flushes keep their schedule when one runs late or
// the wall clock steps, and nothing added is lost.
#include "server/flush_loop.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "backends/backend.h"
#include "gtest/gtest.h"
#include "protocol/parser.h"

namespace tallyd::server {
namespace {

constexpr absl::Duration kInterval = absl::Milliseconds(300);

// A worker's part: a thread owning a shard, adding one "c:1|c" sample at a time, rotating the
// shard when woken, `delay` late (busy with a batch, still adding samples), then telling the
// flush loop.
class FakeWorker {
 public:
  FakeWorker(aggregator::Shard* shard, absl::Duration delay) : shard_(shard), delay_(delay) {
    protocol::ParseLine("c:1|c", protocol::ParserOptions{}, &line_);
  }
  ~FakeWorker() { Stop(); }

  void Start(FlushLoop* loop) {
    loop_ = loop;
    thread_ = std::thread([this] { Run(); });
  }
  void Wake() {
    std::lock_guard lock(mu_);
    woken_ = true;
    cv_.notify_all();
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }
  uint64_t added() const { return added_; }  // after Stop()

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::microseconds(200), [&] { return woken_ || stop_; });
      if (stop_) break;
      if (woken_) {
        woken_ = false;
        lock.unlock();
        for (absl::Time until = absl::Now() + delay_; absl::Now() < until;) Add();
        if (shard_->RotateIfRequested()) loop_->NotifyRotated();
        lock.lock();
      } else {
        lock.unlock();
        Add();
        lock.lock();
      }
    }
  }
  void Add() {
    shard_->Add(line_.metric);
    ++added_;
  }

  aggregator::Shard* shard_;
  absl::Duration delay_;
  protocol::ParsedLine line_;
  FlushLoop* loop_ = nullptr;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
  bool stop_ = false;
  uint64_t added_ = 0;  // worker thread
};

struct Delivered {
  std::shared_ptr<const aggregator::Snapshot> snapshot;
  absl::Time at;  // monotonic
};

double CounterValue(const aggregator::Snapshot& s) {
  double total = 0;
  for (const aggregator::SeriesValue& v : s.series) {
    if (v.key->name() == "c") total += v.value;
  }
  return total;
}

// The calling thread runs below normal priority (nice backends::kBackgroundNice).
bool BelowNormalPriority() {
  return getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())) == backends::kBackgroundNice;
}

// Real clocks, with the wall clock's offset adjustable (a step).
class SteppableClock : public Clock {
 public:
  absl::Time WallNow() const override { return system_.WallNow() + offset(); }
  absl::Time MonotonicNow() const override { return system_.MonotonicNow(); }
  void StepWall(absl::Duration d) { offset_ns_ += absl::ToInt64Nanoseconds(d); }

 private:
  absl::Duration offset() const { return absl::Nanoseconds(offset_ns_.load()); }
  SystemClock system_;
  std::atomic<int64_t> offset_ns_{0};
};

// The loop, two workers (the second `slow_delay` late to rotate) and what was delivered.
class FlushLoopTest : public ::testing::Test {
 protected:
  void StartAll(absl::Duration slow_delay,
                std::function<void(const aggregator::Snapshot&)> on_flush = nullptr) {
    shards_ = {aggregator_.AddShard(), aggregator_.AddShard()};
    fast_ = std::make_unique<FakeWorker>(shards_[0], absl::ZeroDuration());
    slow_ = std::make_unique<FakeWorker>(shards_[1], slow_delay);
    loop_ = std::make_unique<FlushLoop>(
        &aggregator_, &clock_, kInterval,
        [this] {
          fast_->Wake();
          slow_->Wake();
        },
        [this, on_flush](std::shared_ptr<const aggregator::Snapshot> s, absl::Duration) {
          if (on_flush) on_flush(*s);
          std::lock_guard lock(mu_);
          delivered_.push_back({std::move(s), clock_.MonotonicNow()});
        });
    fast_->Start(loop_.get());
    slow_->Start(loop_.get());
    loop_->Start();
  }

  bool WaitForFlushes(size_t n) {
    const absl::Time end = absl::Now() + absl::Seconds(20);
    while (absl::Now() < end) {
      {
        std::lock_guard lock(mu_);
        if (delivered_.size() >= n) return true;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }

  // Stops as the server does: the loop, the workers, then the final flush from this thread.
  std::vector<Delivered> StopAll() {
    loop_->Stop();
    fast_->Stop();
    slow_->Stop();
    loop_->FlushFinal([&](absl::Time now) {
      bool all = true;
      for (aggregator::Shard* s : shards_) all = s->Rotate(now) && all;
      return all;
    });
    std::lock_guard lock(mu_);
    return delivered_;
  }

  aggregator::Aggregator aggregator_{aggregator::Options{}, kInterval};
  std::vector<aggregator::Shard*> shards_;
  SteppableClock clock_;
  std::unique_ptr<FakeWorker> fast_, slow_;
  std::unique_ptr<FlushLoop> loop_;
  std::mutex mu_;
  std::vector<Delivered> delivered_;
};

TEST_F(FlushLoopTest, SlowShardStillHandsOverEachIntervalInItsOwnSnapshot) {
  // Slower than half an interval: a flush that waits only that long merges it one flush late.
  StartAll(kInterval * 2 / 3);
  ASSERT_TRUE(WaitForFlushes(5));
  std::vector<Delivered> delivered = StopAll();
  double flushed = 0;
  for (size_t i = 0; i < delivered.size(); ++i) {
    const aggregator::Snapshot& s = *delivered[i].snapshot;
    flushed += CounterValue(s);
    if (i + 1 == delivered.size()) break;  // the final flush, after the workers stopped
    EXPECT_EQ(s.stats.shards_late, 0u) << "flush " << i;
    EXPECT_EQ(s.stats.shards_merged, 2u) << "flush " << i;
    if (i > 0) {
      EXPECT_EQ(s.flush_time - delivered[i - 1].snapshot->flush_time, kInterval) << "flush " << i;
    }
  }
  EXPECT_EQ(flushed, static_cast<double>(fast_->added() + slow_->added()));
}

TEST_F(FlushLoopTest, LateFlushDoesNotShiftOrSkipTheNextOnes) {
  std::atomic<int> flushes{0};
  StartAll(absl::ZeroDuration(), [&](const aggregator::Snapshot&) {
    // The second flush's hand-over takes longer than an interval (a backend's Submit stalls).
    if (++flushes == 2) absl::SleepFor(kInterval * 3 / 2);
  });
  ASSERT_TRUE(WaitForFlushes(6));
  std::vector<Delivered> delivered = StopAll();
  for (size_t i = 1; i + 1 < delivered.size(); ++i) {
    EXPECT_EQ(delivered[i].snapshot->flush_time - delivered[i - 1].snapshot->flush_time, kInterval)
        << "flush " << i << " skipped an interval";
  }
  // The one after the late flush came at once; the ones after it on the original grid: the
  // sixth is due five intervals after the first, not later.
  EXPECT_LT(delivered[5].at - delivered[0].at, kInterval * 5 + kInterval / 2);
}

TEST_F(FlushLoopTest, WallClockStepBackNeitherStopsNorSkipsFlushes) {
  StartAll(absl::ZeroDuration());
  ASSERT_TRUE(WaitForFlushes(2));
  clock_.StepWall(-absl::Hours(1));
  const absl::Time stepped = absl::Now();
  ASSERT_TRUE(WaitForFlushes(6)) << "flushing stopped after the step";
  EXPECT_LT(absl::Now() - stepped, kInterval * 4 + kInterval / 2);
  std::vector<Delivered> delivered = StopAll();
  EXPECT_EQ(loop_->schedule().steps(), 1u);
  for (size_t i = 0; i + 1 < delivered.size(); ++i) {
    const absl::Time stamp = delivered[i].snapshot->flush_time;
    EXPECT_EQ(absl::ToUnixNanos(stamp) % absl::ToInt64Nanoseconds(kInterval), 0) << i;
  }
  for (size_t i = 3; i + 1 < delivered.size(); ++i) {
    EXPECT_EQ(delivered[i].snapshot->flush_time - delivered[i - 1].snapshot->flush_time, kInterval);
  }
}

TEST_F(FlushLoopTest, StopEndsAWaitForAWorkerThatNeverHandsOver) {
  aggregator::Aggregator aggregator(aggregator::Options{}, absl::Seconds(5));
  aggregator.AddShard();  // nobody rotates it
  SystemClock clock;
  std::atomic<int> delivered{0};
  std::atomic<bool> woken{false};
  FlushLoop loop(
      &aggregator, &clock, absl::Seconds(1), [&] { woken = true; },
      [&](std::shared_ptr<const aggregator::Snapshot>, absl::Duration) { ++delivered; });
  loop.Start();
  while (!woken.load()) absl::SleepFor(absl::Milliseconds(5));
  const absl::Time stopping = absl::Now();
  loop.Stop();
  EXPECT_LT(absl::Now() - stopping, absl::Milliseconds(500));
  EXPECT_EQ(delivered.load(), 1);  // what had rotated (nothing) still went out
}

// The flush runs below the receive path (so it cannot take a worker's core): the flush thread is
// below the workers, the workers are not.
TEST_F(FlushLoopTest, FlushThreadRunsBelowTheWorkersPriority) {
  std::atomic<int> flush_below{-1};
  StartAll(absl::ZeroDuration(), [&](const aggregator::Snapshot&) {
    int unset = -1;  // the first flush's, on the loop's thread (the final one is on this thread)
    flush_below.compare_exchange_strong(unset, BelowNormalPriority() ? 1 : 0);
  });
  ASSERT_TRUE(WaitForFlushes(1));
  StopAll();
  EXPECT_EQ(flush_below.load(), 1);
  EXPECT_FALSE(BelowNormalPriority()) << "the test thread (and the workers it started) changed";
}

// On one core shared with a worker busy 85 % of the time at normal priority, the lowered
// flush still runs in what the worker leaves: every flush goes out on its tick.
TEST_F(FlushLoopTest, FlushKeepsItsScheduleOnACoreABusyWorkerShares) {
  cpu_set_t before;
  ASSERT_EQ(sched_getaffinity(0, sizeof(before), &before), 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu(), &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);  // threads started below inherit it
  std::atomic<bool> stop{false};
  std::thread busy([&] {
    while (!stop.load()) {
      for (absl::Time until = absl::Now() + absl::Microseconds(8500); absl::Now() < until;) {
      }
      absl::SleepFor(absl::Microseconds(1500));
    }
  });
  StartAll(absl::ZeroDuration());
  const absl::Time started = clock_.MonotonicNow();
  const bool flushed = WaitForFlushes(6);
  std::vector<Delivered> delivered = StopAll();
  stop = true;
  busy.join();
  ASSERT_EQ(sched_setaffinity(0, sizeof(before), &before), 0);
  ASSERT_TRUE(flushed);
  // Six ticks take at most six intervals from the start, plus the scheduler's slack.
  EXPECT_LT(delivered[5].at - started, kInterval * 6 + kInterval / 2);
}

}  // namespace
}  // namespace tallyd::server
