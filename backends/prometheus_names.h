// backends/prometheus_names.h: StatsD names and tags -> Prometheus metric and label names, the way
// Prometheus' statsd_exporter escapes them (SPEC 4.1), so existing dashboards keep working.
//
// Pure functions, no state: PrometheusBackend calls them once per new series.
#ifndef TALLYD_BACKENDS_PROMETHEUS_NAMES_H_
#define TALLYD_BACKENDS_PROMETHEUS_NAMES_H_

#include <string>
#include <string_view>

namespace tallyd::backends {

// Every character outside [a-zA-Z0-9_] becomes '_' (a multi-byte UTF-8 character becomes one
// '_', as statsd_exporter replaces runes), and a leading digit gets a '_' prefix. "" stays "".
std::string SanitizePrometheusName(std::string_view name);

// A label name after SanitizePrometheusName is usable unless it is empty or starts with "__"
// (reserved for Prometheus' internal labels).
bool IsUsableLabelName(std::string_view sanitized);

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_PROMETHEUS_NAMES_H_
