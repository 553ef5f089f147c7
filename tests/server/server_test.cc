// Server with backends of the test's own: whatever a SIGHUP reload does with a backend that is
// slow to stop, the flushes keep their schedule and a SIGTERM is not held up by it (SPEC 1).
#include "server/server.h"

#include <signal.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "aggregator/snapshot.h"
#include "gtest/gtest.h"

namespace tallyd::server {
namespace {

// What the test's backends saw, shared with them (a backend may outlive the server: one still
// stopping at shutdown_timeout is left to its thread).
struct Log {
  struct Received {
    std::string backend;
    absl::Time stamp;    // the flush's
    absl::Time arrived;  // wall clock
  };
  std::mutex mu;
  std::vector<Received> received;
  std::atomic<int> created{0};
  std::atomic<int> destroyed{0};
  std::atomic<int> stops_begun{0};

  std::vector<Received> Of(const std::string& backend) {
    std::lock_guard lock(mu);
    std::vector<Received> out;
    for (const Received& r : received) {
      if (r.backend == backend) out.push_back(r);
    }
    return out;
  }
};

// Delivers at once and records it; its stop takes `stop_time` (a queue to deliver to a slow
// peer, an endpoint slow to close), whatever the deadline.
class TestBackend : public backends::Backend {
 public:
  TestBackend(std::string name, absl::Duration stop_time, std::shared_ptr<Log> log)
      : name_(std::move(name)), stop_time_(stop_time), log_(std::move(log)) {
    ++log_->created;
  }
  ~TestBackend() override { ++log_->destroyed; }
  std::string_view name() const override { return name_; }
  backends::Delivery Deliver(const backends::Flush& flush) override {
    std::lock_guard lock(log_->mu);
    log_->received.push_back({name_, flush.snapshot->flush_time, absl::Now()});
    return backends::Delivery::Delivered();
  }
  void StopBy(absl::Time) override {
    ++log_->stops_begun;
    absl::SleepFor(stop_time_);
  }

 private:
  std::string name_;
  absl::Duration stop_time_;
  std::shared_ptr<Log> log_;
};

constexpr absl::Duration kInterval = absl::Milliseconds(500);

Config BaseConfig(absl::Duration shutdown_timeout) {
  Config config;
  config.flush_interval = kInterval;
  config.shutdown_timeout = shutdown_timeout;
  config.listen.udp = {"127.0.0.1:0"};
  config.listen.workers = 1;
  config.prometheus.reset();
  config.console = ConsoleConfig{};
  config.graphite = GraphiteConfig{};
  config.graphite->address = "127.0.0.1:1";
  return config;
}

// The server on a thread of its own, with "console" (never restarted) and "graphite" (a reload
// changes its address) built as TestBackends; the first graphite stops in 2 s.
class ServerTest : public ::testing::Test {
 protected:
  void StartServer(absl::Duration shutdown_timeout) {
    Config config = BaseConfig(shutdown_timeout);
    Config reloaded = config;
    reloaded.graphite->address = "127.0.0.1:2";
    ServerOptions options;
    options.load_config = [reloaded](ConfigOrigins*) { return reloaded; };
    options.start_backend = [log = log_](const Config& c,
                                         BackendKind kind) -> absl::StatusOr<StartedBackend> {
      const bool first_graphite =
          kind == BackendKind::kGraphite && c.graphite->address.back() == '1';
      auto backend = std::make_unique<TestBackend>(
          std::string(BackendName(kind)), first_graphite ? absl::Seconds(2) : absl::ZeroDuration(),
          log);
      return StartedBackend{kind, std::make_unique<backends::BackendRunner>(std::move(backend), 6),
                            ""};
    };
    server_ = std::make_unique<Server>(config, std::move(options));
    ASSERT_TRUE(server_->Start().ok());
    run_ = std::thread([this] { exit_code_ = server_->Run(); });
  }

  bool WaitFor(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time end = absl::Now() + timeout;
    while (!done()) {
      if (absl::Now() > end) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return true;
  }

  void TearDown() override {
    if (run_.joinable()) {
      raise(SIGTERM);
      run_.join();
    }
    server_.reset();
    // Every backend gone, those left to a thread at shutdown included, before the next test.
    EXPECT_TRUE(WaitFor([&] { return log_->destroyed.load() == log_->created.load(); }));
  }

  std::shared_ptr<Log> log_ = std::make_shared<Log>();
  std::unique_ptr<Server> server_;
  std::thread run_;
  int exit_code_ = -1;
};

TEST_F(ServerTest, FlushesKeepTheirScheduleWhileAReloadStopsASlowBackend) {
  StartServer(absl::Seconds(5));
  ASSERT_TRUE(WaitFor([&] { return log_->Of("console").size() >= 2; }));
  raise(SIGHUP);
  // The old graphite takes 2 s to stop; its successor is started after.
  ASSERT_TRUE(WaitFor([&] { return log_->created.load() == 3; }));
  ASSERT_TRUE(WaitFor([&] { return log_->Of("graphite").size() >= log_->Of("console").size(); }));
  const size_t after_restart = log_->Of("console").size();
  ASSERT_TRUE(WaitFor([&] { return log_->Of("console").size() >= after_restart + 2; }));
  raise(SIGTERM);
  run_.join();
  EXPECT_EQ(exit_code_, 0);

  // No interval skipped, none late: the reload's 2 s stop ran beside the flushes.
  std::vector<Log::Received> console = log_->Of("console");
  ASSERT_GE(console.size(), 6u);
  for (size_t i = 1; i < console.size(); ++i) {
    EXPECT_EQ(console[i].stamp - console[i - 1].stamp, kInterval) << "flush " << i;
    // The final flush (SIGTERM) comes before its stamp; the others just after it.
    if (i + 1 < console.size()) {
      EXPECT_LT(console[i].arrived - console[i].stamp, absl::Seconds(1)) << "flush " << i;
    }
  }
  // The flushes made while graphite restarted were held for its successor: it got them all.
  std::vector<Log::Received> graphite = log_->Of("graphite");
  ASSERT_EQ(graphite.size(), console.size());
  for (size_t i = 0; i < console.size(); ++i) EXPECT_EQ(graphite[i].stamp, console[i].stamp);
}

TEST_F(ServerTest, SigtermDuringASlowReloadStopsWithinShutdownTimeout) {
  StartServer(absl::Seconds(1));
  ASSERT_TRUE(WaitFor([&] { return log_->Of("console").size() >= 1; }));
  raise(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return log_->stops_begun.load() == 1; }));
  const absl::Time signalled = absl::Now();
  raise(SIGTERM);
  run_.join();
  const absl::Duration took = absl::Now() - signalled;
  EXPECT_EQ(exit_code_, 0);
  EXPECT_LT(took, absl::Seconds(1) + absl::Milliseconds(300));
  // The restart was still under way: main() exits without waiting for it.
  EXPECT_TRUE(server_->abandoned_threads());
  // The final flush still reached the backend that was not being restarted.
  EXPECT_GE(log_->Of("console").size(), 2u);
  // The restart goes on without the server: the old graphite stops and its successor starts
  // (and goes once nobody holds it: TearDown waits for that).
  EXPECT_TRUE(WaitFor([&] { return log_->created.load() == 3; }));
}

}  // namespace
}  // namespace tallyd::server
