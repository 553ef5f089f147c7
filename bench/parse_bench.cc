// Parser throughput on realistic datagrams: ForEachLine + ParseLine over several lines per
// datagram, as server/worker.cc does (one reused ParsedLine, the worker's LineScratch), for
// lines with 0, 3 and 10 tags, written as DogStatsD tags or as InfluxDB tags in the name.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>
#include <vector>

#include "bench/workload.h"
#include "protocol/parser.h"

namespace tallyd::bench {
namespace {

// "name:v|type|@r|#k:v,k2:v2" -> "name,k=v,k2=v2:v|type|@r": the same series, InfluxDB style.
std::string ToInfluxLine(std::string_view line) {
  const size_t hash = line.find("|#");
  if (hash == std::string_view::npos) return std::string(line);
  std::string_view tags = line.substr(hash + 2);
  const size_t end = tags.find('|');
  std::string_view rest = end == std::string_view::npos ? "" : tags.substr(end);
  tags = tags.substr(0, end);
  const size_t colon = line.find(':');
  std::string out(line.substr(0, colon));
  while (!tags.empty()) {
    const size_t comma = tags.find(',');
    std::string tag(tags.substr(0, comma));
    const size_t sep = tag.find(':');
    if (sep != std::string::npos) tag[sep] = '=';
    out += ',';
    out += tag;
    if (comma == std::string_view::npos) break;
    tags.remove_prefix(comma + 1);
  }
  out += line.substr(colon, hash - colon);
  out += rest;
  return out;
}

// args: tags per line, lines per datagram, style (0 DogStatsD, 1 InfluxDB).
void BM_Parse(benchmark::State& state) {
  WorkloadOptions options;
  options.series = 20'000;
  options.tags = static_cast<int>(state.range(0));
  options.gauge_percent = 15;
  options.timer_percent = 10;
  options.histogram_percent = 5;
  options.sampled_percent = 10;
  const Workload workload(options);
  std::vector<std::string> datagrams =
      workload.Datagrams(workload.Order(200'000, /*random=*/true), state.range(1));
  if (state.range(2) == 1) {
    for (std::string& datagram : datagrams) {
      std::string influx;
      protocol::ForEachLine(datagram, [&](std::string_view line) {
        influx += ToInfluxLine(line);
        influx += '\n';
      });
      datagram = std::move(influx);
    }
  }
  const protocol::ParserOptions parser_options;
  protocol::LineScratch scratch(parser_options.max_line_length + 2);
  protocol::ParsedLine parsed;
  size_t next = 0, lines = 0, bytes = 0, line_bytes = 0;
  for (auto _ : state) {
    const std::string& datagram = datagrams[next];
    if (++next == datagrams.size()) next = 0;
    scratch.Clear();  // as the worker does after each batch
    protocol::ForEachLine(datagram, [&](std::string_view line) {
      protocol::ParseLine(line, parser_options, &parsed, &scratch);
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
    ->ArgNames({"tags", "lines_per_datagram", "influx"})
    ->Args({0, 16, 0})
    ->Args({3, 16, 0})
    ->Args({10, 8, 0})
    ->Args({3, 1, 0})
    ->Args({3, 16, 1})
    ->Args({10, 8, 1});

}  // namespace
}  // namespace tallyd::bench
