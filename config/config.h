// tallyd's configuration: one typed `Config`, read from a YAML file (SPEC 6) and overridden by
// command-line flags (SPEC 1). main() calls ParseTallydCommandLine() then LoadConfigFromFlags();
// every error is an absl::InvalidArgumentError naming file, line and key, which main() turns into
// exit status 2. Everything here is cold path: written for clarity, not speed.
#ifndef TALLYD_CONFIG_CONFIG_H_
#define TALLYD_CONFIG_CONFIG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

// The two flags main() reads itself; every config key also has a flag (see ConfigKeys()).
ABSL_DECLARE_FLAG(std::string, config);
ABSL_DECLARE_FLAG(bool, check_config);

namespace tallyd {

enum class LogLevel { kDebug, kInfo, kWarning, kError };
enum class GaugeMode { kDogStatsD, kEtsy };
enum class TimerType { kSummary, kHistogram };
enum class GraphiteTags { kGraphite, kNone };
enum class Compression { kDeflate, kZstd, kNone };
enum class HistogramAggregate { kMax, kMedian, kAvg, kCount, kMin, kSum };

// `listen:` — where samples come in.
struct ListenConfig {
  std::vector<std::string> udp = {"0.0.0.0:8125"};  // host:port or [v6]:port; port 0 = any
  std::vector<std::string> tcp;
  // Unix datagram socket paths (YAML key `unix`; the field avoids the name because GNU mode
  // predefines a `unix` macro).
  std::vector<std::string> unix_sockets;
  int workers = 0;                   // 0: one per core, see EffectiveWorkers()
  int64_t receive_buffer = 8 << 20;  // SO_RCVBUF bytes; 0 keeps the OS default
  int64_t max_packet_size = 65535;   // largest datagram read, bytes
  int tcp_max_connections = 1024;    // further connections are refused and counted
  absl::Duration tcp_idle_timeout = absl::Minutes(5);  // 0: never close an idle connection
  int64_t max_line_length = 65535;   // longer lines are rejected (TCP: and skipped)
  int max_tags = 256;                // tags per line; a line with more is rejected
  uint32_t unix_socket_mode = 0722;  // as DogStatsD: anyone may write, only we may read

  bool operator==(const ListenConfig&) const = default;
};

// `aggregation:` — SPEC 3.
struct AggregationConfig {
  std::vector<double> percentiles = {50, 90, 95, 99};  // each in [-100, 100], not 0
  int exact_samples = 8192;       // per series per interval, then the sketch takes over
  double sketch_accuracy = 0.01;  // relative error, in (0, 0.5)
  int exact_set_size = 4096;      // distinct values, then HyperLogLog
  GaugeMode gauge_mode = GaugeMode::kDogStatsD;
  absl::Duration series_ttl = absl::Minutes(5);  // 0: forget a series once an interval is idle
  int64_t max_series = 1000000;
  // Per worker per interval: client-timestamped (|T) points kept, and events kept (service
  // checks too, counted separately); the rest are dropped and counted.
  int64_t max_timestamped_points = 100000;
  int max_events = 10000;
  std::vector<std::string> global_tags;  // "key:value" or "key", added to every series

  bool operator==(const AggregationConfig&) const = default;
};

// `backends.prometheus:` — SPEC 4.1.
struct PrometheusConfig {
  std::string listen = "0.0.0.0:9102";
  TimerType timer_type = TimerType::kSummary;
  std::vector<double> quantiles = {0.5, 0.9, 0.99};  // summary quantiles, each in [0, 1]
  // Histogram bucket upper bounds in seconds: Prometheus' DefBuckets, as statsd_exporter uses.
  std::vector<double> buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  int max_buffered_flushes = 6;  // snapshots waiting to be applied to the registry

  bool operator==(const PrometheusConfig&) const = default;
};

// `backends.graphite:` — SPEC 4.2; names and defaults are Etsy statsd 0.9.0's.
struct GraphiteConfig {
  std::string address = "127.0.0.1:2003";
  bool legacy_namespace = true;
  GraphiteTags tags = GraphiteTags::kGraphite;
  std::string global_prefix = "stats";
  std::string prefix_counter = "counters";
  std::string prefix_timer = "timers";
  std::string prefix_gauge = "gauges";
  std::string prefix_set = "sets";
  std::string global_suffix;
  int max_buffered_flushes = 6;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration write_timeout = absl::Seconds(10);
  bool self_metrics = true;  // send tallyd's own metrics under stats.tallyd. (Etsy does)

  bool operator==(const GraphiteConfig&) const = default;
};

// `backends.datadog:` — SPEC 4.3.
struct DatadogConfig {
  std::string url;                     // empty: "https://api." + site (ResolveConfig)
  std::string site = "datadoghq.com";  // used only when url is empty
  std::string api_key;                 // empty: $DD_API_KEY (ResolveConfig)
  Compression compression = Compression::kDeflate;
  std::string host;  // empty: the machine's hostname (ResolveConfig)
  std::vector<double> datadog_percentiles = {0.95};  // each in (0, 1) -> ".95percentile"
  std::vector<HistogramAggregate> histogram_aggregates = {
      HistogramAggregate::kMax, HistogramAggregate::kMedian, HistogramAggregate::kAvg,
      HistogramAggregate::kCount};
  absl::Duration timeout = absl::Seconds(20);  // per HTTP request, as the Agent's forwarder
  int max_buffered_flushes = 6;
  // Distribution values sent per series per flush; a sketched series past it is scaled down.
  int max_distribution_values = 65536;
  bool self_metrics = false;

