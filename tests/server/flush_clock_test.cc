// FlushClock against a fake clock whose wall time can step: flushes keep coming one interval
// apart on the monotonic clock and stay stamped with wall-clock multiples of the interval.
#include "server/flush_clock.h"

#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tallyd::server {
namespace {

class FakeClock : public Clock {
 public:
  absl::Time WallNow() const override { return mono_ + offset_; }
  absl::Time MonotonicNow() const override { return mono_; }
  void Pass(absl::Duration d) { mono_ += d; }
  void RunUntil(absl::Time mono) { mono_ = std::max(mono_, mono); }
  void StepWall(absl::Duration d) { offset_ += d; }

 private:
  absl::Time mono_ = absl::UnixEpoch() + absl::Hours(5);  // since "boot"
  absl::Duration offset_ = absl::FromUnixSeconds(1'700'000'003) - mono_ + absl::Milliseconds(250);
};

constexpr absl::Duration kInterval = absl::Seconds(10);

// Runs `n` flushes as the server does: wait for the tick, take it, flush. Each tick as taken,
// with the wall time read then.
struct Flushed {
  FlushTick tick;
  absl::Time wall_then;
};
std::vector<Flushed> RunFlushes(FakeClock& clock, FlushClock& schedule, int n) {
  std::vector<Flushed> flushed;
  for (int i = 0; i < n; ++i) {
    clock.RunUntil(schedule.next().mono);
    flushed.push_back({schedule.Take(), clock.WallNow()});
    clock.Pass(absl::Milliseconds(3));  // the flush's own work
  }
  return flushed;
}

bool IsMultiple(absl::Time wall) {
  return absl::ToUnixNanos(wall) % absl::ToInt64Nanoseconds(kInterval) == 0;
}

TEST(FlushClockTest, FirstTickIsTheNextWallMultipleThenOneIntervalApart) {
  FakeClock clock;
  FlushClock schedule(&clock, kInterval);
  EXPECT_EQ(schedule.next().wall, absl::FromUnixSeconds(1'700'000'010));
  EXPECT_EQ(schedule.next().mono - clock.MonotonicNow(), absl::Milliseconds(6750));
  std::vector<Flushed> flushed = RunFlushes(clock, schedule, 5);
  for (size_t i = 0; i < flushed.size(); ++i) {
    EXPECT_EQ(flushed[i].tick.wall, flushed[i].wall_then);
    if (i == 0) continue;
    EXPECT_EQ(flushed[i].tick.wall - flushed[i - 1].tick.wall, kInterval);
    EXPECT_EQ(flushed[i].tick.mono - flushed[i - 1].tick.mono, kInterval);
  }
  EXPECT_EQ(schedule.steps(), 0u);
}

// After a step, flushes go on about one interval apart on the monotonic clock, none skipped,
// none merged, stamped with multiples of the new wall time, and the step is counted once.
void ExpectReAligned(const std::vector<Flushed>& before, const std::vector<Flushed>& after) {
  // The first flush after the step is due when it was scheduled, stamped from the new time.
  EXPECT_EQ(after[0].tick.mono - before.back().tick.mono, kInterval);
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_TRUE(IsMultiple(after[i].tick.wall)) << after[i].tick.wall;
    EXPECT_LE(absl::AbsDuration(after[i].wall_then - after[i].tick.wall), kInterval / 2) << i;
    if (i == 0) continue;
    EXPECT_EQ(after[i].tick.wall - after[i - 1].tick.wall, kInterval) << i;
    const absl::Duration gap = after[i].tick.mono - after[i - 1].tick.mono;
    // Half an interval at most to move onto the new grid, then exactly one interval.
    EXPECT_GE(gap, kInterval / 2) << i;
    EXPECT_LE(gap, kInterval * 3 / 2) << i;
    if (i >= 2) {
      EXPECT_EQ(gap, kInterval) << i;
    }
  }
  for (size_t i = 1; i < after.size(); ++i) EXPECT_EQ(after[i].tick.wall, after[i].wall_then);
}

TEST(FlushClockTest, WallClockStepBackKeepsFlushingAndReAligns) {
  FakeClock clock;
  FlushClock schedule(&clock, kInterval);
  std::vector<Flushed> before = RunFlushes(clock, schedule, 3);
  // An hour and a bit back: a schedule kept on the wall clock would wait that long.
  clock.StepWall(-(absl::Hours(1) + absl::Seconds(4)));
  std::vector<Flushed> after = RunFlushes(clock, schedule, 4);
  ExpectReAligned(before, after);
  EXPECT_LT(after[0].tick.wall, before.back().tick.wall - absl::Minutes(59));
  EXPECT_EQ(schedule.steps(), 1u);  // logged once, not at every flush after it
}

TEST(FlushClockTest, WallClockStepForwardSkipsNoInterval) {
  FakeClock clock;
  FlushClock schedule(&clock, kInterval);
  std::vector<Flushed> before = RunFlushes(clock, schedule, 2);
  clock.StepWall(absl::Hours(2) + absl::Seconds(7));
  std::vector<Flushed> after = RunFlushes(clock, schedule, 4);
  ExpectReAligned(before, after);
  EXPECT_GT(after[0].tick.wall, before.back().tick.wall + absl::Hours(2));
  EXPECT_EQ(schedule.steps(), 1u);
}

TEST(FlushClockTest, StepWhileALateFlushRunsIsOneStep) {
  FakeClock clock;
  FlushClock schedule(&clock, kInterval);
  std::vector<Flushed> before = RunFlushes(clock, schedule, 2);
  clock.Pass(kInterval * 3 / 2);  // the last flush ran long: the next one is late
  clock.StepWall(absl::Seconds(33));
  std::vector<Flushed> after = RunFlushes(clock, schedule, 3);
  EXPECT_EQ(schedule.steps(), 1u);
  for (const Flushed& f : after) EXPECT_TRUE(IsMultiple(f.tick.wall));
  EXPECT_EQ(after[1].tick.wall - after[0].tick.wall, kInterval);
}

TEST(FlushClockTest, SmallJitterBetweenTheClocksIsNoStep) {
  FakeClock clock;
  FlushClock schedule(&clock, kInterval);
  RunFlushes(clock, schedule, 2);
  clock.StepWall(absl::Milliseconds(40));
  std::vector<Flushed> flushed = RunFlushes(clock, schedule, 3);
  EXPECT_EQ(flushed[1].tick.wall - flushed[0].tick.wall, kInterval);
  EXPECT_EQ(flushed[1].tick.mono - flushed[0].tick.mono, kInterval);
  EXPECT_EQ(schedule.steps(), 0u);
}

TEST(FlushClockTest, LateFlushNeitherShiftsNorSkipsTheNextOnes) {
  FakeClock clock;
  FlushClock schedule(&clock, kInterval);
  clock.RunUntil(schedule.next().mono);
  const FlushTick first = schedule.Take();
  clock.Pass(kInterval + absl::Seconds(4));  // this flush took longer than an interval
  // The next one is due already (at once), stamped one interval on; the one after keeps the
  // original grid.
  EXPECT_LE(schedule.next().mono, clock.MonotonicNow());
  const FlushTick second = schedule.Take();
  EXPECT_EQ(second.mono, first.mono + kInterval);
  EXPECT_EQ(second.wall, first.wall + kInterval);
  EXPECT_EQ(schedule.next().mono, first.mono + 2 * kInterval);
  EXPECT_EQ(schedule.next().wall, first.wall + 2 * kInterval);
}

TEST(FlushClockTest, SystemClockReadsBothClocks) {
  SystemClock clock;
  const absl::Time a = clock.MonotonicNow();
  const absl::Time b = clock.MonotonicNow();
  EXPECT_LE(a, b);
  EXPECT_LT(absl::AbsDuration(clock.WallNow() - absl::Now()), absl::Seconds(1));
}

}  // namespace
}  // namespace tallyd::server
