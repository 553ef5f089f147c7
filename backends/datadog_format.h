// backends/datadog_format.h: a flush as the JSON bodies Datadog's HTTP API takes (SPEC 4.3).
//
// Pure functions, golden-tested; backends/datadog.cc owns compression, HTTP and retries. Series
// are shaped as the Datadog Agent's DogStatsD pipeline sends them (pkg/metrics: counter.go,
// histogram.go, set.go), so dashboards built on the Agent read the same:
// - counter -> POST /api/v2/series type 2 (rate), value = count per second, interval = flush
//   interval. An idle counter sends 0 until series_ttl expires it, as the Agent sends 0 for idle
//   counters until dogstatsd_expiry_seconds (default 300 s, our series_ttl default).
// - gauge -> type 3 (gauge). An idle gauge re-sends its last value until series_ttl, as SPEC 3
//   says for every backend (the Agent itself does not re-send; `resend_idle_gauges = false`
//   gives its behaviour).
// - timer, histogram -> `<name>.<aggregate>` per `aggregates`: max, min, median, avg, sum as
//   gauges, count as a rate (weighted count per second); `.<P>percentile` gauges for each
//   percentile p in (0, 1], P = int(p * 100 + 0.5) (0.95 -> ".95percentile"). As the Agent:
//   median is the sample of rank (n-1)/2 and the P percentile the sample of rank (P*n-1)/100
//   (integer division) of the ascending samples — exact while the series is exact, within
//   sketch_accuracy once sketched. Sample rates weight count (and sum = avg * count, the Agent's
//   weighted sum when a series uses one rate), never the ranks. Idle ones send nothing.
// - set -> gauge `<name>` = distinct count; idle sets send nothing.
// - distribution -> POST /api/v1/distribution_points (see DatadogFormatOptions for the values).
// - a client-timestamped point (|T) -> its own series point at its own timestamp, as the Agent's
//   no-aggregation pipeline: counters (and sets) type 1 (count), gauges, timers and histograms
//   type 3, distributions one value in distribution_points.
// - tags are the canonical "k:v" strings; a `host:<name>` tag sets the series' host and is
//   removed from the tags (DogStatsD's host tag), else the host is `host` (resources
//   [{"name":host,"type":"host"}] in v2, "host" in v1).
// - tallyd's own metrics (self_metrics) as `tallyd.<name without tallyd_>`, labels as tags:
//   gauges as type 3, running totals as type 1 (count) of the increase since the previous flush.
// - events -> POST /api/v1/events, one body each; service checks -> POST /api/v1/check_run.
#ifndef TALLYD_BACKENDS_DATADOG_FORMAT_H_
#define TALLYD_BACKENDS_DATADOG_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backends/backend.h"

