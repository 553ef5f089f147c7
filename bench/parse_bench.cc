// Parser throughput on realistic datagrams: ForEachLine + ParseLine over several lines per
// datagram, as server/worker.cc does, for lines with 0, 3 and 10 tags.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench/workload.h"
#include "protocol/parser.h"

namespace tallyd::bench {
namespace {

// args: tags per line, lines per datagram.
void BM_Parse(benchmark::State& state) {
  WorkloadOptions options;
  options.series = 20'000;
  options.tags = static_cast<int>(state.range(0));
  options.gauge_percent = 15;
  options.timer_percent = 10;
  options.histogram_percent = 5;
  options.sampled_percent = 10;
  const Workload workload(options);
  const std::vector<std::string> datagrams =
      workload.Datagrams(workload.Order(200'000, /*random=*/true), state.range(1));
  const protocol::ParserOptions parser_options;
  size_t next = 0, lines = 0, bytes = 0, line_bytes = 0;
  for (auto _ : state) {
    const std::string& datagram = datagrams[next];
    if (++next == datagrams.size()) next = 0;
    protocol::ForEachLine(datagram, [&](std::string_view line) {
      protocol::ParsedLine parsed = protocol::ParseLine(line, parser_options);
      benchmark::DoNotOptimize(parsed);
      ++lines;
      line_bytes += line.size();
    });
    bytes += datagram.size();
  }
  state.SetItemsProcessed(static_cast<int64_t>(lines));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["bytes_per_line"] = static_cast<double>(line_bytes) / lines;
}
BENCHMARK(BM_Parse)
    ->ArgNames({"tags", "lines_per_datagram"})
    ->Args({0, 16})
    ->Args({3, 16})
    ->Args({10, 8})
    ->Args({3, 1});

}  // namespace
}  // namespace tallyd::bench
