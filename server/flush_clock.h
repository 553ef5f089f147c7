// The flush schedule (SPEC 1, 3): flushes fall on wall-clock multiples of the interval, so that
// every host's points line up, but are timed on the monotonic clock, so that a wall-clock step
// (NTP, an operator, a VM resumed) neither stops flushing nor skips or merges intervals.
//
//   SystemClock clock;
//   FlushClock schedule(&clock, absl::Seconds(10));
//   wait until clock.MonotonicNow() >= schedule.next().mono;
//   FlushTick tick = schedule.Take();   // flush, stamped tick.wall
#ifndef TALLYD_SERVER_FLUSH_CLOCK_H_
#define TALLYD_SERVER_FLUSH_CLOCK_H_

#include <cstdint>

#include "absl/time/time.h"

namespace tallyd::server {

// The two clocks a flush reads. Tests substitute a fake one.
class Clock {
 public:
  virtual ~Clock() = default;
  // CLOCK_REALTIME: the time written in outputs. May step.
  virtual absl::Time WallNow() const = 0;
  // CLOCK_MONOTONIC, as an absl::Time counted from an unspecified origin (boot): never steps,
  // so deadlines and idle times measured on it hold across wall-clock steps.
  virtual absl::Time MonotonicNow() const = 0;
};

class SystemClock : public Clock {
 public:
  absl::Time WallNow() const override;
  absl::Time MonotonicNow() const override;
};

struct FlushTick {
  absl::Time wall;  // the flush's stamp: a multiple of the interval on the wall clock
  absl::Time mono;  // when it is due, on the monotonic clock
};

class FlushClock {
 public:
  // The first tick is the next wall-clock multiple of `interval` after now.
  FlushClock(const Clock* clock, absl::Duration interval);

  const FlushTick& next() const { return next_; }
  absl::Duration interval() const { return interval_; }

  // Once next().mono has come: the tick to flush now, and the schedule moves on to the one
  // after it. That one is due one interval later on the monotonic clock: an absolute deadline,
  // so a flush that ran late neither shifts nor skips the next ones (a deadline already past is
  // simply due at once). Its stamp is the previous one plus one interval. If the wall clock
  // stepped since the tick was scheduled, the tick taken is re-stamped first with the multiple
  // of the interval nearest to the wall time now, and the schedule re-aligns to the new
  // multiples from there: the next deadline moves by at most half an interval, so no interval
  // is skipped or merged. The step is logged, once.
  FlushTick Take();

  // Wall-clock steps seen by Take() (larger than kStepTolerance).
  uint64_t steps() const { return steps_; }

  // Changes of the difference between the two clocks up to this are not called a step (two
  // readings are never taken at the same instant): the schedule keeps its alignment, so a
  // flush may fall that far from the multiple its stamp names.
  static constexpr absl::Duration kStepTolerance = absl::Milliseconds(250);

 private:
  // Wall minus monotonic, from readings taken as close together as the clock allows.
  absl::Duration ReadOffset() const;

  const Clock* clock_;
  absl::Duration interval_;
  absl::Duration offset_;  // wall minus monotonic when the schedule was last aligned
  FlushTick next_;
  uint64_t steps_ = 0;
};

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_FLUSH_CLOCK_H_