namespace tallyd::backends {

enum class DatadogEndpoint { kSeries, kDistributionPoints, kCheckRun, kEvents };

// "/api/v2/series", "/api/v1/distribution_points", "/api/v1/check_run", "/api/v1/events".
std::string_view DatadogPath(DatadogEndpoint endpoint);

// What one request to an endpoint may hold. v2 series: 500 KB (512000 bytes) compressed and
// 5 MiB decompressed, as Datadog's API reference documents; at most 10000 series per request
// (the Agent's serializer_max_series_points_per_payload). The v1 endpoints document no size, so
// they get the Agent's serializer defaults (serializer_max_payload_size 2.5 MiB compressed,
// serializer_max_uncompressed_payload_size 4 MiB). Events go one per request, as v1 takes them.
struct DatadogLimits {
  size_t max_compressed = 0;    // bytes on the wire
  size_t max_uncompressed = 0;  // JSON bytes
  size_t max_items = 0;         // series or checks per request; 0: no limit
};
DatadogLimits DatadogLimitsFor(DatadogEndpoint endpoint);

enum class DatadogAggregate { kMax, kMin, kMedian, kAvg, kSum, kCount };

struct DatadogFormatOptions {
  std::string host;                          // default host of every series, event and check
  std::vector<double> percentiles = {0.95};  // each in (0, 1]
  std::vector<DatadogAggregate> aggregates = {DatadogAggregate::kMax, DatadogAggregate::kMedian,
                                              DatadogAggregate::kAvg, DatadogAggregate::kCount};
  bool self_metrics = false;
  bool resend_idle_gauges = true;  // SPEC 3; false: as the Datadog Agent
  // Distribution values per series per flush. distribution_points takes raw values (Datadog
  // builds the sketch), so an exact series sends its samples as they came (at most
  // exact_samples). A sketched series sends each DDSketch bucket's representative (within
  // sketch_accuracy of every sample in it) once per sample, so Datadog's count, sum and
  // percentiles stay right; past this many values the multiplicities are scaled down in
  // proportion (every non-empty bucket keeps at least one value): percentiles stay within the
  // accuracy, but Datadog's count and sum for that series undercount, and the formatter counts
  // it (DatadogFormatStats::distributions_scaled). Sample rates never weight the values.
  size_t max_distribution_values = 65536;
  DatadogLimits series_limits = DatadogLimitsFor(DatadogEndpoint::kSeries);
  DatadogLimits distribution_limits = DatadogLimitsFor(DatadogEndpoint::kDistributionPoints);
  DatadogLimits check_run_limits = DatadogLimitsFor(DatadogEndpoint::kCheckRun);
};

// One request's content: complete JSON values (a series, a check, an event) that Body() wraps
// in the endpoint's envelope ({"series":[...]}, [...], or the event itself). Kept as items so a
// body that compresses above the limit can be split on whole series (SplitDatadogPayload).
struct DatadogPayload {
  DatadogEndpoint endpoint = DatadogEndpoint::kSeries;
  std::vector<std::string> items;
  size_t item_bytes = 0;  // sum of the items' sizes
  std::string Body() const;
};

struct DatadogFormatStats {
  uint64_t series = 0;                // v2 series written
  uint64_t distributions_scaled = 0;  // distribution series over max_distribution_values
  uint64_t values_skipped = 0;        // NaN or infinite values (JSON cannot carry them)
};

// The running totals of tallyd's own counters at the previous flush, keyed by name and labels,
// so that each flush sends the increase. Owned by the caller (the backend), updated by the call.
using SelfMetricTotals = std::map<std::string, double, std::less<>>;

// Where FormatDatadogInto writes: each item is appended straight to the buffer the sink hands
// out, so a point is formatted once, where it will be compressed from (DatadogRequestEncoder),
// never as a string of its own.
class DatadogItemSink {
 public:
  virtual ~DatadogItemSink() = default;
  // The buffer one complete JSON item of `endpoint` is to be appended to, after what it holds.
  virtual std::string& BeginItem(DatadogEndpoint endpoint) = 0;
  // The item appended since BeginItem is complete (`keep`), or to be forgotten (a distribution
  // none of whose values JSON can carry).
  virtual void EndItem(DatadogEndpoint endpoint, bool keep) = 0;
};

// Writes every item of one flush to `sink`: per endpoint in the order FormatDatadog's payloads
// hold them (series, distribution points, service checks, events).
void FormatDatadogInto(const Flush& flush, const DatadogFormatOptions& options,
                       SelfMetricTotals* totals, DatadogItemSink* sink,
                       DatadogFormatStats* stats = nullptr);

// Every request for one flush as lists of items, in sending order: series, distribution points,
// service checks, events. Each payload stays within its endpoint's max_uncompressed and
// max_items (an item larger than max_uncompressed on its own gets a payload of its own). For
// tests and tools: the backend streams FormatDatadogInto into its encoders instead.
std::vector<DatadogPayload> FormatDatadog(const Flush& flush, const DatadogFormatOptions& options,
                                          SelfMetricTotals* totals,
                                          DatadogFormatStats* stats = nullptr);

// Splits a payload of two or more items into two of about equal size, items kept in order.
std::pair<DatadogPayload, DatadogPayload> SplitDatadogPayload(DatadogPayload payload);

// ".95percentile" for 0.95, as the Agent names percentiles.
std::string DatadogPercentileSuffix(double p);

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_DATADOG_FORMAT_H_
