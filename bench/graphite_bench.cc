// The Graphite flush path for 1M live untagged counter series (the issue 10 memory workload):
// the heap it holds beyond the snapshot (glibc mallinfo2, bytes in use), whole text (the old
// FormatGraphite, still the tests' reference) against GraphiteChunks' reusable chunk as the
// backend uses it, and the time per series. The figure that matters is held_bytes: the snapshot
// is shared with the other backends, the text is the Graphite path's own.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "aggregator/snapshot.h"
#include "backends/graphite_format.h"
#include "bench/workload.h"
#include "protocol/parser.h"

namespace tallyd::bench {
namespace {

double HeapInUse() {
  struct mallinfo2 info = mallinfo2();
  return static_cast<double>(info.uordblks + info.hblkhd);
}

backends::Flush CounterFlush(size_t series) {
  WorkloadOptions options;
  options.series = series;
  options.tags = 0;
  const Workload workload(options);
  auto snapshot = std::make_shared<aggregator::Snapshot>();
  snapshot->flush_unix_seconds = 1700000000;
  snapshot->interval = absl::Seconds(1);
  snapshot->series.reserve(series);
  for (size_t i = 0; i < workload.size(); ++i) {
    protocol::MetricLine line = protocol::ParseLine(workload.line(i)).metric;
    snapshot->series.push_back(
        {.key = aggregator::SeriesKey::Make(i + 1, aggregator::MetricType::kCounter, line.name, ""),
         .value = 3});
  }
  return backends::Flush{std::move(snapshot), nullptr};
}

// arg: 0 whole text (FormatGraphite), 1 chunks of GraphiteChunks::kDefaultChunkBytes.
void BM_GraphiteFlushMemory(benchmark::State& state) {
  const size_t series = 1'000'000;
  const backends::Flush flush = CounterFlush(series);
  const backends::GraphiteFormatOptions options;
  double held = 0, text = 0;
  for (auto _ : state) {
    const double before = HeapInUse();
    if (state.range(0) == 0) {
      std::string whole = backends::FormatGraphite(flush, options);
      held = HeapInUse() - before;
      text = static_cast<double>(whole.size());
      benchmark::DoNotOptimize(whole.data());
    } else {
      backends::GraphiteChunks chunks(flush, options);
      std::string chunk;
      double most = 0, total = 0;
      while (chunks.Next(chunk)) {
        most = std::max(most, HeapInUse() - before);
        total += static_cast<double>(chunk.size());
        benchmark::DoNotOptimize(chunk.data());
      }
      held = most;
      text = total;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * series));
  state.counters["held_bytes"] = held;
  state.counters["text_bytes"] = text;
}
BENCHMARK(BM_GraphiteFlushMemory)
    ->ArgName("chunked")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

}  // namespace
}  // namespace tallyd::bench
