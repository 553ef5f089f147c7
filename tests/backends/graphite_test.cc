#include "backends/graphite.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "aggregator/snapshot.h"
#include "backends/clock.h"
#include "tests/backends/carbon_listener.h"
#include "tests/backends/snapshot_fixtures.h"

namespace tallyd::backends {
namespace {

using aggregator::MetricType;
using aggregator::SeriesKey;
using aggregator::SeriesKeyRef;
using aggregator::Snapshot;
using fixtures::BaseSnapshot;
using fixtures::Key;

using ::tallyd::testing::CarbonListener;

Flush MakeFlush(Snapshot snapshot) {
  return Flush{std::make_shared<const Snapshot>(std::move(snapshot)), nullptr};
}

// A flush of `series` gauges with long names: about 100 bytes per line.
Flush BigFlush(int series) {
  Snapshot s = BaseSnapshot();
  for (int i = 0; i < series; ++i) {
    s.series.push_back(
        {.key = Key(i + 1, MetricType::kGauge,
                    absl::StrCat("some.rather.long.service.name.for.a.gauge.series.", i),
                    "env:production,host:web-1"),
         .value = static_cast<double>(i)});
  }
  return MakeFlush(std::move(s));
}

// Awaits a condition another thread makes true (checked every millisecond, for 20 s at most).
template <typename Condition>
bool WaitUntil(Condition condition) {
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!condition() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  return condition();
}

// Whether a socket of this process' network namespace is in SYN_SENT towards 127.0.0.1:`port`
// (/proc/net/tcp: "sl local rem st ...", addresses as hex "0100007F:1F40", SYN_SENT is 02).
bool ConnectingTo(int port) {
  std::ifstream tcp("/proc/net/tcp");
  const std::string remote = absl::StrFormat("0100007F:%04X", port);
  std::string line;
  std::getline(tcp, line);  // the header
  while (std::getline(tcp, line)) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() > 3 && fields[2] == remote && fields[3] == "02") return true;
  }
  return false;
}

std::unique_ptr<GraphiteBackend> MakeBackend(const std::string& address,
                                             GraphiteOptions options = {}) {
  options.address = address;
  auto backend = GraphiteBackend::Create(std::move(options));
  EXPECT_TRUE(backend.ok()) << backend.status();
  return std::move(*backend);
}

TEST(GraphiteBackendTest, CreateChecksTheAddress) {
  for (const char* bad : {"", "localhost", "127.0.0.1:", "127.0.0.1:x", ":2003", "h:70000"}) {
    GraphiteOptions options;
    options.address = bad;
    EXPECT_FALSE(GraphiteBackend::Create(options).ok()) << bad;
  }
  for (const char* good : {"127.0.0.1:2003", "[::1]:2003", "carbon.example:2003"}) {
    GraphiteOptions options;
    options.address = good;
    EXPECT_TRUE(GraphiteBackend::Create(options).ok()) << good;
  }
}

TEST(GraphiteBackendTest, SendsEveryFlushOnOneConnection) {
  CarbonListener carbon;
  auto backend = MakeBackend(carbon.address());
  EXPECT_EQ(backend->name(), "graphite");
  std::string expected;
  for (int i = 0; i < 3; ++i) {
    Snapshot s = BaseSnapshot(1700000000 + 10 * i);
    s.series.push_back({.key = Key(1, MetricType::kCounter, "req", "env:prod"), .value = 3.0 + i});
    s.series.push_back({.key = Key(2, MetricType::kGauge, "temp"), .value = 21.5});
    s.series.push_back({.key = Key(3, MetricType::kSet, "users"), .value = 7, .idle = i == 2});
    s.series.push_back({.key = Key(4, MetricType::kTimer, "db"), .idle = true});
    Flush flush = MakeFlush(std::move(s));
    expected += FormatGraphite(flush, {});
    Delivery delivery = backend->Deliver(flush);
    EXPECT_EQ(delivery.outcome, Delivery::Outcome::kDelivered) << delivery.error;
  }
  ASSERT_TRUE(carbon.WaitForBytes(expected.size()));
  EXPECT_EQ(carbon.received(), expected);
  EXPECT_EQ(carbon.accepted(), 1);
  GraphiteBackendStats stats = backend->stats();
  EXPECT_EQ(stats.connects, 1u);
  EXPECT_EQ(stats.bytes_written, expected.size());
  EXPECT_EQ(stats.lines, 18u);  // counter 2, gauge 1, set 1, idle timer 2
}

