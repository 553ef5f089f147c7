#include "server/flush_clock.h"

#include <glog/logging.h>
#include <time.h>

#include <cstdlib>

namespace tallyd::server {
namespace {

absl::Time Read(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return absl::TimeFromTimespec(ts);
}

// The multiple of `interval` (from the Unix epoch) nearest to `t`.
absl::Time NearestMultiple(absl::Time t, absl::Duration interval) {
  const int64_t ns = absl::ToInt64Nanoseconds(interval);
  const int64_t at = absl::ToUnixNanos(t);
  int64_t k = at / ns;
  if (at % ns >= ns - ns / 2) ++k;  // round half up
  return absl::FromUnixNanos(k * ns);
}

}  // namespace

absl::Time SystemClock::WallNow() const { return Read(CLOCK_REALTIME); }
absl::Time SystemClock::MonotonicNow() const { return Read(CLOCK_MONOTONIC); }

FlushClock::FlushClock(const Clock* clock, absl::Duration interval)
    : clock_(clock), interval_(interval) {
  offset_ = ReadOffset();
  const absl::Time wall = clock_->MonotonicNow() + offset_;
  const int64_t ns = absl::ToInt64Nanoseconds(interval_);
  next_.wall = absl::FromUnixNanos((absl::ToUnixNanos(wall) / ns + 1) * ns);
  next_.mono = next_.wall - offset_;
}

absl::Duration FlushClock::ReadOffset() const {
  // A thread preempted between two readings would see a false step; of three tries keep the
  // pair taken closest together.
  absl::Duration best_gap = absl::InfiniteDuration();
  absl::Duration offset;
  for (int i = 0; i < 3; ++i) {
    const absl::Time before = clock_->MonotonicNow();
    const absl::Time wall = clock_->WallNow();
    const absl::Time after = clock_->MonotonicNow();
    if (after - before < best_gap) {
      best_gap = after - before;
      offset = wall - (before + (after - before) / 2);
    }
    if (best_gap < absl::Microseconds(100)) break;
  }
  return offset;
}

FlushTick FlushClock::Take() {
  const absl::Duration offset = ReadOffset();
  const absl::Duration step = offset - offset_;
  if (absl::AbsDuration(step) > kStepTolerance) {
    offset_ = offset;
    next_.wall = NearestMultiple(next_.mono + offset_, interval_);
    ++steps_;
    LOG(WARNING) << "wall clock stepped by " << step << "; flushes re-aligned to multiples of "
                 << interval_ << " on the new time (this one stamped " << next_.wall << ")";
  }
  const FlushTick due = next_;
  // Aligned (mono + offset_ == wall) this is `due.mono + interval_`; after a step it is the
  // first deadline on the new grid.
  next_ = {due.wall + interval_, due.wall + interval_ - offset_};
  return due;
}

}  // namespace tallyd::server
