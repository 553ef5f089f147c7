// Workers write their shards while the flush thread rotates and merges: nothing lost, nothing
// counted twice. Also run under -DTALLYD_TSAN=ON.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "aggregator/aggregator.h"

namespace tallyd::aggregator {
namespace {

using protocol::MetricLine;
using protocol::MetricType;

TEST(ConcurrencyTest, TotalCountEqualsWhatWasWritten) {
  constexpr int kWorkers = 4;
  constexpr int kLinesPerWorker = 200'000;
  constexpr int kSeries = 500;
  Options o;
  o.exact_samples = 64;
  Aggregator aggregator(o, absl::Seconds(1));
  std::vector<Shard*> shards;
  for (int i = 0; i < kWorkers; ++i) shards.push_back(aggregator.AddShard());
  std::vector<std::string> names;
  for (int i = 0; i < kSeries; ++i) names.push_back("series." + std::to_string(i));

  std::atomic<int> running{kWorkers};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      Shard* shard = shards[w];
      for (int i = 0; i < kLinesPerWorker; ++i) {
        MetricLine line;
        line.name = names[(i * 31 + w) % kSeries];
        line.type = i % 2 ? MetricType::kCounter : MetricType::kTimer;
        line.values = "1";
        line.value_count = 1;
        line.first_value = 1;
        shard->Add(line);
        if (i % 256 == 0) shard->RotateIfRequested();
      }
      running.fetch_sub(1);
      // Keep answering rotation requests until the flush thread is done, as an idle worker does.
      while (running.load() >= 0) {
        shard->RotateIfRequested();
        std::this_thread::yield();
      }
    });
  }

  double counters = 0, timer_samples = 0;
  auto account = [&](const Snapshot& s) {
    for (const SeriesValue& v : s.series) {
      if (v.key->type() == MetricType::kCounter) counters += v.value;
      if (const SampleSummary* sum = s.SummaryOf(v)) timer_samples += sum->count;
    }
  };
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  int flushes = 0;
  while (running.load() > 0) {
    now += absl::Seconds(1);
    aggregator.RequestRotation(now);
    aggregator.AwaitRotation(absl::Now() + absl::Milliseconds(50));
    account(*aggregator.Flush(now, now));
    ++flushes;
  }
  // Drain: one more requested rotation of every shard after all writes finished.
  for (int i = 0; i < 2; ++i) {
    now += absl::Seconds(1);
    aggregator.RequestRotation(now);
    EXPECT_TRUE(aggregator.AwaitRotation(absl::Now() + absl::Seconds(10)));
    account(*aggregator.Flush(now, now));
  }
  running.store(-1);
  for (auto& t : workers) t.join();
  EXPECT_GT(flushes, 0);
  EXPECT_EQ(counters, kWorkers * kLinesPerWorker / 2);
  EXPECT_EQ(timer_samples, kWorkers * kLinesPerWorker / 2);
}

}  // namespace
}  // namespace tallyd::aggregator
