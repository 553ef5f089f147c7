#include "server/backend_factory.h"

#include "absl/strings/str_cat.h"
#include "backends/console.h"
#include "backends/datadog.h"
#include "backends/graphite.h"
#include "backends/prometheus.h"

namespace tallyd::server {

absl::StatusOr<std::vector<std::unique_ptr<backends::BackendRunner>>> StartBackends(
    const Config& config, std::vector<std::string>* bound) {
  std::vector<std::unique_ptr<backends::BackendRunner>> runners;
  if (config.prometheus) {
    backends::PrometheusOptions options;
    options.listen = config.prometheus->listen;
    options.timer_type = config.prometheus->timer_type == TimerType::kHistogram
                             ? backends::PrometheusOptions::TimerType::kHistogram
                             : backends::PrometheusOptions::TimerType::kSummary;
    options.quantiles = config.prometheus->quantiles;
    options.buckets = config.prometheus->buckets;
    options.series_ttl = config.aggregation.series_ttl;
    auto backend = backends::PrometheusBackend::Create(options);
    if (!backend.ok()) return backend.status();
    std::string host = options.listen.substr(0, options.listen.rfind(':'));
    bound->push_back(absl::StrCat("prometheus ", host, ":", (*backend)->port()));
    runners.push_back(std::make_unique<backends::BackendRunner>(
        std::move(*backend), config.prometheus->max_buffered_flushes));
  }
  if (config.console) {
    backends::ConsoleOptions options;
    options.self_metrics = config.console->self_metrics;
    runners.push_back(std::make_unique<backends::BackendRunner>(
        std::make_unique<backends::ConsoleBackend>(options), 6));
  }
  if (config.graphite) {
    const GraphiteConfig& graphite = *config.graphite;
    backends::GraphiteOptions options;
    options.address = graphite.address;
    options.format.legacy_namespace = graphite.legacy_namespace;
    options.format.tags = graphite.tags == GraphiteTags::kGraphite;
    options.format.global_prefix = graphite.global_prefix;
    options.format.prefix_counter = graphite.prefix_counter;
    options.format.prefix_timer = graphite.prefix_timer;
    options.format.prefix_gauge = graphite.prefix_gauge;
    options.format.prefix_set = graphite.prefix_set;
    options.format.global_suffix = graphite.global_suffix;
    options.format.self_metrics = graphite.self_metrics;
    options.connect_timeout = graphite.connect_timeout;
    options.write_timeout = graphite.write_timeout;
    auto backend = backends::GraphiteBackend::Create(std::move(options));
    if (!backend.ok()) return backend.status();
    runners.push_back(std::make_unique<backends::BackendRunner>(std::move(*backend),
                                                                graphite.max_buffered_flushes));
  }
  if (config.datadog) {
    const DatadogConfig& dd = *config.datadog;
    backends::DatadogOptions options;
    options.url = dd.url;
    options.api_key = dd.api_key;
    options.compression = dd.compression == Compression::kZstd ? backends::DatadogCompression::kZstd
                          : dd.compression == Compression::kNone
                              ? backends::DatadogCompression::kNone
                              : backends::DatadogCompression::kDeflate;
    options.timeout = dd.timeout;
    options.format.host = dd.host;
    options.format.percentiles = dd.datadog_percentiles;
    options.format.self_metrics = dd.self_metrics;
    options.format.max_distribution_values = dd.max_distribution_values;
    options.format.aggregates.clear();
    for (HistogramAggregate aggregate : dd.histogram_aggregates) {
      using backends::DatadogAggregate;
      switch (aggregate) {
        case HistogramAggregate::kMax:
          options.format.aggregates.push_back(DatadogAggregate::kMax);
          break;
        case HistogramAggregate::kMedian:
          options.format.aggregates.push_back(DatadogAggregate::kMedian);
          break;
        case HistogramAggregate::kAvg:
          options.format.aggregates.push_back(DatadogAggregate::kAvg);
          break;
        case HistogramAggregate::kCount:
          options.format.aggregates.push_back(DatadogAggregate::kCount);
          break;
        case HistogramAggregate::kMin:
          options.format.aggregates.push_back(DatadogAggregate::kMin);
          break;
        case HistogramAggregate::kSum:
          options.format.aggregates.push_back(DatadogAggregate::kSum);
          break;
      }
    }
    auto backend = backends::DatadogBackend::Create(std::move(options));
    if (!backend.ok()) return backend.status();
    runners.push_back(
        std::make_unique<backends::BackendRunner>(std::move(*backend), dd.max_buffered_flushes));
  }
  return runners;
}

}  // namespace tallyd::server
