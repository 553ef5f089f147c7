// BM_SetInterval: one busy set cell over many intervals, as a shard sees it: N distinct values
// added, then the interval's Reset(). Measures what a set costs per sample when its exact table
// is (or is not) kept from one interval to the next.
#include <benchmark/benchmark.h>

#include <cstdint>

#include "aggregator/cells.h"

namespace tallyd::bench {
namespace {

void BM_SetInterval(benchmark::State& state) {
  const uint64_t values = static_cast<uint64_t>(state.range(0));
  aggregator::SetCell cell;
  uint64_t base = 0;
  for (auto _ : state) {
    for (uint64_t i = 0; i < values; ++i) cell.Add((base + i) * 0x9E3779B97F4A7C15ull, 4096);
    benchmark::DoNotOptimize(cell.Count());
    cell.Reset();
    base += values;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * values));
}

BENCHMARK(BM_SetInterval)->ArgName("values")->Arg(200)->Arg(1000)->Arg(4000);

}  // namespace
}  // namespace tallyd::bench
