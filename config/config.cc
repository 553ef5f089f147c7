// Value syntax (durations, sizes, ${VAR}, addresses), resolution of environment defaults,
// validation of ranges and cross-key rules, and reading the file. The key table lives in
// config_keys.cc, YAML in and out in config_yaml.cc, the flags in config_flags.cc.
#include "config/config.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/config_keys.h"

namespace tallyd {

using config_internal::FormatNumber;
using config_internal::FormatSize;
using config_internal::Name;
using config_internal::Quote;

namespace {

bool IsDigits(absl::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), absl::ascii_isdigit);
}

bool IsHostname(absl::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '-' || host.front() == '.') {
    return false;
  }
  return std::all_of(host.begin(), host.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_';
  });
}

}  // namespace

// --- Value syntax ------------------------------------------------------------------------------

absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text) {
  if (text == "0") return absl::ZeroDuration();
  absl::Duration duration;
  if (!text.empty() && (absl::ascii_isdigit(text.back()) || text.back() == '.')) {
    return absl::InvalidArgumentError(
        absl::StrCat("must be a duration with a unit (ms, s, m, h) like 10s, got ", Quote(text)));
  }
  if (!absl::ParseDuration(text, &duration) || duration == absl::InfiniteDuration() ||
      duration < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("must be a duration like 10s, 500ms, 5m or 1h, got ", Quote(text)));
  }
  return duration;
}

absl::StatusOr<int64_t> ParseSize(absl::string_view text) {
  auto error = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "must be a size in bytes like 65535, 512KiB, 8MiB or 1GiB (powers of 1024), got ",
        Quote(text)));
  };
  size_t digits = 0;
  while (digits < text.size() && absl::ascii_isdigit(text[digits])) ++digits;
  absl::string_view number = text.substr(0, digits);
  absl::string_view unit = absl::StripLeadingAsciiWhitespace(text.substr(digits));
  int shift = 0;
  if (unit.empty() || unit == "B") {
    shift = 0;
  } else if (unit == "KiB") {
    shift = 10;
  } else if (unit == "MiB") {
    shift = 20;
  } else if (unit == "GiB") {
    shift = 30;
  } else {
    return error();
  }
  int64_t value = 0;
  if (!IsDigits(number) || !absl::SimpleAtoi(number, &value) ||
      value > (std::numeric_limits<int64_t>::max() >> shift)) {
    return error();
  }
  return value << shift;
}

absl::StatusOr<std::string> ExpandEnv(absl::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text.substr(i, 3) == "$${") {
      out += "${";
      i += 3;
      continue;
    }
    if (text.substr(i, 2) != "${") {
      out += text[i++];
      continue;
    }
    const size_t close = text.find('}', i + 2);
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("unterminated ${ in ", Quote(text), " (write $${ for a literal ${)"));
    }
    const std::string name(text.substr(i + 2, close - i - 2));
    const bool valid = !name.empty() && !absl::ascii_isdigit(name[0]) &&
                       std::all_of(name.begin(), name.end(),
                                   [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
    if (!valid) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad environment variable name ", Quote(name), " in ", Quote(text)));
    }
    if (const char* value = std::getenv(name.c_str())) out += value;
    i = close + 1;
  }
  return out;
}

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text) {
  auto error = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(why, ", got ", Quote(text)));
  };
  HostPort result;
  absl::string_view port;
  if (absl::StartsWith(text, "[")) {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos || text.substr(close + 1, 1) != ":") {
      return error("must be [ipv6]:port");
    }
    result.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
    // A zone ("fe80::1%eth0") is allowed; inet_pton does not know it.
    const std::string address = result.host.substr(0, result.host.find('%'));
    in6_addr unused;
    if (inet_pton(AF_INET6, address.c_str(), &unused) != 1) {
      return error("must be [ipv6]:port with a valid IPv6 address");
    }
  } else {
    const size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) return error("must be host:port");
    result.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (absl::StrContains(result.host, ':')) {
      return error("must be host:port; an IPv6 address needs brackets, as in [::1]:8125");
    }
    if (result.host.empty()) return error("must be host:port with a host (0.0.0.0 for any)");
    const bool looks_ipv4 = std::all_of(result.host.begin(), result.host.end(),
                                        [](char c) { return absl::ascii_isdigit(c) || c == '.'; });
    in_addr unused;
    if (looks_ipv4 ? inet_pton(AF_INET, result.host.c_str(), &unused) != 1
                   : !IsHostname(result.host)) {
      return error("must be host:port with a valid host name or IPv4 address");
    }
  }
  uint32_t number = 0;
  if (!IsDigits(port) || port.size() > 5 || !absl::SimpleAtoi(port, &number) || number > 65535) {
    return error("must end in a port 0..65535");
  }
  result.port = static_cast<uint16_t>(number);
  return result;
}

