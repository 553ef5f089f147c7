// Flush cost: RequestRotation + Rotate + Aggregator::Flush (merge, percentiles, snapshot) for
// 100k series. Timers carry several samples each, so every flush sorts and summarizes them.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "aggregator/aggregator.h"
#include "bench/workload.h"
#include "protocol/parser.h"

namespace tallyd::bench {
namespace {

// args: series, timer percent (the rest counters and gauges), samples per timer per flush.
void BM_Flush(benchmark::State& state) {
  WorkloadOptions options;
  options.series = state.range(0);
  options.tags = 3;
  options.timer_percent = static_cast<int>(state.range(1));
  options.gauge_percent = (100 - options.timer_percent) / 4;
  const Workload workload(options);
  const int samples = static_cast<int>(state.range(2));
  std::vector<protocol::MetricLine> lines;
  for (size_t i = 0; i < workload.size(); ++i) {
    lines.push_back(protocol::ParseLine(workload.line(i)).metric);
  }
  aggregator::Aggregator aggregator(aggregator::Options(), absl::Seconds(10));
  aggregator::Shard* shard = aggregator.AddShard();
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> latency(0.1, 900);
  auto fill = [&] {
    for (protocol::MetricLine& line : lines) {
      const int n = line.type == protocol::MetricType::kTimer ? samples : 1;
      for (int s = 0; s < n; ++s) {
        line.first_value = latency(rng);
        shard->Add(line);
      }
    }
  };
  fill();  // first interval creates the series
  aggregator.RequestRotation(absl::Now());
  shard->RotateIfRequested();
  aggregator.Flush(absl::Now(), absl::Now());
  size_t reported = 0;
  for (auto _ : state) {
    state.PauseTiming();
    fill();
    state.ResumeTiming();
    const absl::Time now = absl::Now();
    aggregator.RequestRotation(now);
    shard->RotateIfRequested();
    std::shared_ptr<const aggregator::Snapshot> snapshot = aggregator.Flush(now, now);
    reported += snapshot->series.size();
    snapshot.reset();  // backends drop it by the next flush; its teardown is part of the cost
  }
  state.SetItemsProcessed(static_cast<int64_t>(reported));
  state.counters["timer_series"] =
      static_cast<double>(workload.size() * options.timer_percent / 100);
}
BENCHMARK(BM_Flush)
    ->ArgNames({"series", "timer_pct", "samples"})
    ->Args({100'000, 100, 8})
    ->Args({100'000, 20, 8})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tallyd::bench