TEST(GraphiteBackendTest, RefusedConnectionIsRetried) {
  int port;
  {
    CarbonListener closed;  // a port that was free a moment ago
    port = closed.port();
  }
  auto backend = MakeBackend(absl::StrCat("127.0.0.1:", port));
  Delivery delivery = backend->Deliver(BigFlush(3));
  EXPECT_EQ(delivery.outcome, Delivery::Outcome::kRetry);
  EXPECT_NE(delivery.error.message().find("refused"), std::string::npos) << delivery.error;
  EXPECT_NE(delivery.error.message().find(absl::StrCat("127.0.0.1:", port)), std::string::npos);
  EXPECT_EQ(backend->stats().connect_failures, 1u);
}

// A carbon down for several retries, then back: the runner's backoff is capped by max_backoff,
// so the flush goes out within about max_backoff of carbon's return (not after the doubled
// delay the failures had reached: with 6 failures and no cap, 6.4 s).
TEST(GraphiteBackendTest, ReconnectsWithinMaxBackoffWhenCarbonComesBack) {
  int port;
  {
    CarbonListener closed;  // a port that was free a moment ago
    port = closed.port();
  }
  GraphiteOptions options;
  options.max_backoff = absl::Milliseconds(500);
  auto owned = MakeBackend(absl::StrCat("127.0.0.1:", port), options);
  GraphiteBackend* backend = owned.get();
  EXPECT_EQ(backend->backoff().max, absl::Milliseconds(500));
  BackendRunner runner(std::move(owned), 4);
  runner.Submit(BigFlush(3));
  ASSERT_TRUE(WaitUntil([&] { return backend->stats().connect_failures >= 6; }));
  CarbonListener carbon(port);
  const absl::Time back = absl::Now();
  ASSERT_TRUE(carbon.WaitForBytes(1));
  // Generous: the point is the cap, not the speed (the uncapped delay here is 6.4 s).
  EXPECT_LT(absl::Now() - back, absl::Milliseconds(500) + absl::Seconds(1.5));
  EXPECT_TRUE(runner.Stop(backends::MonotonicNow() + absl::Seconds(5)));
}

TEST(GraphiteBackendTest, CreateRejectsANonPositiveMaxBackoff) {
  GraphiteOptions options;
  options.address = "127.0.0.1:2003";
  options.max_backoff = absl::ZeroDuration();
  EXPECT_FALSE(GraphiteBackend::Create(options).ok());
}

