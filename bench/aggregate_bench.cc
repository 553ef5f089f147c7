// Aggregation throughput into 1k, 100k and 1M live series: parse + Shard::Add per line, parse +
// Shard::AddBatch per datagram (what a worker does with a datagram), and Shard::Add /
// Shard::AddBatch alone on pre-parsed lines, with the series in random (realistic: many clients
// interleave) or sequential order.
//
// Every series is created and merged once before timing, so the figures are for known series;
// after each pass over the stream the shard rotates and the flush side merges (untimed), as a
// flush interval would.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/time/clock.h"
#include "aggregator/aggregator.h"
#include "bench/workload.h"
#include "protocol/parser.h"

namespace tallyd::bench {
namespace {

constexpr size_t kLinesPerDatagram = 16;

// The realistic mix: mostly counters, some gauges, timers and histograms, 3 tags per line.
struct Stream {
  std::unique_ptr<Workload> workload;
  std::vector<std::string> datagrams;
  std::vector<protocol::MetricLine> lines;  // parsed, viewing `datagrams`
};

const Stream& GetStream(size_t series, bool random) {
  static std::map<std::pair<size_t, bool>, std::unique_ptr<Stream>> cache;
  auto& slot = cache[{series, random}];
  if (slot != nullptr) return *slot;
  // Only one stream alive at a time: the 1M-series ones are a few hundred MB.
  cache.clear();
  auto& fresh = cache[{series, random}];
  fresh = std::make_unique<Stream>();
  WorkloadOptions options;
  options.series = series;
  options.tags = 3;
  options.gauge_percent = 15;
  options.timer_percent = 10;
  options.histogram_percent = 5;
  options.sampled_percent = 10;
  fresh->workload = std::make_unique<Workload>(options);
  const size_t length = std::max<size_t>(2'000'000, 2 * series);
  fresh->datagrams =
      fresh->workload->Datagrams(fresh->workload->Order(length, random), kLinesPerDatagram);
  fresh->lines.reserve(length);
  for (const std::string& d : fresh->datagrams) {
    protocol::ForEachLine(d, [&](std::string_view line) {
      fresh->lines.push_back(protocol::ParseLine(line).metric);
    });
  }
  return *fresh;
}

// Creates every series of the workload and merges them once, so the timed loop sees known
// series only.
void WarmUp(const Workload& workload, aggregator::Aggregator& aggregator,
            aggregator::Shard& shard) {
  for (size_t i = 0; i < workload.size(); ++i) {
    shard.Add(protocol::ParseLine(workload.line(i)).metric);
  }
  const absl::Time now = absl::Now();
  aggregator.RequestRotation(now);
  shard.RotateIfRequested();
  aggregator.Flush(now);
}

void EndInterval(aggregator::Aggregator& aggregator, aggregator::Shard& shard) {
  const absl::Time now = absl::Now();
  aggregator.RequestRotation(now);
  shard.RotateIfRequested();
  aggregator.Flush(now);
}

// args: series, random order (1) or sequential (0).
void BM_ParseAggregate(benchmark::State& state) {
  const Stream& stream = GetStream(state.range(0), state.range(1) != 0);
  aggregator::Aggregator aggregator(aggregator::Options(), absl::Seconds(10));
  aggregator::Shard* shard = aggregator.AddShard();
  WarmUp(*stream.workload, aggregator, *shard);
  const protocol::ParserOptions parser_options;
  size_t next = 0, lines = 0, bytes = 0;
  for (auto _ : state) {
    const std::string& datagram = stream.datagrams[next];
    protocol::ForEachLine(datagram, [&](std::string_view line) {
      const protocol::ParsedLine parsed = protocol::ParseLine(line, parser_options);
      if (parsed.kind == protocol::LineKind::kMetric) shard->Add(parsed.metric);
      ++lines;
    });
    bytes += datagram.size();
    shard->RotateIfRequested();  // as the worker does after each batch
    if (++next == stream.datagrams.size()) {
      next = 0;
      state.PauseTiming();
      EndInterval(aggregator, *shard);
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(lines));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["series"] = static_cast<double>(shard->series_count());
}

// BM_ParseAggregate as the worker does it now: the datagram's metric lines are collected, then
// handed to Shard::AddBatch (group prefetching of the lookups) in one call.
void BM_ParseAggregateBatch(benchmark::State& state) {
  const Stream& stream = GetStream(state.range(0), state.range(1) != 0);
  aggregator::Aggregator aggregator(aggregator::Options(), absl::Seconds(10));
  aggregator::Shard* shard = aggregator.AddShard();
  WarmUp(*stream.workload, aggregator, *shard);
  const protocol::ParserOptions parser_options;
  constexpr size_t kBatchLines = 64;  // as server/worker.h
  protocol::MetricLine batch[kBatchLines];
  size_t next = 0, lines = 0, bytes = 0;
  protocol::ParsedLine parsed;  // reused from line to line, as the worker does
  for (auto _ : state) {
    const std::string& datagram = stream.datagrams[next];
    size_t n = 0;
    protocol::ForEachLine(datagram, [&](std::string_view line) {
      protocol::ParseLine(line, parser_options, &parsed);
      if (parsed.kind == protocol::LineKind::kMetric) {
        batch[n++] = parsed.metric;
        if (n == kBatchLines) {
          shard->AddBatch(batch, n);
          n = 0;
        }
      }
      ++lines;
    });
    shard->AddBatch(batch, n);
    bytes += datagram.size();
    shard->RotateIfRequested();
    if (++next == stream.datagrams.size()) {
      next = 0;
      state.PauseTiming();
      EndInterval(aggregator, *shard);
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(lines));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["series"] = static_cast<double>(shard->series_count());
}

void BM_AggregateOnly(benchmark::State& state) {
  const Stream& stream = GetStream(state.range(0), state.range(1) != 0);
  aggregator::Aggregator aggregator(aggregator::Options(), absl::Seconds(10));
  aggregator::Shard* shard = aggregator.AddShard();
  WarmUp(*stream.workload, aggregator, *shard);
  const size_t chunks = stream.lines.size() / kLinesPerDatagram;
  size_t next = 0, lines = 0;
  for (auto _ : state) {
    const protocol::MetricLine* chunk = &stream.lines[next * kLinesPerDatagram];
    for (size_t i = 0; i < kLinesPerDatagram; ++i) shard->Add(chunk[i]);
    lines += kLinesPerDatagram;
    shard->RotateIfRequested();
    if (++next == chunks) {
      next = 0;
      state.PauseTiming();
      EndInterval(aggregator, *shard);
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(lines));
  state.counters["series"] = static_cast<double>(shard->series_count());
}

void BM_AggregateOnlyBatch(benchmark::State& state) {
  const Stream& stream = GetStream(state.range(0), state.range(1) != 0);
  aggregator::Aggregator aggregator(aggregator::Options(), absl::Seconds(10));
  aggregator::Shard* shard = aggregator.AddShard();
  WarmUp(*stream.workload, aggregator, *shard);
  const size_t chunks = stream.lines.size() / kLinesPerDatagram;
  size_t next = 0, lines = 0;
  for (auto _ : state) {
    shard->AddBatch(&stream.lines[next * kLinesPerDatagram], kLinesPerDatagram);
    lines += kLinesPerDatagram;
    shard->RotateIfRequested();
    if (++next == chunks) {
      next = 0;
      state.PauseTiming();
      EndInterval(aggregator, *shard);
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(lines));
  state.counters["series"] = static_cast<double>(shard->series_count());
}

void SeriesArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"series", "random"});
  for (int64_t series : {1'000, 100'000, 1'000'000}) {
    b->Args({series, 1});
    b->Args({series, 0});
  }
}
BENCHMARK(BM_ParseAggregate)->Apply(SeriesArgs);
BENCHMARK(BM_ParseAggregateBatch)->Apply(SeriesArgs);
BENCHMARK(BM_AggregateOnly)->Apply(SeriesArgs);
BENCHMARK(BM_AggregateOnlyBatch)->Apply(SeriesArgs);

}  // namespace
}  // namespace tallyd::bench
