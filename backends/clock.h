// backends/clock.h: the clocks the backends read, and which one each kind of time is on.
//
// Deadlines and timeouts (stop deadlines, retry waits, connect and write timeouts) are on the
// monotonic clock: a step of the wall clock (NTP, a resumed VM, `date -s`) must not make a 5 s
// shutdown last hours or none, nor a back-off fire at once or never. The wall clock is for
// instants that name a calendar time: timestamps written into outputs, an HTTP-date Retry-After.
#ifndef TALLYD_BACKENDS_CLOCK_H_
#define TALLYD_BACKENDS_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "aggregator/aggregator.h"

namespace tallyd::backends {

// CLOCK_MONOTONIC as an absl::Time (the aggregator's and the flush loop's clock, so one deadline
// can cross modules): only compared with other readings of it, never with absl::Now().
inline absl::Time MonotonicNow() { return aggregator::MonotonicNow(); }

// Both clocks, injectable so that tests can step the wall clock without touching the machine's.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time WallNow() const = 0;       // CLOCK_REALTIME
  virtual absl::Time MonotonicNow() const = 0;  // as backends::MonotonicNow()
};

// The machine's clocks.
class RealClock final : public Clock {
 public:
  absl::Time WallNow() const override { return absl::Now(); }
  absl::Time MonotonicNow() const override { return backends::MonotonicNow(); }
};

// A process-wide RealClock, for options whose clock is left null.
inline const Clock& DefaultClock() {
  static const RealClock clock;
  return clock;
}

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_CLOCK_H_