// Takes the only place in the accept queue of a listener with backlog 0 that never accepts, so
// that further connects hang. Returns the connected socket (to close), or -1.
int FillAcceptQueue(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST(GraphiteBackendTest, ConnectTimesOut) {
  // A listener whose accept queue is full drops further SYNs: the connect never completes.
  CarbonListener carbon(0, {.backlog = 0, .accept = false});
  const int filler = FillAcceptQueue(carbon.port());
  ASSERT_GE(filler, 0);
  GraphiteOptions options;
  options.connect_timeout = absl::Milliseconds(200);
  auto backend = MakeBackend(carbon.address(), options);
  absl::Time start = absl::Now();
  Delivery delivery = backend->Deliver(BigFlush(3));
  absl::Duration took = absl::Now() - start;
  close(filler);
  EXPECT_EQ(delivery.outcome, Delivery::Outcome::kRetry);
  if (delivery.error.code() != absl::StatusCode::kDeadlineExceeded) {
    GTEST_SKIP() << "the kernel did not hold the SYN: " << delivery.error;
  }
  EXPECT_GE(took, absl::Milliseconds(190));
  EXPECT_LT(took, absl::Seconds(3));
}

// A wall clock that steps by `step` at every reading (NTP, a resumed VM, `date -s`, over and
// over), beside the machine's monotonic clock: a timeout measured on the wall clock then never
// ends (steps back) or ends at once (steps forward). The machine's clock is not touched.
class SteppingWallClock : public Clock {
 public:
  explicit SteppingWallClock(absl::Duration step) : step_(step) {}
  absl::Time WallNow() const override { return absl::Now() + step_ * ++readings_; }
  absl::Time MonotonicNow() const override { return backends::MonotonicNow(); }

 private:
  const absl::Duration step_;
  mutable std::atomic<int64_t> readings_{0};
};

// Runs backend->Deliver(flush) on a thread; if it has not returned in 20 s (a wait that never
// ends), fails the test and ends the wait with a stop deadline passed on every clock.
Delivery DeliverOrRescue(GraphiteBackend* backend, const Flush& flush) {
  std::atomic<bool> done{false};
  Delivery delivery = Delivery::Delivered();
  std::thread deliver([&] {
    delivery = backend->Deliver(flush);
    done = true;
  });
  if (!WaitUntil([&] { return done.load(); })) {
    ADD_FAILURE() << "Deliver still waiting after 20 s";
    backend->StopBy(absl::InfinitePast());
  }
  deliver.join();
  return delivery;
}

TEST(GraphiteBackendTest, ConnectTimeoutIsOnTheMonotonicClock) {
  CarbonListener carbon(0, {.backlog = 0, .accept = false});  // as in ConnectTimesOut
  const int filler = FillAcceptQueue(carbon.port());
  ASSERT_GE(filler, 0);
  SteppingWallClock clock(-absl::Hours(1));
  GraphiteOptions options;
  options.connect_timeout = absl::Milliseconds(200);
  options.clock = &clock;
  auto backend = MakeBackend(carbon.address(), options);
  const absl::Time start = backends::MonotonicNow();
  Delivery delivery = DeliverOrRescue(backend.get(), BigFlush(3));
  const absl::Duration took = backends::MonotonicNow() - start;
  close(filler);
  EXPECT_EQ(delivery.outcome, Delivery::Outcome::kRetry);
  if (delivery.error.code() != absl::StatusCode::kDeadlineExceeded) {
    GTEST_SKIP() << "the kernel did not hold the SYN: " << delivery.error;
  }
  EXPECT_NE(delivery.error.message().find("connect timed out"), std::string::npos)
      << delivery.error;
  EXPECT_GE(took, absl::Milliseconds(190));
  EXPECT_LT(took, absl::Seconds(3));
}

TEST(GraphiteBackendTest, WriteTimeoutIsOnTheMonotonicClockWhenTheWallStepsBack) {
  CarbonListener carbon(0, {.read = false, .receive_buffer = 4096});
  SteppingWallClock clock(-absl::Hours(1));
  GraphiteOptions options;
  options.write_timeout = absl::Milliseconds(300);
  options.clock = &clock;
  auto backend = MakeBackend(carbon.address(), options);
  const absl::Time start = backends::MonotonicNow();
  Delivery delivery = DeliverOrRescue(backend.get(), BigFlush(120000));  // ~12 MB
  const absl::Duration took = backends::MonotonicNow() - start;
  EXPECT_EQ(delivery.outcome, Delivery::Outcome::kRetry);
  EXPECT_NE(delivery.error.message().find("no progress"), std::string::npos) << delivery.error;
  EXPECT_GE(took, absl::Milliseconds(300));
  EXPECT_LT(took, absl::Seconds(5));
}

TEST(GraphiteBackendTest, WriteTimeoutIsOnTheMonotonicClockWhenTheWallStepsForward) {
  CarbonListener carbon;
  SteppingWallClock clock(absl::Hours(1));
  GraphiteOptions options;
  options.write_timeout = absl::Seconds(20);
  options.connect_timeout = absl::Seconds(20);
  options.clock = &clock;
  auto backend = MakeBackend(carbon.address(), options);
  // ~12 MB: more than the socket buffers hold, so the write waits for the reader many times.
  Flush big = BigFlush(120000);
  Delivery delivery = backend->Deliver(big);
  EXPECT_EQ(delivery.outcome, Delivery::Outcome::kDelivered) << delivery.error;
  EXPECT_EQ(backend->stats().disconnects, 0u);
}

// The stop deadline (Backend::StopBy) is on the monotonic clock: one 30 s ahead leaves the
// flush to go out. Read against the wall clock it is ~56 years past (the monotonic clock counts
// from boot) and nothing would be sent.
TEST(GraphiteBackendTest, StopDeadlineIsOnTheMonotonicClock) {
  CarbonListener carbon;
  auto backend = MakeBackend(carbon.address());
  backend->StopBy(backends::MonotonicNow() + absl::Seconds(30));
  Flush flush = BigFlush(1000);
  Delivery delivery = backend->Deliver(flush);
  EXPECT_EQ(delivery.outcome, Delivery::Outcome::kDelivered) << delivery.error;
  const std::string payload = FormatGraphite(flush, {});
  EXPECT_TRUE(carbon.WaitForBytes(payload.size(), absl::Seconds(20)));
  EXPECT_EQ(carbon.received(), payload);
}

// The runner retries with backoff while Carbon is down; every flush arrives once, in order.
TEST(GraphiteBackendTest, ListenerRestartLosesNothingAndRepeatsNothing) {
  auto carbon = std::make_unique<CarbonListener>();
  int port = carbon->port();
  auto owned = MakeBackend(carbon->address());
  GraphiteBackend* backend = owned.get();
  BackendRunner runner(std::move(owned), 10, {absl::Milliseconds(5), absl::Milliseconds(40)});

  std::string expected;
  auto submit = [&](int i) {
    Snapshot s = BaseSnapshot(1700000000 + 10 * i);
    s.series.push_back({.key = Key(1, MetricType::kGauge, "seq"), .value = static_cast<double>(i)});
    s.series.push_back({.key = Key(2, MetricType::kCounter, "hits", "flush:" + std::to_string(i)),
                        .value = static_cast<double>(i)});
    Flush flush = MakeFlush(std::move(s));
    expected += FormatGraphite(flush, {});
    runner.Submit(flush);
  };
  auto wait_until = [](auto condition) {
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (!condition() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
    return condition();
  };

  submit(1);
  submit(2);
  ASSERT_TRUE(carbon->WaitForBytes(expected.size()));
  std::string before = carbon->received();
  carbon->Stop();  // Carbon goes away between flushes
  carbon.reset();

  for (int i = 3; i <= 6; ++i) submit(i);
  // Several failed attempts while it is down, and nothing delivered.
  ASSERT_TRUE(wait_until([&] { return runner.stats().errors >= 3; }));
  EXPECT_EQ(runner.stats().sent, 2u);
  EXPECT_EQ(runner.stats().queued, 4u);

  carbon = std::make_unique<CarbonListener>(port);
  ASSERT_EQ(carbon->port(), port);
  submit(7);
  submit(8);
  ASSERT_TRUE(wait_until([&] { return runner.stats().sent == 8; }));
  std::string after_expected = expected.substr(before.size());
  ASSERT_TRUE(carbon->WaitForBytes(after_expected.size()));
  EXPECT_EQ(before + carbon->received(), expected);
  EXPECT_TRUE(runner.Stop(backends::MonotonicNow() + absl::Seconds(5)));
  BackendStats stats = runner.stats();
  EXPECT_EQ(stats.dropped_flushes, 0u);
  EXPECT_EQ(backend->stats().connects, 2u);
  EXPECT_EQ(carbon->accepted(), 1);
}

// A Carbon that accepts but never reads holds the runner's thread for write_timeout only.
TEST(GraphiteBackendTest, PeerThatNeverReadsTimesOut) {
  CarbonListener carbon(0, {.read = false, .receive_buffer = 4096});
  GraphiteOptions options;
  options.write_timeout = absl::Milliseconds(300);
  auto backend = MakeBackend(carbon.address(), options);
  Flush big = BigFlush(120000);  // ~12 MB: more than both socket buffers can hold
  absl::Time start = absl::Now();
  Delivery delivery = backend->Deliver(big);
  absl::Duration took = absl::Now() - start;
  EXPECT_EQ(delivery.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(delivery.error.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(delivery.error.message().find("no progress"), std::string::npos) << delivery.error;
  EXPECT_GE(took, absl::Milliseconds(300));
  EXPECT_LT(took, absl::Seconds(5));
  // What it kept is a whole number of lines.
  std::string payload = FormatGraphite(big, {});
  size_t offset = backend->resume_offset();
  EXPECT_LT(offset, payload.size());
  EXPECT_TRUE(offset == 0 || payload[offset - 1] == '\n');
  EXPECT_EQ(backend->stats().disconnects, 1u);
}

TEST(GraphiteBackendTest, RunnerStopsPromptlyWhilePeerNeverReads) {
  CarbonListener carbon(0, {.read = false, .receive_buffer = 4096});
  GraphiteOptions options;
  options.write_timeout = absl::Milliseconds(300);
  auto owned = MakeBackend(carbon.address(), options);
  BackendRunner runner(std::move(owned), 4, {absl::Milliseconds(10), absl::Milliseconds(50)});
  runner.Submit(BigFlush(120000));
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (runner.stats().errors < 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_GE(runner.stats().errors, 1u);
  absl::Time start = absl::Now();
  EXPECT_FALSE(runner.Stop(backends::MonotonicNow() + absl::Milliseconds(50)));
  // An attempt in flight then is cut at the deadline (StopCutsAStalledWriteAtTheDeadline).
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(runner.stats().sent, 0u);
}

// SPEC 1: the last flush is bounded by shutdown_timeout. A write stalled on a peer that never
// reads gives up at the stop deadline, not at write_timeout, and fails like any other attempt.
TEST(GraphiteBackendTest, StopCutsAStalledWriteAtTheDeadline) {
  CarbonListener carbon(0, {.read = false, .receive_buffer = 4096});
  GraphiteOptions options;
  options.write_timeout = absl::Seconds(60);
  options.send_buffer_bytes = 4096;
  auto owned = MakeBackend(carbon.address(), options);
  GraphiteBackend* backend = owned.get();
  BackendRunner runner(std::move(owned), 4);
  runner.Submit(BigFlush(5000));  // ~500 KB: far more than both socket buffers hold
  // Once the first bytes are out the buffers fill at once: the write is waiting on the socket
  // (for write_timeout) when the stop comes, which must wake it.
  ASSERT_TRUE(WaitUntil([&] { return backend->stats().bytes_written > 0; }));
  const absl::Time deadline = backends::MonotonicNow() + absl::Milliseconds(300);
  EXPECT_FALSE(runner.Stop(deadline)) << "the flush cannot have been delivered";
  const absl::Time stopped = backends::MonotonicNow();
  EXPECT_GE(stopped, deadline) << "the write is given until the deadline";
  EXPECT_LT(stopped - deadline, absl::Seconds(2));
  BackendStats stats = runner.stats();
  EXPECT_EQ(stats.errors, 1u);
  EXPECT_EQ(stats.sent, 0u);
  EXPECT_EQ(stats.queued, 1u);  // dropped at exit, as any undelivered flush
  GraphiteBackendStats graphite = backend->stats();
  EXPECT_EQ(graphite.connects, 1u);
  EXPECT_EQ(graphite.disconnects, 1u);
}

TEST(GraphiteBackendTest, StopCutsAConnectInProgressAtTheDeadline) {
  // A listener whose accept queue is full drops further SYNs: the connect never completes.
  CarbonListener carbon(0, {.backlog = 0, .accept = false});
  const int filler = FillAcceptQueue(carbon.port());
  ASSERT_GE(filler, 0);
  GraphiteOptions options;
  options.connect_timeout = absl::Seconds(60);
  auto owned = MakeBackend(carbon.address(), options);
  GraphiteBackend* backend = owned.get();
  BackendRunner runner(std::move(owned), 4);
  runner.Submit(BigFlush(3));
  // The connect is waiting (for connect_timeout) when the stop comes, which must wake it.
  WaitUntil([&] { return ConnectingTo(carbon.port()) || backend->stats().connects > 0; });
  const absl::Time deadline = backends::MonotonicNow() + absl::Milliseconds(300);
  bool delivered = runner.Stop(deadline);
  const absl::Time stopped = backends::MonotonicNow();
  close(filler);
  if (backend->stats().connects > 0) {
    GTEST_SKIP() << "the kernel did not hold the SYN (delivered: " << delivered << ")";
  }
  EXPECT_FALSE(delivered);
  EXPECT_GE(stopped, deadline) << "the connect is given until the deadline";
  EXPECT_LT(stopped - deadline, absl::Seconds(2));
  EXPECT_EQ(runner.stats().errors, 1u);
  EXPECT_EQ(backend->stats().connect_failures, 1u);
}

// The stop's wake-up does not disturb a write that can finish before the deadline.
TEST(GraphiteBackendTest, StopLetsAFlushToAReadingPeerFinish) {
  CarbonListener carbon;
  GraphiteOptions options;
  options.write_timeout = absl::Seconds(60);
  auto owned = MakeBackend(carbon.address(), options);
  GraphiteBackend* backend = owned.get();
  BackendRunner runner(std::move(owned), 4);
  Flush big = BigFlush(50000);  // ~5 MB: the write waits for the peer many times
  const std::string expected = FormatGraphite(big, {});
  runner.Submit(big);
  ASSERT_TRUE(WaitUntil([&] { return backend->stats().bytes_written > 0; }));  // under way
  EXPECT_TRUE(runner.Stop(backends::MonotonicNow() + absl::Seconds(30)));
  BackendStats stats = runner.stats();
  EXPECT_EQ(stats.sent, 1u);
  EXPECT_EQ(stats.errors, 0u);
  EXPECT_EQ(backend->stats().bytes_written, expected.size()) << "all of it before Stop returned";
  ASSERT_TRUE(carbon.WaitForBytes(expected.size()));
  std::string received = carbon.received();
  EXPECT_EQ(received.size(), expected.size());
  EXPECT_TRUE(received == expected);
}

TEST(GraphiteBackendTest, DeliverAfterTheStopDeadlineSendsNothing) {
  CarbonListener carbon;
  auto backend = MakeBackend(carbon.address());
  backend->StopBy(backends::MonotonicNow());
  Delivery delivery = backend->Deliver(BigFlush(3));
  EXPECT_EQ(delivery.outcome, Delivery::Outcome::kRetry);
  EXPECT_EQ(delivery.error.code(), absl::StatusCode::kDeadlineExceeded) << delivery.error;
  EXPECT_NE(delivery.error.message().find("stop deadline"), std::string::npos) << delivery.error;
  EXPECT_EQ(backend->stats().connects, 0u);
  EXPECT_EQ(backend->stats().connect_failures, 0u);
}

// After a stall, the next connection continues at the first unacknowledged line: the lines the
// peer already acknowledged are not written again, and no line is cut.
TEST(GraphiteBackendTest, ResumesAtTheFirstUnacknowledgedLine) {
  auto stalled = std::make_unique<CarbonListener>(
      0, CarbonListener::Options{.read = false, .receive_buffer = 4096});
  int port = stalled->port();
  GraphiteOptions options;
  options.write_timeout = absl::Milliseconds(200);
  options.send_buffer_bytes = 4096;
  auto backend = MakeBackend(stalled->address(), options);
  Flush big = BigFlush(5000);  // ~500 KB
  std::string payload = FormatGraphite(big, {});
  ASSERT_EQ(backend->Deliver(big).outcome, Delivery::Outcome::kRetry);
  size_t offset = backend->resume_offset();
  EXPECT_GT(offset, 0u) << "the stalled peer acknowledged a few KB";
  EXPECT_LT(offset, 64u << 10);
  ASSERT_EQ(payload[offset - 1], '\n');
  stalled.reset();

  CarbonListener carbon(port);
  Delivery delivery = backend->Deliver(big);
  ASSERT_EQ(delivery.outcome, Delivery::Outcome::kDelivered) << delivery.error;
  ASSERT_TRUE(carbon.WaitForBytes(payload.size() - offset));
  EXPECT_EQ(carbon.received(), payload.substr(offset));
  // The next flush starts from its beginning.
  Snapshot s = BaseSnapshot(1700000010);
  s.series.push_back({.key = Key(1, MetricType::kGauge, "next"), .value = 1});
  Flush next = MakeFlush(std::move(s));
  ASSERT_EQ(backend->Deliver(next).outcome, Delivery::Outcome::kDelivered);
  std::string next_payload = FormatGraphite(next, {});
  ASSERT_TRUE(carbon.WaitForBytes(payload.size() - offset + next_payload.size()));
  EXPECT_EQ(carbon.received(), payload.substr(offset) + next_payload);
}

// A newer flush replaces one the runner dropped while it was being retried.
TEST(GraphiteBackendTest, ADifferentFlushStartsOver) {
  auto stalled = std::make_unique<CarbonListener>(
      0, CarbonListener::Options{.read = false, .receive_buffer = 4096});
  int port = stalled->port();
  GraphiteOptions options;
  options.write_timeout = absl::Milliseconds(200);
  options.send_buffer_bytes = 4096;
  auto backend = MakeBackend(stalled->address(), options);
  ASSERT_EQ(backend->Deliver(BigFlush(5000)).outcome, Delivery::Outcome::kRetry);
  EXPECT_GT(backend->resume_offset(), 0u);
  stalled.reset();
  CarbonListener carbon(port);
  Snapshot s = BaseSnapshot();
  s.series.push_back({.key = Key(1, MetricType::kGauge, "other"), .value = 1});
  Flush other = MakeFlush(std::move(s));
  ASSERT_EQ(backend->Deliver(other).outcome, Delivery::Outcome::kDelivered);
  std::string expected = FormatGraphite(other, {});
  ASSERT_TRUE(carbon.WaitForBytes(expected.size()));
  EXPECT_EQ(carbon.received(), expected);
}

// Fixed chunks (each whole lines), counting how often the flush is produced again.
class StringChunks : public GraphiteChunkSource {
 public:
  explicit StringChunks(std::vector<std::string> chunks) : chunks_(std::move(chunks)) {}
  bool Next(std::string& out) override {
    out.clear();
    if (next_ == chunks_.size()) return false;
    out = chunks_[next_++];
    return true;
  }
  void Restart() override {
    next_ = 0;
    ++restarts_;
  }
  int restarts() const { return restarts_; }

 private:
  std::vector<std::string> chunks_;
  size_t next_ = 0;
  int restarts_ = 0;
};

TEST(GraphitePayloadTest, RewindsToTheStartOfTheFirstUnacknowledgedLine) {
  StringChunks text({"a 1 1\nbb 2 1\nccc 3 1\n"});  // lines of 6, 7 and 8 bytes
  GraphitePayload p;
  p.Reset(&text);
  EXPECT_EQ(p.unsent().size(), 21u);
  p.Sent(10);
  EXPECT_EQ(p.unsent(), " 1\nccc 3 1\n");
  p.Unacknowledged(10);  // nothing acknowledged yet
  EXPECT_EQ(p.acknowledged(), 0u);
  p.Sent(5);
  p.Unacknowledged(6);  // 9 of 15 acknowledged: inside line 2
  EXPECT_EQ(p.acknowledged(), 9u);
  p.Rewind();
  EXPECT_EQ(p.sent(), 6u);
  EXPECT_EQ(p.unsent(), "bb 2 1\nccc 3 1\n");
  // Exactly at a line boundary: that line is complete.
  p.Sent(7);
  p.Unacknowledged(0);
  EXPECT_EQ(p.acknowledged(), 13u);
  p.Rewind();
  EXPECT_EQ(p.unsent(), "ccc 3 1\n");
  p.Sent(8);
  EXPECT_TRUE(p.done());
}

TEST(GraphitePayloadTest, NothingAcknowledgedRestartsTheFlush) {
  StringChunks text({"a 1 1\n", "bb 2 1\n"});
  GraphitePayload p;
  p.Reset(&text);
  p.Sent(p.unsent().size());
  p.Sent(p.unsent().size());
  EXPECT_EQ(p.sent(), 13u);
  EXPECT_TRUE(p.done());
  p.Rewind();  // no sample: the peer may have nothing
  EXPECT_EQ(p.sent(), 0u);
  EXPECT_FALSE(p.done());
  EXPECT_EQ(p.unsent(), "a 1 1\n");
}

TEST(GraphitePayloadTest, EarlierFlushBytesInTheSocketAndNoGoingBack) {
  StringChunks text({"a 1 1\nbb 2 1\n"});
  GraphitePayload p;
  p.Reset(&text);
  p.Sent(4);
  p.Unacknowledged(100);  // the previous flush is still in the socket
  EXPECT_EQ(p.acknowledged(), 0u);
  p.Sent(9);
  p.Unacknowledged(0);
  EXPECT_EQ(p.acknowledged(), 13u);
  p.Unacknowledged(50);  // never decreases
  EXPECT_EQ(p.acknowledged(), 13u);
  StringChunks next({"x 1 1\n"});
  p.Reset(&next);
  EXPECT_EQ(p.sent(), 0u);
  EXPECT_EQ(p.acknowledged(), 0u);
  EXPECT_EQ(p.unsent(), "x 1 1\n");
}

// The socket held more than a chunk: the first unacknowledged line is in a chunk already let go,
// so the flush is produced again up to it, and the next connection starts there.
TEST(GraphitePayloadTest, RewindsIntoAnEarlierChunk) {
  StringChunks text({"a 1 1\nbb 2 1\n", "ccc 3 1\n", "d 4 1\ne 5 1\n"});
  GraphitePayload p;
  p.Reset(&text);
  const int restarts = text.restarts();
  std::string written;
  while (!p.done()) {
    std::string_view unsent = p.unsent();
    written.append(unsent);
    p.Sent(unsent.size());
  }
  EXPECT_EQ(written, "a 1 1\nbb 2 1\nccc 3 1\nd 4 1\ne 5 1\n");
  p.Unacknowledged(25);  // 8 of 33 acknowledged: inside "bb 2 1" in the first chunk
  EXPECT_EQ(p.acknowledged(), 8u);
  p.Rewind();
  EXPECT_EQ(text.restarts(), restarts + 1);
  EXPECT_EQ(p.sent(), 6u);
  EXPECT_EQ(p.unsent(), "bb 2 1\n");
  p.Sent(7);
  EXPECT_EQ(p.unsent(), "ccc 3 1\n");
  // Acknowledged up to a chunk's end: the next chunk starts, nothing is produced again.
  p.Sent(8);
  p.Unacknowledged(0);
  p.Sent(3);  // "d 4" of the third chunk
  p.Rewind();
  EXPECT_EQ(text.restarts(), restarts + 1);
  EXPECT_EQ(p.sent(), 21u);
  EXPECT_EQ(p.unsent(), "d 4 1\ne 5 1\n");
  // Everything acknowledged: done, even after a rewind.
  p.Sent(12);
  p.Unacknowledged(0);
  p.Rewind();
  EXPECT_EQ(p.sent(), 33u);
  EXPECT_TRUE(p.done());
}

}  // namespace
}  // namespace tallyd::backends
