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

// `e2e_shape`: bench/e2e's load instead (counters only, no sampling, `tags` tags, ~8 KB
// datagrams), random order.
const Stream& GetStream(size_t series, bool random, int tags = 3, bool e2e_shape = false) {
  static std::map<std::tuple<size_t, bool, int, bool>, std::unique_ptr<Stream>> cache;
  auto& slot = cache[{series, random, tags, e2e_shape}];
  if (slot != nullptr) return *slot;
  // Only one stream alive at a time: the 1M-series ones are a few hundred MB.
  cache.clear();
  auto& fresh = cache[{series, random, tags, e2e_shape}];
  fresh = std::make_unique<Stream>();
  WorkloadOptions options;
  options.series = series;
  options.tags = tags;
  if (!e2e_shape) {
    options.gauge_percent = 15;
    options.timer_percent = 10;
    options.histogram_percent = 5;
    options.sampled_percent = 10;
  }
  fresh->workload = std::make_unique<Workload>(options);
  const size_t length = std::max<size_t>(2'000'000, 2 * series);
  size_t lines_per_datagram = kLinesPerDatagram;
  if (e2e_shape) {
    // As many lines as fit in 8192 bytes, as tallyd-loadgen --datagram_bytes=8192 sends.
    size_t bytes = 0;
    for (size_t i = 0; i < fresh->workload->size(); ++i)
      bytes += fresh->workload->line(i).size() + 1;
    lines_per_datagram = 8192 * fresh->workload->size() / bytes;
  }
  fresh->datagrams =
      fresh->workload->Datagrams(fresh->workload->Order(length, random), lines_per_datagram);
  fresh->lines.reserve(length);
  for (const std::string& d : fresh->datagrams) {
    protocol::ForEachLine(d, [&](std::string_view line) {
      fresh->lines.push_back(protocol::ParseLine(line).metric);
    });
  }
  return *fresh;
}

// One benchmark's shard, fed by its stream. Every series is created and merged once before
// timing; Advance() follows each datagram (or chunk) with the worker's rotation check and, after
// each pass over the stream, ends the interval untimed, as a flush would.
struct Run {
  explicit Run(benchmark::State& state) : Run(GetStream(state.range(0), state.range(1) != 0)) {}
  explicit Run(const Stream& s)
      : stream(s),
        aggregator(aggregator::Options(), absl::Seconds(10)),
        shard(aggregator.AddShard()) {
    for (size_t i = 0; i < stream.workload->size(); ++i) {
      shard->Add(protocol::ParseLine(stream.workload->line(i)).metric);
    }
    EndInterval();
  }
  void EndInterval() {
    const absl::Time now = absl::Now();
    aggregator.RequestRotation(now);
    shard->RotateIfRequested();
    aggregator.Flush(now, now);
  }
  void Advance(benchmark::State& state, size_t passes_of) {
    shard->RotateIfRequested();
    if (++next == passes_of) {
      next = 0;
      state.PauseTiming();
      EndInterval();
      state.ResumeTiming();
    }
  }
  void Report(benchmark::State& state, size_t lines, size_t bytes) const {
    state.SetItemsProcessed(static_cast<int64_t>(lines));
    if (bytes != 0) state.SetBytesProcessed(static_cast<int64_t>(bytes));
    state.counters["series"] = static_cast<double>(shard->series_count());
  }

  const Stream& stream;
  aggregator::Aggregator aggregator;
  aggregator::Shard* shard;
  size_t next = 0;  // datagram (or chunk) index in the stream
};

// args: series, random order (1) or sequential (0).
void BM_ParseAggregate(benchmark::State& state) {
  Run run(state);
  const protocol::ParserOptions parser_options;
  size_t lines = 0, bytes = 0;
  for (auto _ : state) {
    const std::string& datagram = run.stream.datagrams[run.next];
    protocol::ForEachLine(datagram, [&](std::string_view line) {
      const protocol::ParsedLine parsed = protocol::ParseLine(line, parser_options);
      if (parsed.kind == protocol::LineKind::kMetric) run.shard->Add(parsed.metric);
      ++lines;
    });
    bytes += datagram.size();
    run.Advance(state, run.stream.datagrams.size());
  }
  run.Report(state, lines, bytes);
}

// What server/worker.cc does with a datagram (OnData, FlushBatch), less the counters: its metric
// lines are parsed straight into the batch and handed to Shard::AddBatch (group prefetching of
// the lookups) 64 at a time.
void ParseAggregateBatch(benchmark::State& state, Run& run) {
  const protocol::ParserOptions parser_options;
  constexpr size_t kBatchLines = 64;  // as server/worker.h
  protocol::MetricLine batch[kBatchLines];
  protocol::ParsedLine other;  // events, service checks, rejections
  protocol::LineScratch scratch(parser_options.max_line_length + 2);
  size_t lines = 0, bytes = 0;
  for (auto _ : state) {
    const std::string& datagram = run.stream.datagrams[run.next];
    size_t n = 0;
    protocol::ForEachLine(datagram, [&](std::string_view line) {
      if (protocol::ParseLine(line, parser_options, &batch[n], &other, &scratch) ==
              protocol::LineKind::kMetric &&
          ++n == kBatchLines) {
        run.shard->AddBatch(batch, n);
        n = 0;
        scratch.Clear();
      }
      ++lines;
    });
    run.shard->AddBatch(batch, n);
    scratch.Clear();
    bytes += datagram.size();
    run.Advance(state, run.stream.datagrams.size());
  }
  run.Report(state, lines, bytes);
}

void BM_ParseAggregateBatch(benchmark::State& state) {
  Run run(state);
  ParseAggregateBatch(state, run);
}

// The same on bench/e2e's two raw-speed loads (issue 10): args series, tags; counters only,
// ~8 KB datagrams, random order. series:1000/tags:0 is counters-untagged-8k,
// series:100000/tags:3 counters-3tag-8k.
void BM_ParseAggregateE2e(benchmark::State& state) {
  Run run(GetStream(state.range(0), true, static_cast<int>(state.range(1)), true));
  ParseAggregateBatch(state, run);
}

void BM_AggregateOnly(benchmark::State& state) {
  Run run(state);
  const size_t chunks = run.stream.lines.size() / kLinesPerDatagram;
  size_t lines = 0;
  for (auto _ : state) {
    const protocol::MetricLine* chunk = &run.stream.lines[run.next * kLinesPerDatagram];
    for (size_t i = 0; i < kLinesPerDatagram; ++i) run.shard->Add(chunk[i]);
    lines += kLinesPerDatagram;
    run.Advance(state, chunks);
  }
  run.Report(state, lines, 0);
}

void BM_AggregateOnlyBatch(benchmark::State& state) {
  Run run(state);
  const size_t chunks = run.stream.lines.size() / kLinesPerDatagram;
  size_t lines = 0;
  for (auto _ : state) {
    run.shard->AddBatch(&run.stream.lines[run.next * kLinesPerDatagram], kLinesPerDatagram);
    lines += kLinesPerDatagram;
    run.Advance(state, chunks);
  }
  run.Report(state, lines, 0);
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
BENCHMARK(BM_ParseAggregateE2e)->ArgNames({"series", "tags"})->Args({1'000, 0})->Args({100'000, 3});
BENCHMARK(BM_AggregateOnly)->Apply(SeriesArgs);
BENCHMARK(BM_AggregateOnlyBatch)->Apply(SeriesArgs);

}  // namespace
}  // namespace tallyd::bench
