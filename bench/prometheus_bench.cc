// The Prometheus backend's state and scrape for N live untagged counter series (the issue 10
// memory workload): the first flush (every series new), a steady flush (every series known),
// the heap the state holds per series (glibc mallinfo2, bytes in use), and a scrape rendered as
// the backend renders it (batches of 1024 series into a text buffer drained at 256 KiB).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <memory>
#include <string>
#include <vector>

#include "aggregator/snapshot.h"
#include "backends/prometheus.h"
#include "backends/prometheus_state.h"
#include "backends/prometheus_text.h"
#include "bench/workload.h"
#include "protocol/parser.h"

namespace tallyd::bench {
namespace {

double HeapInUse() {
  struct mallinfo2 info = mallinfo2();
  return static_cast<double>(info.uordblks + info.hblkhd);
}

// Flush `sequence` of the same `series` counters (3 per flush each).
backends::Flush CounterFlush(const std::vector<aggregator::SeriesKeyRef>& keys, int sequence) {
  auto snapshot = std::make_shared<aggregator::Snapshot>();
  snapshot->sequence = sequence;
  snapshot->flush_unix_seconds = 1700000000 + sequence;
  snapshot->flush_time = absl::FromUnixSeconds(snapshot->flush_unix_seconds);
  snapshot->interval = absl::Seconds(1);
  snapshot->series.reserve(keys.size());
  for (const aggregator::SeriesKeyRef& key : keys)
    snapshot->series.push_back({.key = key, .value = 3});
  return backends::Flush{std::move(snapshot), nullptr};
}

std::vector<aggregator::SeriesKeyRef> CounterKeys(size_t series) {
  WorkloadOptions options;
  options.series = series;
  options.tags = 0;
  const Workload workload(options);
  std::vector<aggregator::SeriesKeyRef> keys;
  keys.reserve(series);
  for (size_t i = 0; i < workload.size(); ++i) {
    protocol::MetricLine line = protocol::ParseLine(workload.line(i)).metric;
    keys.push_back(
        aggregator::SeriesKey::Make(i + 1, aggregator::MetricType::kCounter, line.name, ""));
  }
  return keys;
}

// The first flush of N new series: resolution, naming and the sorted order built once.
void BM_PrometheusFirstUpdate(benchmark::State& state) {
  const auto keys = CounterKeys(static_cast<size_t>(state.range(0)));
  const backends::Flush flush = CounterFlush(keys, 1);
  double held = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto prometheus =
        std::make_unique<backends::PrometheusState>(backends::PrometheusConversionOptions{});
    const double before = HeapInUse();
    state.ResumeTiming();
    prometheus->Update(flush);
    state.PauseTiming();
    held = HeapInUse() - before;
    prometheus.reset();
    state.ResumeTiming();
  }
  state.counters["held_bytes_per_series"] = held / static_cast<double>(keys.size());
  // What the names themselves take (the rest is the state's bookkeeping).
  double name_bytes = 0;
  for (const aggregator::SeriesKeyRef& key : keys) name_bytes += key->name().size();
  state.counters["name_bytes_per_series"] = name_bytes / static_cast<double>(keys.size());
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

// The backend's whole Deliver of a steady flush (the state's fold, then /debug/series' report).
void BM_PrometheusBackendSteadyDeliver(benchmark::State& state) {
  const auto keys = CounterKeys(static_cast<size_t>(state.range(0)));
  backends::PrometheusOptions options;
  options.listen = "127.0.0.1:0";
  auto backend = backends::PrometheusBackend::Create(options);
  if (!backend.ok()) {
    state.SkipWithError(std::string(backend.status().message()).c_str());
    return;
  }
  (*backend)->Deliver(CounterFlush(keys, 1));
  const backends::Flush flush = CounterFlush(keys, 2);
  for (auto _ : state) (*backend)->Deliver(flush);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

// A flush of N series the state already holds: the steady state, every flush.
void BM_PrometheusSteadyUpdate(benchmark::State& state) {
  const auto keys = CounterKeys(static_cast<size_t>(state.range(0)));
  backends::PrometheusState prometheus(backends::PrometheusConversionOptions{});
  prometheus.Update(CounterFlush(keys, 1));
  const backends::Flush flush = CounterFlush(keys, 2);
  for (auto _ : state) prometheus.Update(flush);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

// Renders the whole state per iteration, in the ~256 KiB chunks /metrics sends.
void ScrapeLoop(benchmark::State& state, const backends::PrometheusState& prometheus) {
  std::string text;
  size_t bytes = 0;
  for (auto _ : state) {
    bytes = 0;
    backends::PrometheusTextWriter writer(&text);
    backends::PrometheusState::Cursor cursor;
    while (!cursor.done()) {
      prometheus.VisitBatch(cursor, 1024, writer);
      if (text.size() >= 256 * 1024) {
        bytes += text.size();
        benchmark::DoNotOptimize(text.data());
        text.clear();
      }
    }
    bytes += text.size();
    text.clear();
  }
  state.counters["scrape_bytes"] = static_cast<double>(bytes);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_PrometheusScrape(benchmark::State& state) {
  const auto keys = CounterKeys(static_cast<size_t>(state.range(0)));
  backends::PrometheusState prometheus(backends::PrometheusConversionOptions{});
  prometheus.Update(CounterFlush(keys, 1));
  ScrapeLoop(state, prometheus);
}

// Timers as histograms (11 buckets) or summaries (3 quantiles), 3 samples each: the lines a
// scrape writes per bucket or quantile.
void BM_PrometheusScrapeObservers(benchmark::State& state) {
  const auto counter_keys = CounterKeys(static_cast<size_t>(state.range(0)));
  backends::PrometheusConversionOptions options;
  options.timer_type = state.range(1) != 0 ? backends::PrometheusTimerType::kHistogram
                                           : backends::PrometheusTimerType::kSummary;
  backends::PrometheusState prometheus(options);
  auto snapshot = std::make_shared<aggregator::Snapshot>();
  snapshot->sequence = 1;
  snapshot->flush_time = absl::FromUnixSeconds(1700000000);
  for (size_t i = 0; i < counter_keys.size(); ++i) {
    aggregator::SampleSummary summary;
    summary.samples = 3;
    summary.count = 3;
    summary.sum = 12;
    summary.distribution = aggregator::ValueDistribution::Exact({1, 4, 7});
    snapshot->summaries.push_back(std::move(summary));
    snapshot->series.push_back(
        {.key = aggregator::SeriesKey::Make(i + 1, aggregator::MetricType::kTimer,
                                            counter_keys[i]->name(), ""),
         .value = 0,
         .summary = static_cast<int32_t>(i)});
  }
  prometheus.Update(backends::Flush{std::move(snapshot), nullptr});
  ScrapeLoop(state, prometheus);
}

BENCHMARK(BM_PrometheusFirstUpdate)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PrometheusBackendSteadyDeliver)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PrometheusSteadyUpdate)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PrometheusScrape)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PrometheusScrapeObservers)
    ->Args({100'000, 0})
    ->Args({100'000, 1})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tallyd::bench
