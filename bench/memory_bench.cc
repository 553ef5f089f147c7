// Memory per live counter series, shard and flush side together: the growth of the heap in use
// (glibc mallinfo2: bytes handed out plus chunk overhead, mmapped blocks included, plus what
// the aggregator maps itself: the key arena's runs in use and the huge-page arrays) and of the
// resident set, per series, minus the series' own name and tag bytes. One iteration: the figure is
// a size, not a time.
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "aggregator/aggregator.h"
#include "aggregator/huge_pages.h"
#include "aggregator/key_arena.h"
#include "bench/workload.h"
#include "protocol/parser.h"

namespace tallyd::bench {
namespace {

double HeapInUse() {
  struct mallinfo2 info = mallinfo2();
  const aggregator::KeyArena::Stats keys = aggregator::KeyArena::stats();
  return static_cast<double>(info.uordblks + info.hblkhd +
                             keys.runs_in_use * aggregator::KeyArena::kRunBytes +
                             aggregator::HugeAwareBytesMapped());
}

double ResidentBytes() {
  long pages_total = 0, pages_resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// args: series, tags sorted (1: the raw spelling is canonical; 0: the shard also keeps an alias).
void BM_MemoryPerCounterSeries(benchmark::State& state) {
  const size_t n = state.range(0);
  WorkloadOptions options;
  options.series = n;
  options.tags = 3;
  options.sorted_tags = state.range(1) != 0;
  const Workload workload(options);
  std::vector<protocol::MetricLine> lines;
  lines.reserve(n);
  double key_bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    lines.push_back(protocol::ParseLine(workload.line(i)).metric);
    key_bytes += static_cast<double>(lines.back().name.size() + lines.back().tags.size());
  }
  key_bytes /= static_cast<double>(n);
  for (auto _ : state) {
    malloc_trim(0);
    const double heap_before = HeapInUse();
    const double rss_before = ResidentBytes();
    double heap_steady = 0, rss_steady = 0, heap_with_snapshot = 0;
    {
      aggregator::Aggregator aggregator(aggregator::Options(), absl::Seconds(10));
      aggregator::Shard* shard = aggregator.AddShard();
      // Two intervals with samples for every series: both of the shard's intervals are sized,
      // the flush side has every key, and the creation lists are gone.
      for (int round = 0; round < 2; ++round) {
        for (const protocol::MetricLine& line : lines) shard->Add(line);
        const absl::Time now = absl::Now();
        aggregator.RequestRotation(now);
        shard->RotateIfRequested();
        std::shared_ptr<const aggregator::Snapshot> snapshot = aggregator.Flush(now, now);
        heap_with_snapshot = HeapInUse();
      }
      heap_steady = HeapInUse();
      rss_steady = ResidentBytes();
      benchmark::DoNotOptimize(shard);
    }
    const double per = static_cast<double>(n);
    state.counters["key_bytes"] = key_bytes;
    state.counters["heap_per_series"] = (heap_steady - heap_before) / per - key_bytes;
    state.counters["rss_per_series"] = (rss_steady - rss_before) / per - key_bytes;
    state.counters["heap_with_snapshot"] = (heap_with_snapshot - heap_before) / per - key_bytes;
  }
}
BENCHMARK(BM_MemoryPerCounterSeries)
    ->ArgNames({"series", "sorted_tags"})
    ->Args({100'000, 1})
    ->Args({1'000'000, 1})
    ->Args({1'000'000, 0})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tallyd::bench