int EffectiveWorkers(const ListenConfig& listen) {
  if (listen.workers > 0) return listen.workers;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// --- Origins, resolution, validation -----------------------------------------------------------

std::string ConfigOrigins::Find(absl::string_view path) const {
  while (!path.empty()) {
    if (auto it = where.find(path); it != where.end()) return it->second;
    const size_t cut = path.back() == ']' ? path.rfind('[') : path.rfind('.');
    path = path.substr(0, cut == absl::string_view::npos ? 0 : cut);
  }
  return "";
}

void ResolveConfig(Config& config) {
  if (!config.datadog.has_value()) return;
  DatadogConfig& datadog = *config.datadog;
  if (datadog.url.empty() && !datadog.site.empty()) datadog.url = "https://api." + datadog.site;
  if (datadog.api_key.empty()) {
    if (const char* key = std::getenv("DD_API_KEY")) datadog.api_key = key;
  }
  if (datadog.host.empty()) {
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) == 0) datadog.host = name;
  }
}

namespace {

// Collects every problem, each prefixed with where the value came from.
class Problems {
 public:
  explicit Problems(const ConfigOrigins* origins) : origins_(origins) {}

  void Add(absl::string_view path, absl::string_view message) {
    const std::string origin = origins_ != nullptr ? origins_->Find(path) : "";
    errors_.push_back(origin.empty() ? absl::StrCat(path, ": ", message)
                                     : absl::StrCat(origin, ": ", path, ": ", message));
  }

  void Address(absl::string_view path, const std::string& value) {
    if (auto parsed = ParseHostPort(value); !parsed.ok()) Add(path, parsed.status().message());
  }

  template <typename T>
  void AtLeast(absl::string_view path, T value, T min) {
    if (value < min) Add(path, absl::StrCat("must be at least ", min, ", got ", value));
  }

  void AtLeast(absl::string_view path, absl::Duration value, absl::Duration min) {
    if (value < min) {
      Add(path, absl::StrCat("must be at least ", absl::FormatDuration(min), ", got ",
                             absl::FormatDuration(value)));
    }
  }

  void Positive(absl::string_view path, absl::Duration value) {
    if (value <= absl::ZeroDuration()) {
      Add(path, absl::StrCat("must be more than 0, got ", absl::FormatDuration(value)));
    }
  }

  template <typename T>
  void Unique(absl::string_view path, const std::vector<T>& values) {
    for (size_t i = 0; i < values.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (values[i] == values[j]) {
          Add(absl::StrCat(path, "[", i, "]"), absl::StrCat("repeats item ", j));
          break;
        }
      }
    }
  }

  absl::Status ToStatus() const {
    if (errors_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
  }

 private:
  const ConfigOrigins* origins_;
  std::vector<std::string> errors_;
};

std::string Item(absl::string_view path, size_t i) { return absl::StrCat(path, "[", i, "]"); }

}  // namespace

