#include "server/backend_factory.h"

#include "absl/strings/str_cat.h"
#include "backends/console.h"
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
    return absl::UnimplementedError("the graphite backend is not built yet (issue 4)");
  }
  if (config.datadog) {
    return absl::UnimplementedError("the datadog backend is not built yet (issue 4)");
  }
  return runners;
}

}  // namespace tallyd::server
