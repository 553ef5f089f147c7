// The config key table: every leaf key with its YAML path, flag name and setter. Setters check
// syntax and type only; ranges and cross-key rules live in ValidateConfig (config.cc) so that
// they also cover the flags and configs built in code.
#include "config/config_keys.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace tallyd::config_internal {
namespace {

absl::Status Expected(absl::string_view what, absl::string_view text) {
  return absl::InvalidArgumentError(absl::StrCat("must be ", what, ", got ", Quote(text)));
}

template <typename T>
absl::Status ParseInt(absl::string_view text, T* out) {
  int64_t value = 0;
  // Only a positive value is compared as uint64_t (a negative one would turn huge), so that "-1"
  // for a signed key reaches ValidateConfig's range message rather than "must be an integer".
  if (!absl::SimpleAtoi(text, &value) || value < int64_t{std::numeric_limits<T>::min()} ||
      (value > 0 && static_cast<uint64_t>(value) > uint64_t{std::numeric_limits<T>::max()})) {
    return Expected("an integer", text);
  }
  *out = static_cast<T>(value);
  return absl::OkStatus();
}

absl::Status ParseNumber(absl::string_view text, double* out) {
  double value = 0;
  if (!absl::SimpleAtod(text, &value) || !std::isfinite(value)) return Expected("a number", text);
  *out = value;
  return absl::OkStatus();
}

absl::Status ParseBool(absl::string_view text, bool* out) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "true" || lower == "yes" || lower == "on") {
    *out = true;
  } else if (lower == "false" || lower == "no" || lower == "off") {
    *out = false;
  } else {
    return Expected("true or false", text);
  }
  return absl::OkStatus();
}

absl::Status ParseSizeInto(absl::string_view text, int64_t* out) {
  auto size = ParseSize(text);
  if (!size.ok()) return absl::InvalidArgumentError(size.status().message());
  *out = *size;
  return absl::OkStatus();
}

absl::Status ParseDurationInto(absl::string_view text, absl::Duration* out) {
  auto duration = ParseDuration(text);
  if (!duration.ok()) return absl::InvalidArgumentError(duration.status().message());
  *out = *duration;
  return absl::OkStatus();
}

// File modes are always octal, as chmod takes them: "722", "0722" and "0o722" are the same.
absl::Status ParseMode(absl::string_view text, uint32_t* out) {
  absl::string_view digits = text;
  if (absl::StartsWith(digits, "0o") || absl::StartsWith(digits, "0O")) digits.remove_prefix(2);
  if (digits.empty() || digits.size() > 5) return Expected("an octal file mode like 0722", text);
  uint32_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '7') return Expected("an octal file mode like 0722", text);
    value = value * 8 + static_cast<uint32_t>(c - '0');
  }
  *out = value;
  return absl::OkStatus();
}

template <typename E, size_t N>
absl::Status ParseEnum(absl::string_view text, const std::array<E, N>& values, E* out) {
  std::vector<absl::string_view> names;
  for (E value : values) {
    if (text == Name(value)) {
      *out = value;
      return absl::OkStatus();
    }
    names.push_back(Name(value));
  }
  return Expected(absl::StrCat("one of ", absl::StrJoin(names, ", ")), text);
}

constexpr std::array kLogLevels = {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning,
                                   LogLevel::kError};
constexpr std::array kGaugeModes = {GaugeMode::kDogStatsD, GaugeMode::kEtsy};
constexpr std::array kTimerTypes = {TimerType::kSummary, TimerType::kHistogram};
constexpr std::array kGraphiteTags = {GraphiteTags::kGraphite, GraphiteTags::kNone};
constexpr std::array kCompressions = {Compression::kDeflate, Compression::kZstd,
                                      Compression::kNone};
constexpr std::array kAggregates = {HistogramAggregate::kMax, HistogramAggregate::kMedian,
                                    HistogramAggregate::kAvg, HistogramAggregate::kCount,
                                    HistogramAggregate::kMin, HistogramAggregate::kSum};