absl::Status ValidateConfig(const Config& config, const ConfigOrigins* origins) {
  Problems problems(origins);
  if (config.flush_interval < absl::Milliseconds(1)) {
    problems.Add("flush_interval", absl::StrCat("must be at least 1ms, got ",
                                                absl::FormatDuration(config.flush_interval)));
  }
  problems.AtLeast("shutdown_timeout", config.shutdown_timeout, absl::ZeroDuration());

  const ListenConfig& listen = config.listen;
  if (listen.udp.empty() && listen.tcp.empty() && listen.unix_sockets.empty()) {
    problems.Add("listen", "no listener: udp, tcp and unix are all empty");
  }
  for (size_t i = 0; i < listen.udp.size(); ++i) {
    problems.Address(Item("listen.udp", i), listen.udp[i]);
  }
  for (size_t i = 0; i < listen.tcp.size(); ++i) {
    problems.Address(Item("listen.tcp", i), listen.tcp[i]);
  }
  for (size_t i = 0; i < listen.unix_sockets.size(); ++i) {
    // sun_path holds 108 bytes including the terminating NUL.
    const std::string& path = listen.unix_sockets[i];
    if (path.empty() || path.size() > 107) {
      problems.Add(Item("listen.unix", i),
                   absl::StrCat("must be a socket path of 1..107 bytes, got ", Quote(path)));
    }
  }
  if (listen.workers < 0 || listen.workers > 1024) {
    problems.Add("listen.workers",
                 absl::StrCat("must be 0 (one per core) .. 1024, got ", listen.workers));
  }
  if (listen.receive_buffer < 0 || listen.receive_buffer > (int64_t{1} << 30)) {
    problems.Add("listen.receive_buffer",
                 absl::StrCat("must be 0 (OS default) .. 1GiB, got ", listen.receive_buffer));
  }
  if (listen.max_packet_size < 1 || listen.max_packet_size > 65535) {
    problems.Add("listen.max_packet_size",
                 absl::StrCat("must be 1..65535 bytes, got ", listen.max_packet_size));
  }
  problems.AtLeast("listen.tcp_max_connections", listen.tcp_max_connections, 1);
  problems.AtLeast("listen.tcp_idle_timeout", listen.tcp_idle_timeout, absl::ZeroDuration());
  if (listen.max_line_length < 1 || listen.max_line_length > (int64_t{16} << 20)) {
    problems.Add("listen.max_line_length",
                 absl::StrCat("must be 1..16MiB, got ", listen.max_line_length));
  }
  if (listen.max_tags < 1 || listen.max_tags > 65536) {
    problems.Add("listen.max_tags", absl::StrCat("must be 1..65536, got ", listen.max_tags));
  }
  if (listen.unix_socket_mode > 0777) {
    problems.Add("listen.unix_socket_mode", "must be an octal file mode 0..0777");
  }

  const AggregationConfig& aggregation = config.aggregation;
  for (size_t i = 0; i < aggregation.percentiles.size(); ++i) {
    const double p = aggregation.percentiles[i];
    if (!(p >= -100 && p <= 100) || p == 0) {
      problems.Add(Item("aggregation.percentiles", i),
                   absl::StrCat("must be in [-100, 100] and not 0, got ", FormatNumber(p)));
    }
  }
  problems.Unique("aggregation.percentiles", aggregation.percentiles);
  problems.AtLeast("aggregation.exact_samples", aggregation.exact_samples, 1);
  if (!(aggregation.sketch_accuracy > 0 && aggregation.sketch_accuracy < 0.5)) {
    problems.Add(
        "aggregation.sketch_accuracy",
        absl::StrCat("must be in (0, 0.5), got ", FormatNumber(aggregation.sketch_accuracy)));
  }
  problems.AtLeast("aggregation.exact_set_size", aggregation.exact_set_size, 1);
  problems.AtLeast("aggregation.series_ttl", aggregation.series_ttl, absl::ZeroDuration());
  problems.AtLeast("aggregation.max_series", aggregation.max_series, int64_t{1});
  if (aggregation.max_timestamped_points < 1 || aggregation.max_timestamped_points > 10000000) {
    problems.Add("aggregation.max_timestamped_points",
                 absl::StrCat("must be 1..10000000, got ", aggregation.max_timestamped_points));
  }
  if (aggregation.max_events < 1 || aggregation.max_events > 1000000) {
    problems.Add("aggregation.max_events",
                 absl::StrCat("must be 1..1000000, got ", aggregation.max_events));
  }
  for (size_t i = 0; i < aggregation.global_tags.size(); ++i) {
    const std::string& tag = aggregation.global_tags[i];
    if (tag.empty() || tag[0] == ':' || tag.find_first_of(",|\n\r") != std::string::npos) {
      problems.Add(Item("aggregation.global_tags", i),
                   absl::StrCat("must be key:value or key, without , or |, got ", Quote(tag)));
    }
  }

  if (const auto& prometheus = config.prometheus) {
    problems.Address("backends.prometheus.listen", prometheus->listen);
    for (size_t i = 0; i < prometheus->quantiles.size(); ++i) {
      const double q = prometheus->quantiles[i];
      if (!(q >= 0 && q <= 1)) {
        problems.Add(Item("backends.prometheus.quantiles", i),
                     absl::StrCat("must be in [0, 1], got ", FormatNumber(q)));
      }
    }
    problems.Unique("backends.prometheus.quantiles", prometheus->quantiles);
    if (prometheus->buckets.empty())
      problems.Add("backends.prometheus.buckets", "must not be empty");
    for (size_t i = 1; i < prometheus->buckets.size(); ++i) {
      if (!(prometheus->buckets[i] > prometheus->buckets[i - 1])) {
        problems.Add(Item("backends.prometheus.buckets", i),
                     absl::StrCat("must be greater than the bucket before it, got ",
                                  FormatNumber(prometheus->buckets[i])));
      }
    }
    problems.AtLeast("backends.prometheus.max_buffered_flushes", prometheus->max_buffered_flushes,
                     1);
  }

  if (const auto& graphite = config.graphite) {
    problems.Address("backends.graphite.address", graphite->address);
    const std::pair<const char*, const std::string*> names[] = {
        {"backends.graphite.global_prefix", &graphite->global_prefix},
        {"backends.graphite.prefix_counter", &graphite->prefix_counter},
        {"backends.graphite.prefix_timer", &graphite->prefix_timer},
        {"backends.graphite.prefix_gauge", &graphite->prefix_gauge},
        {"backends.graphite.prefix_set", &graphite->prefix_set},
        {"backends.graphite.global_suffix", &graphite->global_suffix},
    };
    for (const auto& [path, value] : names) {
      if (value->find_first_of(" \t\r\n;") != std::string::npos) {
        problems.Add(path, absl::StrCat("must not contain whitespace or ;, got ", Quote(*value)));
      }
    }
    problems.AtLeast("backends.graphite.max_buffered_flushes", graphite->max_buffered_flushes, 1);
    problems.Positive("backends.graphite.connect_timeout", graphite->connect_timeout);
    problems.Positive("backends.graphite.write_timeout", graphite->write_timeout);
  }

  if (const auto& datadog = config.datadog) {
    if (datadog->url.empty() && datadog->site.empty()) {
      problems.Add("backends.datadog.site", "must not be empty when url is not set");
    }
    const std::string url = datadog->url.empty() ? "https://api." + datadog->site : datadog->url;
    if (!absl::StartsWith(url, "https://") && !absl::StartsWith(url, "http://")) {
      problems.Add(datadog->url.empty() ? "backends.datadog.site" : "backends.datadog.url",
                   absl::StrCat("must give an http:// or https:// URL, got ", Quote(url)));
    }
    if (datadog->api_key.empty()) {
      problems.Add("backends.datadog.api_key", "is empty: set it, or the DD_API_KEY variable");
    }
    for (size_t i = 0; i < datadog->datadog_percentiles.size(); ++i) {
      const double p = datadog->datadog_percentiles[i];
      if (!(p > 0 && p < 1)) {
        problems.Add(Item("backends.datadog.datadog_percentiles", i),
                     absl::StrCat("must be in (0, 1), like 0.95, got ", FormatNumber(p)));
      }
    }
    problems.Unique("backends.datadog.datadog_percentiles", datadog->datadog_percentiles);
    problems.Unique("backends.datadog.histogram_aggregates", datadog->histogram_aggregates);
    problems.Positive("backends.datadog.timeout", datadog->timeout);
    problems.AtLeast("backends.datadog.max_buffered_flushes", datadog->max_buffered_flushes, 1);
    problems.AtLeast("backends.datadog.max_distribution_values",
                     datadog->max_distribution_values, 1);
  }
  return problems.ToStatus();
}

// --- Files -------------------------------------------------------------------------------------

namespace config_internal {

absl::StatusOr<std::string> ReadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  }
  return text.str();
}

}  // namespace config_internal

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  absl::StatusOr<std::string> text = config_internal::ReadConfigFile(path);
  if (!text.ok()) return text.status();
  return ParseConfigYaml(*text, path);
}

}  // namespace tallyd
