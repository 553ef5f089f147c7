// backends/prometheus_names.h: StatsD names and tags -> Prometheus metric and label names, the way
// Prometheus' statsd_exporter escapes them (SPEC 4.1), so existing dashboards keep working.
//
// Pure functions, no state: PrometheusState calls them once per new series, writing into its
// reused buffers (a first flush may bring a million names: none allocates per name).
#ifndef TALLYD_BACKENDS_PROMETHEUS_NAMES_H_
#define TALLYD_BACKENDS_PROMETHEUS_NAMES_H_

#include <array>
#include <string>
#include <string_view>

namespace tallyd::backends {

// Appends `name` sanitized to *out: every character outside [a-zA-Z0-9_] becomes '_' (a
// multi-byte UTF-8 character becomes one '_', as statsd_exporter replaces runes), and a leading
// digit of `name` gets a '_' prefix. "" appends nothing.
void AppendPrometheusName(std::string_view name, std::string* out);

namespace prometheus_names_internal {
// A table rather than comparisons: a scrape sanitizes every family name it writes (~45 bytes
// each, a million of them at 1M series).
inline constexpr std::array<char, 256> kSanitizedByte = [] {
  std::array<char, 256> table{};
  for (int c = 0; c < 256; ++c) {
    const bool keep =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    table[c] = keep ? static_cast<char>(c) : '_';
  }
  return table;
}();
}  // namespace prometheus_names_internal

// The byte AppendPrometheusName writes for an ASCII byte past a name's first: itself if it is in
// [a-zA-Z0-9_], else '_'.
inline char SanitizedNameByte(char c) {
  return prometheus_names_internal::kSanitizedByte[static_cast<unsigned char>(c)];
}

// Whether AppendPrometheusName(name) is `name` with each byte passed through SanitizedNameByte
// (same length): a non-empty name of ASCII bytes (no multi-byte character to fold) not starting
// with a digit (no prefix). Most StatsD names ("prod.web-1.requests") are such, so PrometheusState
// may read them from the SeriesKey instead of keeping a sanitized copy.
bool SanitizesBytewise(std::string_view name);

// A label name after AppendPrometheusName is usable unless it is empty or starts with "__"
// (reserved for Prometheus' internal labels).
bool IsUsableLabelName(std::string_view sanitized);

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_PROMETHEUS_NAMES_H_