template <typename T, typename Parse>
absl::Status ParseList(const std::vector<std::string>& items, Parse parse, std::vector<T>* out,
                       size_t* bad_index) {
  std::vector<T> values(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    if (absl::Status status = parse(items[i], &values[i]); !status.ok()) {
      *bad_index = i;
      return status;
    }
  }
  *out = std::move(values);
  return absl::OkStatus();
}

absl::Status ParseNumbers(const std::vector<std::string>& items, std::vector<double>* out,
                          size_t* bad_index) {
  return ParseList<double>(items, ParseNumber, out, bad_index);
}

absl::Status ParseStrings(const std::vector<std::string>& items, std::vector<std::string>* out,
                          size_t* bad_index) {
  *out = items;
  return absl::OkStatus();
}

// The section of a backend key; setting any key of a backend turns that backend on.
template <typename T>
T& On(std::optional<T>& backend) {
  if (!backend.has_value()) backend.emplace();
  return *backend;
}

absl::Status SetString(absl::string_view text, std::string* out) {
  *out = std::string(text);
  return absl::OkStatus();
}

// Captureless lambdas keep each row on a few lines; they convert to the setter pointers.
const ConfigKey
    kKeys[] =
        {
            {"flush_interval", "flush_interval", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseDurationInto(v, &c.flush_interval);
             }},
            {"shutdown_timeout", "shutdown_timeout", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseDurationInto(v, &c.shutdown_timeout);
             }},
            {"log_level", "log_level", KeyKind::kScalar,
             [](Config& c, absl::string_view v) { return ParseEnum(v, kLogLevels, &c.log_level); }},

            // listen
            {"listen.udp", "udp", KeyKind::kList, nullptr,
             [](Config& c, const std::vector<std::string>& v, size_t* bad) {
               return ParseStrings(v, &c.listen.udp, bad);
             }},
            {"listen.tcp", "tcp", KeyKind::kList, nullptr,
             [](Config& c, const std::vector<std::string>& v, size_t* bad) {
               return ParseStrings(v, &c.listen.tcp, bad);
             }},
            {"listen.unix", "unix", KeyKind::kList, nullptr,
             [](Config& c, const std::vector<std::string>& v, size_t* bad) {
               return ParseStrings(v, &c.listen.unix_sockets, bad);
             }},
            {"listen.workers", "workers", KeyKind::kScalar,
             [](Config& c, absl::string_view v) { return ParseInt(v, &c.listen.workers); }},
            {"listen.receive_buffer", "receive_buffer", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseSizeInto(v, &c.listen.receive_buffer);
             }},
            {"listen.max_packet_size", "max_packet_size", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseSizeInto(v, &c.listen.max_packet_size);
             }},
            {"listen.tcp_max_connections", "tcp_max_connections", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseInt(v, &c.listen.tcp_max_connections);
             }},
            {"listen.tcp_idle_timeout", "tcp_idle_timeout", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseDurationInto(v, &c.listen.tcp_idle_timeout);
             }},
            {"listen.max_line_length", "max_line_length", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseSizeInto(v, &c.listen.max_line_length);
             }},
            {"listen.max_tags", "max_tags", KeyKind::kScalar,
             [](Config& c, absl::string_view v) { return ParseInt(v, &c.listen.max_tags); }},
            {"listen.unix_socket_mode", "unix_socket_mode", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseMode(v, &c.listen.unix_socket_mode);
             }},

            // aggregation
            {"aggregation.percentiles", "percentiles", KeyKind::kList, nullptr,
             [](Config& c, const std::vector<std::string>& v, size_t* bad) {
               return ParseNumbers(v, &c.aggregation.percentiles, bad);
             }},
            {"aggregation.exact_samples", "exact_samples", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseInt(v, &c.aggregation.exact_samples);
             }},
            {"aggregation.sketch_accuracy", "sketch_accuracy", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseNumber(v, &c.aggregation.sketch_accuracy);
             }},
            {"aggregation.exact_set_size", "exact_set_size", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseInt(v, &c.aggregation.exact_set_size);
             }},
            {"aggregation.gauge_mode", "gauge_mode", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseEnum(v, kGaugeModes, &c.aggregation.gauge_mode);
             }},
            {"aggregation.series_ttl", "series_ttl", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseDurationInto(v, &c.aggregation.series_ttl);
             }},
            {"aggregation.max_series", "max_series", KeyKind::kScalar,
             [](Config& c, absl::string_view v) { return ParseInt(v, &c.aggregation.max_series); }},
            {"aggregation.max_timestamped_points", "max_timestamped_points", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseInt(v, &c.aggregation.max_timestamped_points);
             }},
            {"aggregation.max_events", "max_events", KeyKind::kScalar,
             [](Config& c, absl::string_view v) { return ParseInt(v, &c.aggregation.max_events); }},
            {"aggregation.global_tags", "global_tags", KeyKind::kList, nullptr,
             [](Config& c, const std::vector<std::string>& v, size_t* bad) {
               return ParseStrings(v, &c.aggregation.global_tags, bad);
             }},

            // backends.prometheus
            {"backends.prometheus.listen", "prometheus_listen", KeyKind::kScalar,
             [](Config& c, absl::string_view v) { return SetString(v, &On(c.prometheus).listen); }},
            {"backends.prometheus.timer_type", "prometheus_timer_type", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseEnum(v, kTimerTypes, &On(c.prometheus).timer_type);
             }},
            {"backends.prometheus.quantiles", "prometheus_quantiles", KeyKind::kList, nullptr,
             [](Config& c, const std::vector<std::string>& v, size_t* bad) {
               return ParseNumbers(v, &On(c.prometheus).quantiles, bad);
             }},
            {"backends.prometheus.buckets", "prometheus_buckets", KeyKind::kList, nullptr,
             [](Config& c, const std::vector<std::string>& v, size_t* bad) {
               return ParseNumbers(v, &On(c.prometheus).buckets, bad);
             }},
            {"backends.prometheus.max_buffered_flushes", "prometheus_max_buffered_flushes",
             KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseInt(v, &On(c.prometheus).max_buffered_flushes);
             }},

            // backends.graphite
            {"backends.graphite.address", "graphite_address", KeyKind::kScalar,
             [](Config& c, absl::string_view v) { return SetString(v, &On(c.graphite).address); }},
            {"backends.graphite.legacy_namespace", "graphite_legacy_namespace", KeyKind::kBool,
             [](Config& c, absl::string_view v) {
               return ParseBool(v, &On(c.graphite).legacy_namespace);
             }},
            {"backends.graphite.tags", "graphite_tags", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseEnum(v, kGraphiteTags, &On(c.graphite).tags);
             }},
            {"backends.graphite.global_prefix", "graphite_global_prefix", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return SetString(v, &On(c.graphite).global_prefix);
             }},
            {"backends.graphite.prefix_counter", "graphite_prefix_counter", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return SetString(v, &On(c.graphite).prefix_counter);
             }},
            {"backends.graphite.prefix_timer", "graphite_prefix_timer", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return SetString(v, &On(c.graphite).prefix_timer);
             }},
            {"backends.graphite.prefix_gauge", "graphite_prefix_gauge", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return SetString(v, &On(c.graphite).prefix_gauge);
             }},
            {"backends.graphite.prefix_set", "graphite_prefix_set", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return SetString(v, &On(c.graphite).prefix_set);
             }},
            {"backends.graphite.global_suffix", "graphite_global_suffix", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return SetString(v, &On(c.graphite).global_suffix);
             }},
            {"backends.graphite.max_buffered_flushes", "graphite_max_buffered_flushes",
             KeyKind::kScalar,
             [](Config& c,
                absl::string_view v) { return ParseInt(v, &On(c.graphite).max_buffered_flushes); }},
            {"backends.graphite.connect_timeout", "graphite_connect_timeout", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseDurationInto(v, &On(c.graphite).connect_timeout);
             }},
            {"backends.graphite.write_timeout", "graphite_write_timeout", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseDurationInto(v, &On(c.graphite).write_timeout);
             }},
            {"backends.graphite.self_metrics", "graphite_self_metrics", KeyKind::kBool,
             [](Config& c, absl::string_view v) {
               return ParseBool(v, &On(c.graphite).self_metrics);
             }},

            // backends.datadog
            {"backends.datadog.url", "datadog_url", KeyKind::kScalar,
             [](Config& c, absl::string_view v) { return SetString(v, &On(c.datadog).url); }},
            {"backends.datadog.site", "datadog_site", KeyKind::kScalar,
             [](Config& c, absl::string_view v) { return SetString(v, &On(c.datadog).site); }},
            {"backends.datadog.api_key", "datadog_api_key", KeyKind::kScalar,
             [](Config& c, absl::string_view v) { return SetString(v, &On(c.datadog).api_key); }},
            {"backends.datadog.compression", "datadog_compression", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseEnum(v, kCompressions, &On(c.datadog).compression);
             }},
            {"backends.datadog.host", "datadog_host", KeyKind::kScalar,
             [](Config& c, absl::string_view v) { return SetString(v, &On(c.datadog).host); }},
            {"backends.datadog.datadog_percentiles", "datadog_percentiles", KeyKind::kList, nullptr,
             [](Config& c, const std::vector<std::string>& v, size_t* bad) {
               return ParseNumbers(v, &On(c.datadog).datadog_percentiles, bad);
             }},
            {"backends.datadog.histogram_aggregates", "datadog_histogram_aggregates",
             KeyKind::kList, nullptr,
             [](Config& c, const std::vector<std::string>& v, size_t* bad) {
               return ParseList<HistogramAggregate>(
                   v,
                   [](absl::string_view text, HistogramAggregate* out) {
                     return ParseEnum(text, kAggregates, out);
                   },
                   &On(c.datadog).histogram_aggregates, bad);
             }},
            {"backends.datadog.timeout", "datadog_timeout", KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseDurationInto(v, &On(c.datadog).timeout);
             }},
            {"backends.datadog.max_buffered_flushes", "datadog_max_buffered_flushes",
             KeyKind::kScalar,
             [](Config& c,
                absl::string_view v) { return ParseInt(v, &On(c.datadog).max_buffered_flushes); }},
            {"backends.datadog.max_distribution_values", "datadog_max_distribution_values",
             KeyKind::kScalar,
             [](Config& c, absl::string_view v) {
               return ParseInt(v, &On(c.datadog).max_distribution_values);
             }},
            {"backends.datadog.self_metrics", "datadog_self_metrics", KeyKind::kBool,
             [](Config& c, absl::string_view v) {
               return ParseBool(v, &On(c.datadog).self_metrics);
             }},

            // backends.console
            {"backends.console.self_metrics", "console_self_metrics", KeyKind::kBool,
             [](Config& c, absl::string_view v) {
               return ParseBool(v, &On(c.console).self_metrics);
             }},

            // Last, so that turning a backend off wins over its other keys (see config_keys.h).
            {"backends.prometheus.enabled", "prometheus", KeyKind::kBool,
             [](Config& c, absl::string_view v) {
               bool on = true;
               absl::Status status = ParseBool(v, &on);
               if (status.ok()) SetBackend(c, "backends.prometheus", on);
               return status;
             }},
            {"backends.graphite.enabled", "graphite", KeyKind::kBool,
             [](Config& c, absl::string_view v) {
               bool on = true;
               absl::Status status = ParseBool(v, &on);
               if (status.ok()) SetBackend(c, "backends.graphite", on);
               return status;
             }},
            {"backends.datadog.enabled", "datadog", KeyKind::kBool,
             [](Config& c, absl::string_view v) {
               bool on = true;
               absl::Status status = ParseBool(v, &on);
               if (status.ok()) SetBackend(c, "backends.datadog", on);
               return status;
             }},
            {"backends.console.enabled", "console", KeyKind::kBool,
             [](Config& c, absl::string_view v) {
               bool on = true;
               absl::Status status = ParseBool(v, &on);
               if (status.ok()) SetBackend(c, "backends.console", on);
               return status;
             }},
};

