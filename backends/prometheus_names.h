// backends/prometheus_names.h: StatsD names and tags -> Prometheus metric and label names, the way
// Prometheus' statsd_exporter escapes them (SPEC 4.1), so existing dashboards keep working.
//
// Pure functions, no state: PrometheusState calls them once per new series, writing into its
// reused buffers (a first flush may bring a million names: none allocates per name).
#ifndef TALLYD_BACKENDS_PROMETHEUS_NAMES_H_
#define TALLYD_BACKENDS_PROMETHEUS_NAMES_H_

#include <string>
#include <string_view>

namespace tallyd::backends {

// Appends `name` sanitized to *out: every character outside [a-zA-Z0-9_] becomes '_' (a
// multi-byte UTF-8 character becomes one '_', as statsd_exporter replaces runes), and a leading
// digit of `name` gets a '_' prefix. "" appends nothing.
void AppendPrometheusName(std::string_view name, std::string* out);

// A label name after SanitizePrometheusName is usable unless it is empty or starts with "__"
// (reserved for Prometheus' internal labels).
bool IsUsableLabelName(std::string_view sanitized);

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_PROMETHEUS_NAMES_H_
