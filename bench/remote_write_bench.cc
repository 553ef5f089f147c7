// The remote write push cost per flush for 100k live counter series with 4 tags each (the bench
// workload: host, env, endpoint, status), plus the external `host` label:
// - BM_RemoteWriteEncode: the WriteRequests alone (labels merged and sorted, protobuf serialized,
//   snappy-compressed, cut at max_samples_per_send = 2000) from the converted series;
// - BM_RemoteWriteFlush: what the backend does on its thread per flush: PrometheusState::Update
//   (the conversion shared with the scrape endpoint), the visit, and the encoding.
// Counters: bytes_on_wire (compressed bodies per flush), protobuf_bytes (before snappy),
// requests; time per flush is the benchmark's own. bench/README.md has figures and the command.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "aggregator/snapshot.h"
#include "backends/prometheus_state.h"
#include "backends/remote_write_format.h"
#include "bench/workload.h"
#include "protocol/parser.h"

namespace tallyd::bench {
namespace {

constexpr size_t kSeries = 100'000;

backends::Flush TaggedCounterFlush(size_t series) {
  WorkloadOptions options;
  options.series = series;
  options.tags = 4;
  const Workload workload(options);
  auto snapshot = std::make_shared<aggregator::Snapshot>();
  snapshot->sequence = 1;
  snapshot->flush_unix_seconds = 1700000000;
  snapshot->flush_time = absl::FromUnixSeconds(snapshot->flush_unix_seconds);
  snapshot->interval = absl::Seconds(10);
  snapshot->series.reserve(series);
  for (size_t i = 0; i < workload.size(); ++i) {
    protocol::MetricLine line = protocol::ParseLine(workload.line(i)).metric;
    snapshot->series.push_back({.key = aggregator::SeriesKey::Make(
                                    i + 1, aggregator::MetricType::kCounter, line.name, line.tags),
                                .value = 3});
  }
  return backends::Flush{std::move(snapshot), nullptr};
}

// The converted series, copied out of the state once, so that BM_RemoteWriteEncode times the
// encoding alone.
struct Converted {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value;
};

class Collect : public backends::PrometheusVisitor {
 public:
  explicit Collect(std::vector<Converted>* out) : out_(out) {}
  void Family(const backends::PrometheusFamilyView& family) override { name_ = family.name; }
  void Series(const backends::PrometheusSeriesView& series) override {
    Converted& c = out_->emplace_back();
    c.name = name_;
    for (const auto& label : series.labels) c.labels.emplace_back(label.name, label.value);
    c.value = series.value;
  }

 private:
  std::vector<Converted>* out_;
  std::string name_;
};

class Encode : public backends::PrometheusVisitor {
 public:
  explicit Encode(backends::RemoteWriteEncoder* encoder) : encoder_(encoder) {}
  void Family(const backends::PrometheusFamilyView& family) override { name_ = family.name; }
  void Series(const backends::PrometheusSeriesView& series) override {
    encoder_->Add(name_, series.labels, series.value);
  }

 private:
  backends::RemoteWriteEncoder* encoder_;
  std::string name_;
};

void Report(benchmark::State& state, const std::vector<backends::RemoteWriteRequest>& requests) {
  double wire = 0, raw = 0;
  for (const auto& r : requests) {
    wire += static_cast<double>(r.body.size());
    raw += static_cast<double>(r.uncompressed_bytes);
  }
  state.counters["bytes_on_wire"] = wire;
  state.counters["protobuf_bytes"] = raw;
  state.counters["requests"] = static_cast<double>(requests.size());
  state.counters["series"] = static_cast<double>(kSeries);
}

const backends::RemoteWriteLabels kExternal = {{"host", "tallyd-bench-host"}};

void BM_RemoteWriteEncode(benchmark::State& state) {
  const backends::Flush flush = TaggedCounterFlush(kSeries);
  backends::PrometheusState prom_state({});
  prom_state.Update(flush);
  std::vector<Converted> series;
  Collect collect(&series);
  prom_state.Visit(collect);
  std::vector<backends::RemoteWriteRequest> requests;
  for (auto _ : state) {
    backends::RemoteWriteEncoder encoder(kExternal, 2000, 1700000000000);
    for (const Converted& c : series) encoder.Add(c.name, c.labels, c.value);
    requests = encoder.Finish();
    benchmark::DoNotOptimize(requests.data());
  }
  Report(state, requests);
}
BENCHMARK(BM_RemoteWriteEncode)->Unit(benchmark::kMillisecond);

void BM_RemoteWriteFlush(benchmark::State& state) {
  const backends::Flush flush = TaggedCounterFlush(kSeries);
  backends::PrometheusState prom_state({});
  prom_state.Update(flush);  // the series exist already, as in the steady state
  std::vector<backends::RemoteWriteRequest> requests;
  for (auto _ : state) {
    prom_state.Update(flush);
    backends::RemoteWriteEncoder encoder(kExternal, 2000, 1700000000000);
    Encode encode(&encoder);
    prom_state.Visit(encode);
    requests = encoder.Finish();
    benchmark::DoNotOptimize(requests.data());
  }
  Report(state, requests);
}
BENCHMARK(BM_RemoteWriteFlush)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tallyd::bench
