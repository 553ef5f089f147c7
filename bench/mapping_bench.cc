// statsd_exporter mapping (SPEC 7): what a mapping file costs where it runs, when a line creates
// a series. BM_MappingMatch times Mapping::Match alone on a 1 000-rule glob file (and a 100-rule
// regex file, RE2 in file order, for contrast); BM_SeriesCreation times a shard creating new
// series (each line a name it has not seen) with no mapping file and with the 1 000-rule file:
// items per second there are series created per second. Known series never reach the mapping.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "aggregator/shard.h"
#include "mapping/mapping.h"
#include "protocol/parser.h"

namespace tallyd::bench {
namespace {

constexpr int kRules = 1000;

// app<i>.*.request.* -> app_requests{app="app<i>", method="$1", code="$2"}, one rule per app,
// plus a drop rule per app for its debug names: 2 000 glob patterns sharing components.
std::shared_ptr<const mapping::Mapping> GlobRules() {
  static std::shared_ptr<const mapping::Mapping> rules = [] {
    std::string yaml = "mappings:\n";
    for (int i = 0; i < kRules; ++i) {
      const std::string app = "app" + std::to_string(i);
      yaml += "- match: " + app + ".*.request.*\n  name: app_requests\n  labels:\n    app: " + app +
              "\n    method: $1\n    code: $2\n";
      yaml += "- match: " + app + ".debug.*.*\n  name: dropped\n  action: drop\n";
    }
    return *mapping::Mapping::Parse(yaml, "bench.yml");
  }();
  return rules;
}

std::shared_ptr<const mapping::Mapping> RegexRules() {
  static std::shared_ptr<const mapping::Mapping> rules = [] {
    std::string yaml = "mappings:\n";
    for (int i = 0; i < 100; ++i) {
      yaml += "- match: ^app" + std::to_string(i) +
              "\\.(\\w+)\\.request\\.(\\d+)$\n  match_type: regex\n  name: app_requests\n"
              "  labels:\n    method: $1\n    code: $2\n";
    }
    return *mapping::Mapping::Parse(yaml, "bench.yml");
  }();
  return rules;
}

// Distinct names spread over the apps (and so over the rules).
std::vector<std::string> Names(size_t n, int apps) {
  std::vector<std::string> names;
  names.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    names.push_back("app" + std::to_string(i * 7919 % apps) + ".m" + std::to_string(i) +
                    ".request." + std::to_string(200 + i % 300));
  }
  return names;
}

void BM_MappingMatch(benchmark::State& state) {
  const bool regex = state.range(0) == 1;
  std::shared_ptr<const mapping::Mapping> rules = regex ? RegexRules() : GlobRules();
  const std::vector<std::string> names = Names(4096, regex ? 100 : kRules);
  mapping::MatchResult result;
  size_t i = 0;
  for (auto _ : state) {
    rules->Match(names[i++ & 4095], protocol::MetricType::kCounter, &result);
    benchmark::DoNotOptimize(result.name.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(regex ? "100 regex rules" : "2000 glob rules (1000 map + 1000 drop)");
}
BENCHMARK(BM_MappingMatch)->Arg(0)->Arg(1);

void BM_SeriesCreation(benchmark::State& state) {
  const bool with_rules = state.range(0) == 1;
  constexpr size_t kSeries = 100'000;
  const std::vector<std::string> text = [&] {
    std::vector<std::string> out;
    for (const std::string& name : Names(kSeries, kRules)) out.push_back(name + ":1|c|#host:a");
    return out;
  }();
  std::vector<protocol::MetricLine> lines;
  for (const std::string& t : text) lines.push_back(protocol::ParseLine(t).metric);
  aggregator::Options options;
  options.max_series = 10'000'000;
  if (with_rules) options.mapping = GlobRules();
  auto shared = std::make_shared<const aggregator::Options>(options);
  for (auto _ : state) {
    state.PauseTiming();
    auto registry = std::make_unique<aggregator::SeriesRegistry>();
    registry->SetLimits(options.max_series, options.max_series_per_metric);
    auto shard = std::make_unique<aggregator::Shard>(shared, registry.get());
    state.ResumeTiming();
    for (const protocol::MetricLine& line : lines) shard->Add(line);
    benchmark::DoNotOptimize(shard->series_count());
    state.PauseTiming();
    shard.reset();
    registry.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kSeries);
  state.SetLabel(with_rules ? "2000-rule mapping file" : "no mapping file");
}
BENCHMARK(BM_SeriesCreation)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tallyd::bench