template <typename T>
void Set(std::optional<T>& backend, bool on) {
  if (!on) {
    backend.reset();
  } else if (!backend.has_value()) {
    backend.emplace();
  }
}

}  // namespace

absl::Span<const ConfigKey> ConfigKeys() { return kKeys; }

const ConfigKey* FindKey(absl::string_view path) {
  for (const ConfigKey& key : kKeys) {
    if (key.path == path) return &key;
  }
  return nullptr;
}

bool IsSection(absl::string_view path) {
  return path == "listen" || path == "aggregation" || path == "backends" ||
         path == "backends.prometheus" || path == "backends.graphite" ||
         path == "backends.datadog" || path == "backends.console";
}

bool SetBackend(Config& config, absl::string_view path, bool on) {
  if (path == "backends.prometheus") {
    Set(config.prometheus, on);
  } else if (path == "backends.graphite") {
    Set(config.graphite, on);
  } else if (path == "backends.datadog") {
    Set(config.datadog, on);
  } else if (path == "backends.console") {
    Set(config.console, on);
  } else {
    return false;
  }
  return true;
}

void ClearBackends(Config& config) {
  config.prometheus.reset();
  config.graphite.reset();
  config.datadog.reset();
  config.console.reset();
}

std::string Quote(absl::string_view text) { return absl::StrCat("\"", absl::CEscape(text), "\""); }