  bool operator==(const DatadogConfig&) const = default;
};

// `backends.console:` — SPEC 4.4.
struct ConsoleConfig {
  bool self_metrics = false;

  bool operator==(const ConsoleConfig&) const = default;
};

// The whole configuration. Plain data; `Config{}` is SPEC 6's embedded default (UDP 0.0.0.0:8125
// in, Prometheus on 0.0.0.0:9102, flush every 10 s, no outbound backend). A backend is on when its
// optional holds a value.
struct Config {
  absl::Duration flush_interval = absl::Seconds(10);
  absl::Duration shutdown_timeout = absl::Seconds(5);
  LogLevel log_level = LogLevel::kInfo;
  ListenConfig listen;
  AggregationConfig aggregation;
  std::optional<PrometheusConfig> prometheus = PrometheusConfig{};
  std::optional<GraphiteConfig> graphite;
  std::optional<DatadogConfig> datadog;
  std::optional<ConsoleConfig> console;

  bool operator==(const Config&) const = default;
};

// Where each key's value came from ("tallyd.yaml:7", "--udp"), keyed by key path
// ("aggregation.percentiles", "aggregation.percentiles[2]"), so that a validation error after the
// file and the flags are merged can still point at the line or flag to fix.
struct ConfigOrigins {
  std::map<std::string, std::string, std::less<>> where;

  // The origin of `path`, else of its nearest recorded parent; "" when none is known.
  std::string Find(absl::string_view path) const;
};

// --- Loading (what main() calls) -------------------------------------------------------------

// Rewrites dashed spellings (`--check-config`) to Abseil's (`--check_config`), rejects unknown
// flags, then runs absl::ParseCommandLine (which handles --help and --version and exits).
// Returns the positional arguments after argv[0]. Errors are InvalidArgument (exit 2).
absl::StatusOr<std::vector<std::string>> ParseTallydCommandLine(int argc, char* argv[]);

// The argv rewrite ParseTallydCommandLine does first: flag names are matched with '-' read as '_'
// (`--check-config`, `--no-graphite` -> `--check_config`, `--nographite`); an unknown flag, a bool
// flag given a non-bool value, or a missing value is an error (absl would exit 1, we want 2).
absl::StatusOr<std::vector<std::string>> NormalizeCommandLine(std::vector<std::string> args);

// Which flags override the file. The default asks Abseil whether the flag was on the command line.
using FlagSelector = std::function<bool(absl::string_view flag_name)>;
bool SpecifiedOnCommandLine(absl::string_view flag_name);

// The config main() runs on: the --config file if given (else the defaults), then every selected
// flag on top, then ResolveConfig and ValidateConfig.
absl::StatusOr<Config> LoadConfigFromFlags(const FlagSelector& selected = SpecifiedOnCommandLine);

// Reads and parses `path`, then resolves and validates it (no flags).
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// Parses YAML text; `filename` is only used in messages. With `validate`, also resolves and
// validates; without, only syntax, key names and types are checked (flags may still fix values).
absl::StatusOr<Config> ParseConfigYaml(absl::string_view text, absl::string_view filename,
                                       ConfigOrigins* origins = nullptr, bool validate = true);

// Overwrites `config` with every selected flag's value (a backend flag turns its backend on;
// --<backend>=false turns it off). Checks syntax and types only; call ValidateConfig afterwards.
absl::Status ApplyFlagOverrides(Config& config, ConfigOrigins* origins = nullptr,
                                const FlagSelector& selected = SpecifiedOnCommandLine);

// Fills the values that default to the environment: datadog url from site, api_key from
// $DD_API_KEY, host from the hostname.
void ResolveConfig(Config& config);

// Checks every range and cross-key rule; all problems in one error, one per line, each naming
// the key (and its file line or flag when `origins` knows it).
absl::Status ValidateConfig(const Config& config, const ConfigOrigins* origins = nullptr);

// The effective config as YAML that ParseConfigYaml accepts (api_key shown as "<redacted>").
std::string FormatConfig(const Config& config);

// --- Value syntax, shared by the file and the flags --------------------------------------------

// "10s", "500ms", "5m", "1h", "1m30s", "1.5s" (also "us", "ns"); "0" alone is zero. A bare number
// is rejected: the unit is never guessed. Negative and infinite durations are rejected.
absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text);

// Bytes: "65535", "512KiB", "8MiB", "1GiB" (powers of 1024). "KB"/"MB"/"GB" are rejected with a
// hint, so 1000-vs-1024 is never guessed.
absl::StatusOr<int64_t> ParseSize(absl::string_view text);

// Replaces each ${NAME} with the environment variable NAME (unset: empty, as envsubst does).
// "$${" is a literal "${"; a lone "$" is kept. An unterminated "${" or a bad name is an error.
absl::StatusOr<std::string> ExpandEnv(absl::string_view text);

struct HostPort {
  std::string host;  // without IPv6 brackets
  uint16_t port = 0;
};
// "host:port", "1.2.3.4:port" or "[v6]:port"; port 0..65535 (0: the OS picks one).
absl::StatusOr<HostPort> ParseHostPort(absl::string_view text);

// Worker threads to start: `listen.workers`, or one per core when it is 0.
int EffectiveWorkers(const ListenConfig& listen);

}  // namespace tallyd

#endif  // TALLYD_CONFIG_CONFIG_H_
