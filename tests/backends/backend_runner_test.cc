// BackendRunner: bounded queue, in-order retry with backoff, drop-oldest, rejection, stop, and
// delivery below the receive path's priority.
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "aggregator/snapshot.h"
#include "backends/backend.h"
#include "backends/clock.h"
#include "gtest/gtest.h"

namespace tallyd::backends {
namespace {

using aggregator::Snapshot;

Flush MakeFlush(uint64_t sequence) {
  auto s = std::make_shared<Snapshot>();
  s->sequence = sequence;
  return {s, nullptr};
}

// A peer whose answers the test scripts: `fail_next` failures, then deliveries. Deliver blocks
// while `held` so the test can fill the queue deterministically.
class ScriptedBackend : public Backend {
 public:
  std::string_view name() const override { return "scripted"; }
  Delivery Deliver(const Flush& flush) override {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](bool* h) { return !*h; }, &held));
    ++attempts;
    if (reject_next > 0) {
      --reject_next;
      return Delivery::Rejected(absl::PermissionDeniedError("403"));
    }
    if (fail_next > 0) {
      --fail_next;
      return Delivery::Retry(absl::UnavailableError("down"));
    }
    delivered.push_back(flush.snapshot->sequence);
    below_normal_priority =
        getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())) == backends::kBackgroundNice;
    return Delivery::Delivered();
  }
  BackoffPolicy backoff() const override { return policy; }
  void StopBy(absl::Time) override {
    absl::MutexLock lock(&mu);
    stop_called = true;
  }
  BackoffPolicy policy;
  bool stop_called = false;  // BackendRunner::Stop has begun (it calls StopBy)
  absl::Mutex mu;
  bool held = false;
  int fail_next = 0;
  int reject_next = 0;
  int attempts = 0;
  std::vector<uint64_t> delivered;
  bool below_normal_priority = false;  // the delivery thread's, at the last delivery
};

BackoffPolicy FastBackoff() { return {absl::Milliseconds(1), absl::Milliseconds(8)}; }

bool AwaitDelivered(ScriptedBackend* b, size_t n) {
  absl::MutexLock lock(&b->mu);
  auto done = [&]() { return b->delivered.size() >= n; };
  return b->mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(20));
}

TEST(BackendRunnerTest, DeliversEveryFlushInOrder) {
  auto backend = std::make_unique<ScriptedBackend>();
  ScriptedBackend* b = backend.get();
  BackendRunner runner(std::move(backend), 6, FastBackoff());
  for (uint64_t i = 1; i <= 5; ++i) runner.Submit(MakeFlush(i));
  ASSERT_TRUE(AwaitDelivered(b, 5));
  EXPECT_TRUE(runner.Stop(backends::MonotonicNow() + absl::Seconds(5)));
  EXPECT_EQ(b->delivered, (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(runner.stats().sent, 5u);
  EXPECT_EQ(runner.stats().dropped_flushes, 0u);
}

// A backend's delivery (formatting a whole snapshot) must not take the workers' core: it runs
// below the workers, the thread that submitted does not.
TEST(BackendRunnerTest, DeliversBelowTheCallersPriority) {
  auto backend = std::make_unique<ScriptedBackend>();
  ScriptedBackend* b = backend.get();
  BackendRunner runner(std::move(backend), 2, FastBackoff());
  runner.Submit(MakeFlush(1));
  ASSERT_TRUE(AwaitDelivered(b, 1));
  EXPECT_TRUE(runner.Stop(backends::MonotonicNow() + absl::Seconds(5)));
  EXPECT_TRUE(b->below_normal_priority);
  EXPECT_LT(getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())), kBackgroundNice);
}

// Without a policy of its own, the runner takes the backend's (each push backend's max_backoff):
// 30 retries capped at 2 ms take well under a second, where the default policy (200 ms doubling
// to 10 s) would take minutes.
TEST(BackendRunnerTest, UsesTheBackendsBackoffPolicy) {
  auto backend = std::make_unique<ScriptedBackend>();
  ScriptedBackend* b = backend.get();
  b->policy = {absl::Milliseconds(1), absl::Milliseconds(2)};
  b->fail_next = 30;
  BackendRunner runner(std::move(backend), 6);
  runner.Submit(MakeFlush(1));
  ASSERT_TRUE(AwaitDelivered(b, 1));
  EXPECT_TRUE(runner.Stop(backends::MonotonicNow() + absl::Seconds(5)));
  EXPECT_EQ(runner.stats().errors, 30u);
}

TEST(BackendRunnerTest, DefaultBackoffIsCappedAtTenSeconds) {
  EXPECT_EQ(BackoffPolicy{}.max, absl::Seconds(10));
}

TEST(BackendRunnerTest, RetriesFailuresAndKeepsOrder) {
  auto backend = std::make_unique<ScriptedBackend>();
  ScriptedBackend* b = backend.get();
  b->fail_next = 3;
  BackendRunner runner(std::move(backend), 6, FastBackoff());
  runner.Submit(MakeFlush(1));
  runner.Submit(MakeFlush(2));
  ASSERT_TRUE(AwaitDelivered(b, 2));
  runner.Stop(backends::MonotonicNow() + absl::Seconds(5));
  EXPECT_EQ(b->delivered, (std::vector<uint64_t>{1, 2}));  // each once, in order
  EXPECT_EQ(runner.stats().errors, 3u);
  EXPECT_EQ(runner.stats().sent, 2u);
}