std::string FormatNumber(double value) {
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  for (int precision = 1; precision < 17; ++precision) {
    std::string text = absl::StrFormat("%.*g", precision, value);
    double back = 0;
    if (absl::SimpleAtod(text, &back) && back == value) return text;
  }
  return absl::StrFormat("%.17g", value);
}

std::string FormatSize(int64_t bytes) {
  if (bytes != 0 && bytes % (int64_t{1} << 30) == 0) return absl::StrCat(bytes >> 30, "GiB");
  if (bytes != 0 && bytes % (int64_t{1} << 20) == 0) return absl::StrCat(bytes >> 20, "MiB");
  if (bytes != 0 && bytes % (int64_t{1} << 10) == 0) return absl::StrCat(bytes >> 10, "KiB");
  return absl::StrCat(bytes);
}

absl::string_view Name(LogLevel value) {
  switch (value) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

absl::string_view Name(GaugeMode value) { return value == GaugeMode::kEtsy ? "etsy" : "dogstatsd"; }

absl::string_view Name(TimerType value) {
  return value == TimerType::kHistogram ? "histogram" : "summary";
}

absl::string_view Name(GraphiteTags value) {
  return value == GraphiteTags::kNone ? "none" : "graphite";
}

absl::string_view Name(Compression value) {
  switch (value) {
    case Compression::kDeflate:
      return "deflate";
    case Compression::kZstd:
      return "zstd";
    case Compression::kNone:
      return "none";
  }
  return "?";
}

absl::string_view Name(HistogramAggregate value) {
  switch (value) {
    case HistogramAggregate::kMax:
      return "max";
    case HistogramAggregate::kMedian:
      return "median";
    case HistogramAggregate::kAvg:
      return "avg";
    case HistogramAggregate::kCount:
      return "count";
    case HistogramAggregate::kMin:
      return "min";
    case HistogramAggregate::kSum:
      return "sum";
  }
  return "?";
}

}  // namespace tallyd::config_internal
