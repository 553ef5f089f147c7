#include "server/backend_factory.h"

#include "absl/strings/str_cat.h"
#include "backends/console.h"
#include "backends/datadog.h"
#include "backends/graphite.h"
#include "backends/prometheus.h"
#include "backends/remote_write.h"

namespace tallyd::server {
namespace {

absl::StatusOr<StartedBackend> StartPrometheus(const Config& config) {
  backends::PrometheusOptions options;
  options.listen = config.prometheus->listen;
  options.timer_type = config.prometheus->timer_type == TimerType::kHistogram
                           ? backends::PrometheusOptions::TimerType::kHistogram
                           : backends::PrometheusOptions::TimerType::kSummary;
  options.quantiles = config.prometheus->quantiles;
  options.buckets = config.prometheus->buckets;
  options.series_ttl = config.aggregation.series_ttl;
  options.max_series = static_cast<uint64_t>(config.aggregation.max_series);
  auto backend = backends::PrometheusBackend::Create(options);
  if (!backend.ok()) return backend.status();
  std::string host = options.listen.substr(0, options.listen.rfind(':'));
  std::string bound = absl::StrCat("prometheus ", host, ":", (*backend)->port());
  return StartedBackend{BackendKind::kPrometheus,
                        std::make_unique<backends::BackendRunner>(
                            std::move(*backend), config.prometheus->max_buffered_flushes),
                        std::move(bound)};
}

absl::StatusOr<StartedBackend> StartConsole(const Config& config) {
  backends::ConsoleOptions options;
  options.self_metrics = config.console->self_metrics;
  return StartedBackend{BackendKind::kConsole,
                        std::make_unique<backends::BackendRunner>(
                            std::make_unique<backends::ConsoleBackend>(options), 6),
                        ""};
}

absl::StatusOr<StartedBackend> StartGraphite(const Config& config) {
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
  options.max_backoff = graphite.max_backoff;
  auto backend = backends::GraphiteBackend::Create(std::move(options));
  if (!backend.ok()) return backend.status();
  return StartedBackend{
      BackendKind::kGraphite,
      std::make_unique<backends::BackendRunner>(std::move(*backend), graphite.max_buffered_flushes),
      ""};
}

absl::StatusOr<StartedBackend> StartDatadog(const Config& config) {
  const DatadogConfig& dd = *config.datadog;
  backends::DatadogOptions options;
  options.url = dd.url;
  options.api_key = dd.api_key;
  options.compression = dd.compression == Compression::kZstd ? backends::DatadogCompression::kZstd
                        : dd.compression == Compression::kNone
                            ? backends::DatadogCompression::kNone
                            : backends::DatadogCompression::kDeflate;
  options.timeout = dd.timeout;
  options.max_backoff = dd.max_backoff;
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
  return StartedBackend{
      BackendKind::kDatadog,
      std::make_unique<backends::BackendRunner>(std::move(*backend), dd.max_buffered_flushes), ""};
}

// "name=value" config items -> (name, value) pairs.
backends::RemoteWriteLabels SplitEntries(const std::vector<std::string>& entries) {
  backends::RemoteWriteLabels pairs;
  for (const std::string& entry : entries) {
    const size_t equals = entry.find('=');
    pairs.emplace_back(entry.substr(0, equals),
                       equals == std::string::npos ? "" : entry.substr(equals + 1));
  }
  return pairs;
}

absl::StatusOr<StartedBackend> StartRemoteWrite(const Config& config) {
  const RemoteWriteConfig& rw = *config.remote_write;
  backends::RemoteWriteOptions options;
  options.url = rw.url;
  options.conversion.timer_type = rw.timer_type == TimerType::kHistogram
                                      ? backends::PrometheusTimerType::kHistogram
                                      : backends::PrometheusTimerType::kSummary;
  options.conversion.quantiles = rw.quantiles;
  options.conversion.buckets = rw.buckets;
  options.conversion.series_ttl = config.aggregation.series_ttl;
  options.external_labels = SplitEntries(rw.external_labels);
  options.max_samples_per_send = static_cast<size_t>(rw.max_samples_per_send);
  options.timeout = rw.timeout;
  options.max_backoff = rw.max_backoff;
  options.username = rw.username;
  options.password = rw.password;
  options.bearer_token = rw.bearer_token;
  options.headers = SplitEntries(rw.headers);
  options.self_metrics = rw.self_metrics;
  auto backend = backends::RemoteWriteBackend::Create(std::move(options));
  if (!backend.ok()) return backend.status();
  return StartedBackend{
      BackendKind::kRemoteWrite,
      std::make_unique<backends::BackendRunner>(std::move(*backend), rw.max_buffered_flushes), ""};
}

}  // namespace

std::string_view BackendName(BackendKind kind) {
  switch (kind) {
    case BackendKind::kPrometheus:
      return "prometheus";
    case BackendKind::kConsole:
      return "console";
    case BackendKind::kGraphite:
      return "graphite";
    case BackendKind::kDatadog:
      return "datadog";
    case BackendKind::kRemoteWrite:
      return "remote_write";
  }
  return "";
}

bool BackendEnabled(const Config& config, BackendKind kind) {
  switch (kind) {
    case BackendKind::kPrometheus:
      return config.prometheus.has_value();
    case BackendKind::kConsole:
      return config.console.has_value();
    case BackendKind::kGraphite:
      return config.graphite.has_value();
    case BackendKind::kDatadog:
      return config.datadog.has_value();
    case BackendKind::kRemoteWrite:
      return config.remote_write.has_value();
  }
  return false;
}

bool BackendSettingsChanged(const Config& running, const Config& fresh, BackendKind kind) {
  // Each backend is built from its own section only, but for Prometheus' and remote write's
  // series_ttl (aggregation.series_ttl), which ApplyLiveSettings sets in place.
  switch (kind) {
    case BackendKind::kPrometheus:
      return running.prometheus != fresh.prometheus;
    case BackendKind::kConsole:
      return running.console != fresh.console;
    case BackendKind::kGraphite:
      return running.graphite != fresh.graphite;
    case BackendKind::kDatadog:
      return running.datadog != fresh.datadog;
    case BackendKind::kRemoteWrite:
      return running.remote_write != fresh.remote_write;
  }
  return true;
}

void CopyBackendSettings(BackendKind kind, const Config& from, Config* to) {
  switch (kind) {
    case BackendKind::kPrometheus:
      to->prometheus = from.prometheus;
      break;
    case BackendKind::kConsole:
      to->console = from.console;
      break;
    case BackendKind::kGraphite:
      to->graphite = from.graphite;
      break;
    case BackendKind::kDatadog:
      to->datadog = from.datadog;
      break;
    case BackendKind::kRemoteWrite:
      to->remote_write = from.remote_write;
      break;
  }
}

absl::StatusOr<StartedBackend> StartBackend(const Config& config, BackendKind kind) {
  switch (kind) {
    case BackendKind::kPrometheus:
      return StartPrometheus(config);
    case BackendKind::kConsole:
      return StartConsole(config);
    case BackendKind::kGraphite:
      return StartGraphite(config);
    case BackendKind::kDatadog:
      return StartDatadog(config);
    case BackendKind::kRemoteWrite:
      return StartRemoteWrite(config);
  }
  return absl::InternalError("unknown backend");
}

void ApplyLiveSettings(const Config& config, StartedBackend* backend) {
  if (backend->kind == BackendKind::kPrometheus) {
    auto& prometheus = static_cast<backends::PrometheusBackend&>(backend->runner->backend());
    prometheus.SetSeriesTtl(config.aggregation.series_ttl);
    prometheus.SetMaxSeries(static_cast<uint64_t>(config.aggregation.max_series));
  }
  if (backend->kind == BackendKind::kRemoteWrite) {
    static_cast<backends::RemoteWriteBackend&>(backend->runner->backend())
        .SetSeriesTtl(config.aggregation.series_ttl);
  }
}

}  // namespace tallyd::server