TEST(BackendRunnerTest, FullQueueDropsTheOldestAndCountsIt) {
  auto backend = std::make_unique<ScriptedBackend>();
  ScriptedBackend* b = backend.get();
  {
    absl::MutexLock lock(&b->mu);
    b->held = true;  // the peer hangs: nothing leaves the queue
  }
  BackendRunner runner(std::move(backend), 3, FastBackoff());
  for (uint64_t i = 1; i <= 7; ++i) runner.Submit(MakeFlush(i));
  EXPECT_EQ(runner.stats().dropped_flushes, 4u);
  EXPECT_EQ(runner.stats().queued, 3u);
  {
    absl::MutexLock lock(&b->mu);
    b->held = false;
  }
  // The attempt that was in flight when its flush was dropped may still land; after it, only the
  // newest three remain, in order.
  ASSERT_TRUE(runner.Stop(backends::MonotonicNow() + absl::Seconds(10)));
  std::vector<uint64_t> tail(b->delivered.end() - 3, b->delivered.end());
  EXPECT_EQ(tail, (std::vector<uint64_t>{5, 6, 7}));
}

// A backend with state across flushes: records what Observe and Deliver saw, in one sequence.
class ObservingBackend : public ScriptedBackend {
 public:
  bool observes_flushes() const override { return true; }
  void Observe(const Flush& flush) override {
    absl::MutexLock lock(&mu);
    observed.push_back(flush.snapshot->sequence);
    // Observe comes before Deliver for each flush.
    if (!delivered.empty() && delivered.back() >= flush.snapshot->sequence) out_of_order = true;
  }
  Delivery Deliver(const Flush& flush) override {
    {
      absl::MutexLock lock(&mu);
      ++deliveries_started;
      // The state is exactly through this flush: observed, and nothing after it.
      if (observed.empty() || observed.back() != flush.snapshot->sequence) out_of_order = true;
    }
    return ScriptedBackend::Deliver(flush);
  }
  std::vector<uint64_t> observed;
  bool out_of_order = false;
  int deliveries_started = 0;
};

