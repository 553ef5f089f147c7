// Datadog backend's encoding of one flush (no network): 100k series (3 tags; counters, gauges,
// timers, histograms as bench/workload.h mixes them) through the real aggregator into one
// Snapshot, then turned into request bodies as each compression sends them. Reports time per
// flush and, from a counting operator new in this binary, the bytes and blocks allocated per
// flush.
//
//   BM_DatadogThreeCopies: the path the backend took before the streaming encoder: every item a
//     std::string (FormatDatadog), the items joined into a body (Body()), the body compressed
//     into a third buffer (CompressDatadogBody).
//   BM_DatadogEncode: the backend's path (DatadogRequestEncoder via EncodeDatadogRequests): items
//     formatted straight into a reused chunk, compressed chunk by chunk into the request's
//     buffer, buffers kept across flushes.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "aggregator/aggregator.h"
#include "backends/datadog.h"
#include "backends/datadog_encoder.h"
#include "backends/datadog_format.h"
#include "bench/workload.h"
#include "protocol/parser.h"

namespace {
std::atomic<uint64_t> g_allocated_bytes{0};
std::atomic<uint64_t> g_allocations{0};
}  // namespace

// Counting allocator for this binary only: relaxed adds, the cost is the same for both paths.
void* operator new(size_t size) {
  g_allocated_bytes.fetch_add(size, std::memory_order_relaxed);
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace tallyd::bench {
namespace {

using backends::DatadogCompression;

backends::SnapshotPtr HundredThousandSeries() {
  WorkloadOptions options;
  options.series = 100'000;
  options.tags = 3;
  const Workload workload(options);
  aggregator::Aggregator aggregator(aggregator::Options(), absl::Seconds(10));
  aggregator::Shard* shard = aggregator.AddShard();
  for (size_t i = 0; i < workload.size(); ++i) {
    protocol::ParsedLine parsed = protocol::ParseLine(workload.line(i));
    for (int s = 0; s < 4; ++s) shard->Add(parsed.metric);
  }
  const absl::Time now = absl::Now();
  aggregator.RequestRotation(now);
  shard->RotateIfRequested();
  return aggregator.Flush(now, now);
}

const backends::SnapshotPtr& Snapshot() {
  static const backends::SnapshotPtr snapshot = HundredThousandSeries();
  return snapshot;
}

backends::DatadogFormatOptions FormatOptions() {
  backends::DatadogFormatOptions options;
  options.host = "bench-host";
  return options;
}

void Report(benchmark::State& state, uint64_t bytes, uint64_t blocks, uint64_t wire,
            uint64_t requests) {
  const double n = static_cast<double>(state.iterations());
  state.counters["alloc_bytes_per_flush"] = static_cast<double>(bytes) / n;
  state.counters["allocs_per_flush"] = static_cast<double>(blocks) / n;
  state.counters["wire_bytes"] = static_cast<double>(wire) / n;
  state.counters["requests"] = static_cast<double>(requests) / n;
  state.counters["series"] = static_cast<double>(Snapshot()->series.size());
}

void BM_DatadogThreeCopies(benchmark::State& state) {
  const auto compression = static_cast<DatadogCompression>(state.range(0));
  const backends::Flush flush{Snapshot(), nullptr};
  const backends::DatadogFormatOptions options = FormatOptions();
  uint64_t wire = 0, requests = 0;
  const uint64_t bytes0 = g_allocated_bytes.load(), blocks0 = g_allocations.load();
  for (auto _ : state) {
    for (const backends::DatadogPayload& payload :
         backends::FormatDatadog(flush, options, nullptr)) {
      absl::StatusOr<std::string> body = backends::CompressDatadogBody(payload.Body(), compression);
      wire += body->size();
      ++requests;
    }
  }
  Report(state, g_allocated_bytes.load() - bytes0, g_allocations.load() - blocks0, wire, requests);
}
BENCHMARK(BM_DatadogThreeCopies)
    ->ArgName("compression")
    ->Arg(static_cast<int>(DatadogCompression::kDeflate))
    ->Arg(static_cast<int>(DatadogCompression::kZstd))
    ->Arg(static_cast<int>(DatadogCompression::kNone))
    ->Unit(benchmark::kMillisecond);

void BM_DatadogEncode(benchmark::State& state) {
  const auto compression = static_cast<DatadogCompression>(state.range(0));
  const backends::Flush flush{Snapshot(), nullptr};
  const backends::DatadogFormatOptions options = FormatOptions();
  backends::DatadogRequestSet encoder(compression, options);
  encoder.Encode(flush, options, nullptr, nullptr);  // the first flush sizes the buffers
  uint64_t wire = 0, requests = 0;
  const uint64_t bytes0 = g_allocated_bytes.load(), blocks0 = g_allocations.load();
  for (auto _ : state) {
    for (const backends::DatadogRequest& request :
         encoder.Encode(flush, options, nullptr, nullptr)) {
      wire += request.body.size();
      ++requests;
    }
  }
  Report(state, g_allocated_bytes.load() - bytes0, g_allocations.load() - blocks0, wire, requests);
}
BENCHMARK(BM_DatadogEncode)
    ->ArgName("compression")
    ->Arg(static_cast<int>(DatadogCompression::kDeflate))
    ->Arg(static_cast<int>(DatadogCompression::kZstd))
    ->Arg(static_cast<int>(DatadogCompression::kNone))
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tallyd::bench

BENCHMARK_MAIN();
