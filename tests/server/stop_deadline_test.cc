// The shutdown's deadlines are on the monotonic clock (backends::MonotonicNow()): StopBackends'
// give-up and AwaitReload's deadline. Read against the wall clock, a deadline 10 s ahead on the
// monotonic clock is ~56 years past (it counts from boot), as after a forward step of the wall
// clock: each test below then gives up at once.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "backends/backend.h"
#include "backends/clock.h"
#include "server/backend_set.h"
#include "server/server_reload.h"

namespace tallyd::server {
namespace {

// Delivers at once; its stop takes `stop_time` (a Prometheus endpoint closing, say).
class SlowStoppingBackend : public backends::Backend {
 public:
  explicit SlowStoppingBackend(absl::Duration stop_time) : stop_time_(stop_time) {}
  std::string_view name() const override { return "slow-stopping"; }
  backends::Delivery Deliver(const backends::Flush&) override {
    return backends::Delivery::Delivered();
  }
  void StopBy(absl::Time) override { absl::SleepFor(stop_time_); }

 private:
  const absl::Duration stop_time_;
};

TEST(StopBackendsTest, GiveUpIsOnTheMonotonicClock) {
  std::vector<std::unique_ptr<backends::BackendRunner>> runners;
  for (int i = 0; i < 2; ++i) {
    runners.push_back(std::make_unique<backends::BackendRunner>(
        std::make_unique<SlowStoppingBackend>(absl::Milliseconds(200)), 4));
  }
  std::atomic<int> stopped{0};
  const absl::Time start = backends::MonotonicNow();
  EXPECT_TRUE(StopBackends(std::move(runners), start + absl::Seconds(5), start + absl::Seconds(10),
                           [&](const backends::BackendRunner&) { ++stopped; }));
  EXPECT_EQ(stopped.load(), 2);
  EXPECT_LT(backends::MonotonicNow() - start, absl::Seconds(5));
}

TEST(AwaitReloadTest, DeadlineIsOnTheMonotonicClock) {
  ReloadChannel channel;
  std::thread reporter([&] {
    absl::SleepFor(absl::Milliseconds(100));  // the reload's work
    std::lock_guard lock(channel.mu);
    channel.done = true;
    channel.done_cv.notify_all();
  });
  const absl::Time start = backends::MonotonicNow();
  EXPECT_TRUE(AwaitReload(channel, start + absl::Seconds(10)));
  reporter.join();
  EXPECT_LT(backends::MonotonicNow() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace tallyd::server