TEST(BackendRunnerTest, ObservesEveryFlushInOrderEvenOnesTheFullQueueDropped) {
  auto backend = std::make_unique<ObservingBackend>();
  ObservingBackend* b = backend.get();
  {
    absl::MutexLock lock(&b->mu);
    b->held = true;  // the peer hangs inside flush 1's delivery
  }
  BackendRunner runner(std::move(backend), 2, FastBackoff());
  runner.Submit(MakeFlush(1));
  {
    absl::MutexLock lock(&b->mu);
    auto in_flight = [&]() { return b->deliveries_started > 0; };
    ASSERT_TRUE(b->mu.AwaitWithTimeout(absl::Condition(&in_flight), absl::Seconds(20)));
  }
  for (uint64_t i = 2; i <= 8; ++i) runner.Submit(MakeFlush(i));
  EXPECT_EQ(runner.stats().dropped_flushes, 6u);  // 1..6 dropped, 7 and 8 queued
  {
    absl::MutexLock lock(&b->mu);
    b->held = false;
  }
  ASSERT_TRUE(runner.Stop(backends::MonotonicNow() + absl::Seconds(10)));
  absl::MutexLock lock(&b->mu);
  EXPECT_EQ(b->observed, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(b->delivered, (std::vector<uint64_t>{1, 7, 8}));
  EXPECT_FALSE(b->out_of_order);
}

// Flushes the full queue drops during a long backoff are observed as they go, not when it ends
// (which would keep their snapshots alive through the whole outage).
TEST(BackendRunnerTest, ObservesDroppedFlushesDuringABackoff) {
  auto backend = std::make_unique<ObservingBackend>();
  ObservingBackend* b = backend.get();
  b->fail_next = 1;
  BackendRunner runner(std::move(backend), 1, {absl::Seconds(60), absl::Seconds(60)});
  runner.Submit(MakeFlush(1));
  {
    absl::MutexLock lock(&b->mu);
    auto failed = [&]() { return b->attempts >= 1; };
    ASSERT_TRUE(b->mu.AwaitWithTimeout(absl::Condition(&failed), absl::Seconds(20)));
  }
  runner.Submit(MakeFlush(2));  // drops 1 (in backoff, observed)
  runner.Submit(MakeFlush(3));  // drops 2, never delivered
  {
    absl::MutexLock lock(&b->mu);
    auto seen = [&]() { return b->observed.size() >= 2; };
    ASSERT_TRUE(b->mu.AwaitWithTimeout(absl::Condition(&seen), absl::Seconds(20)));
    EXPECT_EQ(b->observed, (std::vector<uint64_t>{1, 2}));  // 3, queued, only before its delivery
    EXPECT_TRUE(b->delivered.empty());                      // still backing off
  }
  runner.Stop(backends::MonotonicNow());
}

TEST(BackendRunnerTest, RejectedFlushIsNotRetried) {
  auto backend = std::make_unique<ScriptedBackend>();
  ScriptedBackend* b = backend.get();
  b->reject_next = 1;
  BackendRunner runner(std::move(backend), 6, FastBackoff());
  runner.Submit(MakeFlush(1));
  runner.Submit(MakeFlush(2));
  ASSERT_TRUE(AwaitDelivered(b, 1));
  runner.Stop(backends::MonotonicNow() + absl::Seconds(5));
  EXPECT_EQ(b->delivered, (std::vector<uint64_t>{2}));
  EXPECT_EQ(b->attempts, 2);
  EXPECT_EQ(runner.stats().dropped_flushes, 1u);
  EXPECT_EQ(runner.stats().errors, 1u);
}

TEST(BackendRunnerTest, StopGivesUpAtTheDeadlineWhenThePeerStaysDown) {
  auto backend = std::make_unique<ScriptedBackend>();
  ScriptedBackend* b = backend.get();
  b->fail_next = 1 << 30;
  BackendRunner runner(std::move(backend), 6, FastBackoff());
  runner.Submit(MakeFlush(1));
  EXPECT_FALSE(runner.Stop(backends::MonotonicNow() + absl::Milliseconds(100)));
  EXPECT_TRUE(b->delivered.empty());
  EXPECT_GE(runner.stats().errors, 1u);
}

// The stop deadline is on the monotonic clock (Backend::Stop): one 10 s ahead of it leaves the
// runner its retries and deliveries. Against the wall clock that instant is ~56 years past (the
// monotonic clock counts from boot), as after a forward step of the wall clock: a runner reading
// absl::Now() gives up at once and delivers nothing. The retries' waits are measured against
// the same deadline, so a retry wait on another clock than the deadline's would wait until it.
TEST(BackendRunnerTest, StopDeadlineIsOnTheMonotonicClock) {
  auto backend = std::make_unique<ScriptedBackend>();
  ScriptedBackend* b = backend.get();
  b->fail_next = 3;
  {
    absl::MutexLock lock(&b->mu);
    b->held = true;  // both flushes are queued when the stop comes
  }
  BackendRunner runner(std::move(backend), 6, FastBackoff());
  runner.Submit(MakeFlush(1));
  runner.Submit(MakeFlush(2));
  std::thread release([b] {  // once Stop has set the deadline
    absl::MutexLock lock(&b->mu);
    b->mu.Await(absl::Condition(&b->stop_called));
    b->held = false;
  });
  const absl::Time start = MonotonicNow();
  EXPECT_TRUE(runner.Stop(start + absl::Seconds(10)));
  release.join();
  EXPECT_LT(MonotonicNow() - start, absl::Seconds(5));  // the retries waited ~1, 2, 4 ms
  EXPECT_EQ(b->delivered, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(runner.stats().errors, 3u);
}

// A backend that records, for each delivered flush, how many newer ones the runner said were
// queued behind it. Deliver blocks while `held`, after counting itself in `entered`.
class QueueWatchingBackend : public Backend {
 public:
  std::string_view name() const override { return "watching"; }
  void SetNewerQueued(size_t newer) override {
    absl::MutexLock lock(&mu);
    pending_newer = newer;
  }
  Delivery Deliver(const Flush& flush) override {
    absl::MutexLock lock(&mu);
    ++entered;
    mu.Await(absl::Condition(
        +[](bool* h) { return !*h; }, &held));
    newer.push_back(pending_newer);
    return Delivery::Delivered();
  }
  absl::Mutex mu;
  bool held = true;
  int entered = 0;
  size_t pending_newer = 0;
  std::vector<size_t> newer;
};

TEST(BackendRunnerTest, TellsTheBackendHowManyNewerFlushesAreQueued) {
  auto backend = std::make_unique<QueueWatchingBackend>();
  QueueWatchingBackend* b = backend.get();
  BackendRunner runner(std::move(backend), 6, FastBackoff());
  runner.Submit(MakeFlush(1));
  {
    absl::MutexLock lock(&b->mu);
    auto in_deliver = [&]() { return b->entered == 1; };
    ASSERT_TRUE(b->mu.AwaitWithTimeout(absl::Condition(&in_deliver), absl::Seconds(20)));
  }
  runner.Submit(MakeFlush(2));
  runner.Submit(MakeFlush(3));
  {
    absl::MutexLock lock(&b->mu);
    b->held = false;
    auto done = [&]() { return b->newer.size() == 3; };
    ASSERT_TRUE(b->mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(20)));
  }
  EXPECT_TRUE(runner.Stop(backends::MonotonicNow() + absl::Seconds(5)));
  // Flush 1 was taken alone; flush 2 had flush 3 behind it; flush 3 none.
  absl::MutexLock lock(&b->mu);
  EXPECT_EQ(b->newer, (std::vector<size_t>{0, 1, 0}));
}

}  // namespace
}  // namespace tallyd::backends
