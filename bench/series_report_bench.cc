// GET /debug/series' report (BuildSeriesReport, backends/series_report.h) of one snapshot, as the
// Prometheus backend builds it after each flush. Reports CPU time per report and, from a counting
// operator new / delete in this binary (glibc malloc_usable_size), the peak of the heap a report
// takes beyond what was in use before it, per series, for the first report (which also
// allocates what SeriesReport keeps for the next ones) and for the next ones (the transient
// memory per flush in steady state; the report it returns is a few KiB of it).
//
//   BM_SeriesReport/N: N untagged counter series, N distinct names (the Graphite-style names of
//     bench/workload.h: the worst case, every name a row to tally).
//   BM_SeriesReportTagged/N: N series of 80 names with 3 tags each, 20 % timers: few names, and
//     the kept names' series go through the second pass (distinct values per tag key).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "aggregator/snapshot.h"
#include "backends/series_report.h"
#include "bench/workload.h"
#include "protocol/parser.h"

namespace {
std::atomic<int64_t> g_in_use{0};
std::atomic<int64_t> g_peak{0};

void Count(void* p) {
  const int64_t now =
      g_in_use.fetch_add(static_cast<int64_t>(malloc_usable_size(p)), std::memory_order_relaxed) +
      static_cast<int64_t>(malloc_usable_size(p));
  int64_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}
}  // namespace

// This binary only: the bytes every operator new holds, and their peak.
void* operator new(size_t size) {
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    Count(p);
    return p;
  }
  throw std::bad_alloc();
}
// GCC cannot tell that this operator new's block comes from malloc: the free is matched.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  g_in_use.fetch_sub(static_cast<int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
  std::free(p);
}
void operator delete(void* p, size_t) noexcept { operator delete(p); }

namespace tallyd::bench {
namespace {

aggregator::Snapshot MakeSnapshot(size_t series, int tags) {
  WorkloadOptions options;
  options.series = series;
  options.tags = tags;
  if (tags > 0) options.timer_percent = 20;
  const Workload workload(options);
  aggregator::Snapshot snapshot;
  snapshot.sequence = 2;
  snapshot.flush_unix_seconds = 1700000000;
  snapshot.interval = absl::Seconds(10);
  snapshot.series.reserve(series);
  for (size_t i = 0; i < workload.size(); ++i) {
    protocol::MetricLine line = protocol::ParseLine(workload.line(i)).metric;
    aggregator::SeriesValue v;
    // The workload's tags are sorted: canonical as they are.
    v.key = aggregator::SeriesKey::Make(i + 1, line.type, line.name, line.tags);
    v.value = 3;
    if (line.type == aggregator::MetricType::kTimer) {
      aggregator::SampleSummary summary;
      summary.samples = 1 + i % 7;
      v.summary = static_cast<int32_t>(snapshot.summaries.size());
      snapshot.summaries.push_back(summary);
    }
    snapshot.series.push_back(std::move(v));
    ++snapshot.stats.series_active[static_cast<int>(line.type)];
  }
  return snapshot;
}

// The heap `report.Update(snapshot)` takes at its peak beyond what was in use before it.
int64_t PeakOfUpdate(backends::SeriesReport& report, const aggregator::Snapshot& snapshot) {
  const int64_t before = g_in_use.load(std::memory_order_relaxed);
  g_peak.store(before, std::memory_order_relaxed);
  report.Update(snapshot);
  return g_peak.load(std::memory_order_relaxed) - before;
}

void Run(benchmark::State& state, int tags) {
  const aggregator::Snapshot snapshot = MakeSnapshot(static_cast<size_t>(state.range(0)), tags);
  const double series = static_cast<double>(state.range(0));
  backends::SeriesReport report(/*max_series=*/2'000'000);
  // The first report also allocates what SeriesReport keeps for the next ones.
  const int64_t first = PeakOfUpdate(report, snapshot);
  int64_t steady = 0;
  for (auto _ : state) steady = std::max(steady, PeakOfUpdate(report, snapshot));
  benchmark::DoNotOptimize(report.Latest());
  state.counters["first_peak_B_per_series"] = static_cast<double>(first) / series;
  state.counters["steady_peak_B_per_series"] = static_cast<double>(steady) / series;
  state.counters["steady_peak_KiB"] = static_cast<double>(steady) / 1024;
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_SeriesReport(benchmark::State& state) { Run(state, 0); }
void BM_SeriesReportTagged(benchmark::State& state) { Run(state, 3); }

BENCHMARK(BM_SeriesReport)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SeriesReportTagged)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tallyd::bench
