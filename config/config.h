// tallyd's configuration (SPEC 1, 6): every key is declared once, in the lists below, and the
// typed `Config` structs, the YAML reader, the command-line flags, range checks, --help, the
// README's table, FormatConfig and the SIGHUP "what changed" all come from those lists.
// main() calls ParseCommandLine() then LoadConfig(); every error is an absl::InvalidArgumentError
// naming file, line (or flag) and key, which main() turns into exit status 2. Cold path only.
#ifndef TALLYD_CONFIG_CONFIG_H_
#define TALLYD_CONFIG_CONFIG_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "config/values.h"

#ifdef unix  // GNU modes predefine it; `listen.unix` needs the name.
#undef unix
#endif

namespace tallyd {

enum class LogLevel { kDebug, kInfo, kWarning, kError };
enum class GaugeMode { kDogStatsD, kEtsy };
enum class TimerType { kSummary, kHistogram };
enum class GraphiteTags { kGraphite, kNone };
enum class Compression { kDeflate, kZstd, kNone };
enum class HistogramAggregate { kMax, kMedian, kAvg, kCount, kMin, kSum };
enum class TagFormat { kDogStatsD, kInfluxDB, kLibrato, kSignalFX };

// The names each enum has in the file and on the command line, in enum order.
constexpr std::array<absl::string_view, 4> Names(LogLevel) {
  return {"debug", "info", "warning", "error"};
}
constexpr std::array<absl::string_view, 2> Names(GaugeMode) { return {"dogstatsd", "etsy"}; }
constexpr std::array<absl::string_view, 2> Names(TimerType) { return {"summary", "histogram"}; }
constexpr std::array<absl::string_view, 2> Names(GraphiteTags) { return {"graphite", "none"}; }
constexpr std::array<absl::string_view, 3> Names(Compression) {
  return {"deflate", "zstd", "none"};
}
constexpr std::array<absl::string_view, 6> Names(HistogramAggregate) {
  return {"max", "median", "avg", "count", "min", "sum"};
}
constexpr std::array<absl::string_view, 4> Names(TagFormat) {
  return {"dogstatsd", "influxdb", "librato", "signalfx"};
}
template <typename E>
absl::string_view Name(E value) {
  return Names(value)[static_cast<size_t>(value)];
}

// --- The keys -------------------------------------------------------------------------------
// KEY(kind, field, (default), check, reload, help), one per key, in the order --help, the README
// and FormatConfig show them:
//   kind     how the value is written (config/values.h): Duration, Size, Int, Strings, ...
//   field    the C++ field and the YAML key. The flag is the key's name, prefixed with the
//            backend's for a backend key (`graphite_address`) unless it already starts with it.
//   default  the field's initializer, in parentheses.
//   check    what the value must be beyond its syntax (Any(), Range(1, 65536), Address(), ...;
//            config/keys.cc), checked by ValidateConfig and shown in --help and the README.
//   reload   kLive: SIGHUP applies it; kRestart: a change needs a restart (logged as such).
//   help     one line for --help and the README.
// A backend is on when its section is present (`enabled: false` turns it off), see keys.cc.

// clang-format off
#define TALLYD_TOP_KEYS(KEY)                                                                       \
  KEY(Duration, flush_interval, (absl::Seconds(10)), AtLeast(0.001, "at least 1ms"), kRestart,     \
      "aggregation interval; flushes fall on multiples of it on the wall clock")                   \
  KEY(Duration, shutdown_timeout, (absl::Seconds(5)), Any(), kLive,                                \
      "how long the final flush may take at SIGTERM / SIGINT, and a backend that a reload "        \
      "restarts or stops to deliver what it holds")                                                \
  KEY(Enum<LogLevel>, log_level, (LogLevel::kInfo), Any(), kLive,                                  \
      "least severe line logged (debug: info plus detail)")                                        \
  KEY(String, mapping_file, (""), Any(), kLive,                                                    \
      "Prometheus statsd_exporter mapping file (its `--statsd.mapping-config`), read as is; "      \
      "SIGHUP re-reads it; empty = no mapping")                                           \
  KEY(Strings, relay, ({}), Address(), kRestart,                                                   \
      "`host:port` list: every accepted line is also sent there, unchanged, over UDP (as "         \
      "statsd_exporter's `--statsd.relay.address`)")                                               \
  KEY(Size, relay_packet_size, (1432), Range(1, 65507, "1..65507 bytes"), kRestart,                \
      "relayed lines are batched into datagrams up to this size; a longer line goes alone")

#define TALLYD_LISTEN_KEYS(KEY)                                                                    \
  KEY(Strings, udp, ({"127.0.0.1:8125", "[::1]:8125"}), Address(), kRestart,                       \
      "UDP `host:port` / `[v6]:port` list; port 0 = the OS picks; the default is loopback "        \
      "(`[::1]` where IPv6 exists, see `non_local_traffic`)")                                      \
  KEY(Strings, tcp, ({}), Address(), kRestart, "TCP addresses, newline-delimited lines")           \
  KEY(Strings, unix, ({}), SocketPath(), kRestart,                                                 \
      "Unix datagram socket paths; a stale socket file is replaced")                               \
  KEY(Bool, non_local_traffic, (false), Any(), kRestart,                                           \
      "accept metrics from other hosts (as the Datadog Agent's `dogstatsd_non_local_traffic`): "   \
      "the default `udp` becomes `0.0.0.0:8125` and `[::]:8125`, and a loopback host "             \
      "(`127.0.0.1`, `::1`, `localhost`) in `udp` or `tcp` its wildcard")                          \
  KEY(Int, workers, (0), Range(0, 1024, "0 (one per core) .. 1024"), kRestart,                     \
      "receive threads, each with its own socket (SO_REUSEPORT) and shard; 0 = one per core")      \
  KEY(Size, receive_buffer, (8 << 20), Range(0, 1 << 30, "0 (OS default) .. 1GiB"), kRestart,      \
      "SO_RCVBUF (SO_RCVBUFFORCE when permitted); 0 = OS default")                                 \
  KEY(Size, max_packet_size, (65535), Range(1, 65535, "1..65535 bytes"), kRestart,                 \
      "larger datagrams are dropped whole and counted (`tallyd_packets_truncated_total`)")         \
  KEY(Int, tcp_max_connections, (1024), AtLeast(1), kRestart,                                      \
      "at the limit the longest idle connection (of the worker) is closed for a newcomer, "        \
      "counted as `evicted`; a newcomer that finds none is refused and counted")                   \
  KEY(Duration, tcp_idle_timeout, (absl::Minutes(5)), Any(), kRestart,                             \
      "idle TCP connections are closed; 0 = never")                                                \
  KEY(Duration, tcp_line_timeout, (absl::Seconds(10)), Any(), kRestart,                            \
      "a TCP connection holding an incomplete line longer than this is closed and counted; "       \
      "0 = never")                                                                                 \
  KEY(Size, max_line_length, (65535), Range(1, 16 << 20, "1..16MiB"), kRestart,                    \
      "longer lines are rejected (`line_too_long`); on TCP the rest of the line is skipped")       \
  KEY(Int, max_tags, (256), Range(1, 65536), kRestart,                                             \
      "tags per line (metric, event or service check) at most; a line with more is rejected, "     \
      "counted as `tallyd_lines_rejected_total{reason=\"too_many_tags\"}`")                        \
  KEY(Mode, unix_socket_mode, (0722), Range(0, 0777, "0..0777"), kRestart,                         \
      "file mode of Unix sockets (as DogStatsD: anyone writes, tallyd reads)")                     \
  KEY(List<Enum<TagFormat>>, tag_formats,                                                          \
      ({TagFormat::kDogStatsD, TagFormat::kInfluxDB, TagFormat::kLibrato, TagFormat::kSignalFX}),  \
      Any(), kRestart,                                                                             \
      "tag styles parsed, as statsd_exporter: `|#k:v`, `name,k=v`, `name#k=v`, `name[k=v]`; a "    \
      "style left out stays part of the name")

#define TALLYD_AGGREGATION_KEYS(KEY)                                                               \
  KEY(Numbers, percentiles, ({50, 90, 95, 99}),                                                    \
      NonZero(Range(-100, 100, "in [-100, 100] and not 0")), kLive,                                \
      "Etsy percentiles; negative = top (`lower_top10`); fractional allowed (`upper_99_9`)")       \
  KEY(Int, exact_samples, (8192), AtLeast(1), kLive,                                               \
      "samples kept exactly per series per interval, then a DDSketch")                             \
  KEY(Number, sketch_accuracy, (0.01), Open(0, 0.5), kLive, "relative error of the sketch")        \
  KEY(Int, exact_set_size, (4096), AtLeast(1), kLive,                                              \
      "distinct set values kept exactly, then HyperLogLog (at most 2 % error)")                    \
  KEY(Enum<GaugeMode>, gauge_mode, (GaugeMode::kDogStatsD), Any(), kLive,                          \
      "`etsy`: a leading `+`/`-` changes an existing gauge")                                       \
  KEY(Duration, series_ttl, (absl::Minutes(5)), Any(), kLive,                                      \
      "idle series are forgotten after this (monotonic clock); 0 = after one idle interval")       \
  KEY(Int64, max_series, (1000000), AtLeast(1), kLive,                                             \
      "live series cap; new series beyond it are dropped and counted")                             \
  KEY(Int64, max_series_per_metric, (0), AtLeast(0, "0 (no cap) or more"), kLive,                  \
      "live series of one metric name at most; new ones beyond it are dropped and counted")        \
  KEY(Int64, max_timestamped_points, (100000), Range(1, 10000000), kLive,                          \
      "client-timestamped (`|T`) points kept per worker per interval; the rest are dropped, "      \
      "counted in `tallyd_timestamped_points_dropped_total`")                                      \
  KEY(Int, max_events, (10000), Range(1, 1000000), kLive,                                          \
      "events kept per worker per interval, and as many service checks; the rest are dropped, "    \
      "both counted in `tallyd_events_dropped_total`")                                             \
  KEY(Strings, global_tags, ({}), Tag(), kLive,                                                    \
      "added to every series, event and service check; a line's own tag with the same key wins")

#define TALLYD_PROMETHEUS_KEYS(KEY)                                                                \
  KEY(String, listen, ("0.0.0.0:9102"), Address(), kLive,                                          \
      "scrape endpoint (`/metrics`, `/healthz`, `/debug/series`, `/debug/config`)")                \
  KEY(Enum<TimerType>, timer_type, (TimerType::kSummary), Any(), kLive,                            \
      "how timers, histograms and distributions are exported")                                     \
  KEY(Numbers, quantiles, ({0.5, 0.9, 0.99}), Range(0, 1, "in [0, 1]"), kLive,                     \
      "summary quantiles")                                                                         \
  KEY(Numbers, buckets, ({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}), Any(),        \
      kLive, "histogram bucket bounds, increasing (seconds for timers)")                           \
  KEY(Int, max_buffered_flushes, (6), AtLeast(1), kLive, "snapshots waiting to be applied")

#define TALLYD_GRAPHITE_KEYS(KEY)                                                                  \
  KEY(String, address, ("127.0.0.1:2003"), Address(), kLive, "carbon plaintext receiver")          \
  KEY(Bool, legacy_namespace, (true), Any(), kLive, "Etsy's legacy names")                         \
  KEY(Enum<GraphiteTags>, tags, (GraphiteTags::kGraphite), Any(), kLive,                           \
      "Graphite 1.1 tags, or `none`")                                                              \
  KEY(String, global_prefix, ("stats"), GraphiteName(), kLive, "as Etsy")                          \
  KEY(String, prefix_counter, ("counters"), GraphiteName(), kLive, "as Etsy")                      \
  KEY(String, prefix_timer, ("timers"), GraphiteName(), kLive, "as Etsy")                          \
  KEY(String, prefix_gauge, ("gauges"), GraphiteName(), kLive, "as Etsy")                          \
  KEY(String, prefix_set, ("sets"), GraphiteName(), kLive, "as Etsy")                              \
  KEY(String, global_suffix, (""), GraphiteName(), kLive, "as Etsy")                               \
  KEY(Int, max_buffered_flushes, (6), AtLeast(1), kLive,                                           \
      "unsent flushes kept while carbon is down")                                                  \
  KEY(Duration, connect_timeout, (absl::Seconds(5)), MoreThan(0), kLive,                           \
      "bound on connecting to carbon (all its addresses together)")                                \
  KEY(Duration, write_timeout, (absl::Seconds(10)), MoreThan(0), kLive,                            \
      "a write making no progress this long drops the connection; the flush is retried")           \
  KEY(Duration, max_backoff, (absl::Seconds(10)), MoreThan(0), kLive,                              \
      "the wait between reconnects to carbon doubles up to this")                                  \
  KEY(Bool, self_metrics, (true), Any(), kLive, "tallyd's own metrics under `stats.tallyd.`")

#define TALLYD_DATADOG_KEYS(KEY)                                                                   \
  KEY(String, url, (""), Any(), kLive,                                                             \
      "API base URL (a proxy or a test server); empty = `https://api.<site>`")                     \
  KEY(String, site, ("datadoghq.com"), Any(), kLive, "used when `url` is empty")                   \
  KEY(Secret, api_key, (""), Any(), kLive, "required; empty = `$DD_API_KEY`; never logged")        \
  KEY(Enum<Compression>, compression, (Compression::kDeflate), Any(), kLive,                       \
      "`zstd` for v2 series only, the rest `deflate`")                                             \
  KEY(String, host, (""), Any(), kLive, "`host` of every series; empty = this machine's name")     \
  KEY(Numbers, datadog_percentiles, ({0.95}), Open(0, 1, "in (0, 1), like 0.95"), kLive,           \
      "timer and histogram percentiles sent (0.95 -> `.95percentile`)")                            \
  KEY(List<Enum<HistogramAggregate>>, histogram_aggregates,                                        \
      ({HistogramAggregate::kMax, HistogramAggregate::kMedian, HistogramAggregate::kAvg,           \
        HistogramAggregate::kCount}), Any(), kLive,                                                \
      "timer and histogram aggregates sent")                                                       \
  KEY(Duration, timeout, (absl::Seconds(20)), MoreThan(0), kLive,                                  \
      "per request, connecting included")                                                          \
  KEY(Duration, max_backoff, (absl::Seconds(10)), MoreThan(0), kLive,                              \
      "the wait between retries of a failed request doubles up to this")                           \
  KEY(Int, max_buffered_flushes, (6), AtLeast(1), kLive,                                           \
      "unsent flushes kept while Datadog is unreachable")                                          \
  KEY(Int, max_distribution_values, (65536), AtLeast(1), kLive,                                    \
      "distribution values sent per series per flush; a sketched series past it is scaled down")   \
  KEY(Bool, self_metrics, (false), Any(), kLive, "tallyd's own metrics under `tallyd.`")

#define TALLYD_CONSOLE_KEYS(KEY)                                                                   \
  KEY(Bool, self_metrics, (false), Any(), kLive, "also print tallyd's own metrics")

// Its own timer_type/quantiles/buckets (defaults as backends.prometheus'): it may run with the
// scrape endpoint off, and a fleet pushing for the engine to merge wants histograms while the
// local scrape keeps summaries for existing dashboards.
#define TALLYD_REMOTE_WRITE_KEYS(KEY)                                                              \
  KEY(String, url, (""), Any(), kLive,                                                             \
      "required: the receiver, e.g. `http://mimir:9009/api/v1/push`; https via libcurl")           \
  KEY(Enum<TimerType>, timer_type, (TimerType::kSummary), Any(), kLive,                            \
      "timers, histograms and distributions as in backends.prometheus; `histogram` merges "        \
      "across hosts")                                                                              \
  KEY(Numbers, quantiles, ({0.5, 0.9, 0.99}), Range(0, 1, "in [0, 1]"), kLive,                     \
      "summary quantiles")                                                                         \
  KEY(Numbers, buckets, ({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}), Any(),        \
      kLive, "histogram bucket bounds, increasing (seconds for timers)")                           \
  KEY(Map, external_labels, ({}), LabelEntry(), kLive,                                             \
      "added to every series that lacks the label; `host` defaults to this machine's name "        \
      "(`host: \"\"` leaves it out)")                                                               \
  KEY(Int, max_samples_per_send, (2000), Range(1, 1000000), kLive,                                 \
      "samples per request at most; a flush is split into as many requests as needed")            \
  KEY(Int, max_buffered_flushes, (6), AtLeast(1), kLive,                                           \
      "unsent flushes kept while the receiver is unreachable")                                     \
  KEY(Duration, timeout, (absl::Seconds(30)), MoreThan(0), kLive,                                  \
      "per request, connecting included")                                                          \
  KEY(Duration, max_backoff, (absl::Seconds(10)), MoreThan(0), kLive,                              \
      "the wait between retries of a failed request doubles up to this")                           \
  KEY(String, username, (""), Any(), kLive, "basic auth user (with `password`)")                   \
  KEY(Secret, password, (""), Any(), kLive, "basic auth password; never logged")                   \
  KEY(Secret, bearer_token, (""), Any(), kLive,                                                    \
      "`Authorization: Bearer`; empty = `$TALLYD_REMOTE_WRITE_BEARER_TOKEN` (without a "           \
      "username); never logged")                                                                   \
  KEY(SecretMap, headers, ({}), HeaderEntry(), kLive,                                              \
      "extra request headers, e.g. `X-Scope-OrgID` for multi-tenant Mimir / Cortex")               \
  KEY(Bool, self_metrics, (true), Any(), kLive, "also push tallyd's own metrics (`tallyd_*`)")
// clang-format on

#define TALLYD_CONFIG_UNPAREN(...) __VA_ARGS__
#define TALLYD_CONFIG_FIELD(kind, field, default_value, ...) \
  kind::Type field = TALLYD_CONFIG_UNPAREN default_value;

// Plain data; a default-constructed struct holds the defaults above.
#define TALLYD_CONFIG_STRUCT(Name, LIST)          \
  struct Name {                                   \
    LIST(TALLYD_CONFIG_FIELD)                     \
    bool operator==(const Name&) const = default; \
  };
TALLYD_CONFIG_STRUCT(ListenConfig, TALLYD_LISTEN_KEYS)
TALLYD_CONFIG_STRUCT(AggregationConfig, TALLYD_AGGREGATION_KEYS)
TALLYD_CONFIG_STRUCT(PrometheusConfig, TALLYD_PROMETHEUS_KEYS)
TALLYD_CONFIG_STRUCT(GraphiteConfig, TALLYD_GRAPHITE_KEYS)
TALLYD_CONFIG_STRUCT(DatadogConfig, TALLYD_DATADOG_KEYS)
TALLYD_CONFIG_STRUCT(ConsoleConfig, TALLYD_CONSOLE_KEYS)
TALLYD_CONFIG_STRUCT(RemoteWriteConfig, TALLYD_REMOTE_WRITE_KEYS)

// The whole configuration; `Config{}` is SPEC 6's embedded default. A backend is on when its
// optional holds a value.
struct Config {
  TALLYD_TOP_KEYS(TALLYD_CONFIG_FIELD)
  ListenConfig listen;
  AggregationConfig aggregation;
  std::optional<PrometheusConfig> prometheus = PrometheusConfig{};
  std::optional<GraphiteConfig> graphite;
  std::optional<DatadogConfig> datadog;
  std::optional<ConsoleConfig> console;
  std::optional<RemoteWriteConfig> remote_write;

  bool operator==(const Config&) const = default;
};

// Where one value came from: a default, a line of the config file, a flag or an environment
// variable the defaults read (DD_API_KEY).
struct ConfigOrigin {
  enum class Source { kDefault, kFile, kFlag, kEnvironment };
  Source source = Source::kDefault;
  std::string name;  // the file, the flag ("udp") or the variable ("DD_API_KEY")
  int line = 0;      // kFile: 1-based; 0 when the YAML parser gave no position

  static ConfigOrigin File(std::string file, int line);
  static ConfigOrigin Flag(std::string flag);
  static ConfigOrigin Environment(std::string variable);
  // As error messages start: "tallyd.yaml:7", "--udp", "$DD_API_KEY"; "" for a default.
  std::string Where() const;
  // As /debug/config shows it: "default", "tallyd.yaml:7", "flag --udp", "env $DD_API_KEY".
  std::string ToString() const;
  bool operator==(const ConfigOrigin&) const = default;
};

// Where each key's value came from, keyed by key path ("aggregation.percentiles",
// "aggregation.percentiles[2]", also sections such as "listen"), so that a validation error
// after the file and the flags are merged can still point at the line or flag to fix, and
// /debug/config can say where each value in force was set. A key with no entry has its default.
struct ConfigOrigins {
  std::map<std::string, ConfigOrigin, std::less<>> where;

  // The origin of `path`, else of its nearest recorded parent, as ConfigOrigin::Where() puts
  // it; "" when none is known.
  std::string Find(absl::string_view path) const;
  // The origin of exactly the key `path` (a default when none is recorded).
  ConfigOrigin Of(absl::string_view path) const;
};

// --- Loading ----------------------------------------------------------------------------------

// A config-key flag as given on the command line: `flag` in its canonical spelling ("udp").
struct FlagValue {
  std::string flag;
  std::string value;
};

struct CommandLine {
  std::string config_file;          // --config; "" runs on the defaults
  bool check_config = false;        // --check-config: validate, then exit 0 or 2
  std::string ports_file;           // --ports_file
  std::optional<std::string> help;  // --help[=TOPIC]: print FormatHelp(*help), exit 0
  bool version = false;             // --version: print FormatVersion(), exit 0
  std::vector<FlagValue> flags;     // config-key flags, in the order given
};

// Reads argv (args[0] is the program). Flag names are matched with '-' read as '_'; `--k=v` and
// `--k v`; a bool flag alone is true and `--no<flag>` false; `--` ends the flags. An unknown flag,
// a bad bool, a missing value or a positional argument is an InvalidArgument error (exit 2).
absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args);

// The config main() runs on (and SIGHUP reloads): the --config file if given (else the
// defaults), then the flags on top, then ResolveConfig and ValidateConfig. `origins`, when given,
// receives where each value came from.
absl::StatusOr<Config> LoadConfig(const CommandLine& command_line,
                                  ConfigOrigins* origins = nullptr);

// Reads and parses `path`, then resolves and validates it (no flags).
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// Parses YAML text; `filename` is only used in messages. With `validate`, also resolves and
// validates; without, only syntax, key names and types are checked (flags may still fix values).
absl::StatusOr<Config> ParseConfigYaml(absl::string_view text, absl::string_view filename,
                                       ConfigOrigins* origins = nullptr, bool validate = true);

// Overwrites `config` with the flags' values, the last one given for a key winning; a backend
// flag turns its backend on, `--<backend>=false` off (whatever the order). Checks syntax and
// types only; call ValidateConfig afterwards.
absl::Status ApplyFlagOverrides(Config& config, const std::vector<FlagValue>& flags,
                                ConfigOrigins* origins = nullptr);

// Fills the values that default to the environment: the listen addresses (see below), datadog
// url from site, api_key from $DD_API_KEY, host from the hostname; remote write's `host` external
// label from the hostname and bearer_token from $TALLYD_REMOTE_WRITE_BEARER_TOKEN. A value taken
// from the environment is recorded in `origins` (when given) as such.
void ResolveConfig(Config& config, ConfigOrigins* origins = nullptr);

// SPEC 1: metrics come from the local host only unless opened. The default `udp` list (also when
// written out as is) loses its `[::1]` without an IPv6 loopback; with `non_local_traffic` a
// loopback host in `udp` or `tcp` becomes its wildcard (127.0.0.1, localhost -> 0.0.0.0,
// ::1 -> ::), duplicates dropped.
void ResolveListenAddresses(ListenConfig& listen, bool has_ipv6_loopback);
// Whether this host can bind [::1] (a socket probe).
bool HasIpv6Loopback();

// Checks every key's range and the cross-key rules; all problems in one error, one per line,
// each naming the key (and its file line or flag when `origins` knows it).
absl::Status ValidateConfig(const Config& config, const ConfigOrigins* origins = nullptr);

// The effective config as YAML that ParseConfigYaml reads back to the same config but for its
// secrets (api_key, password, bearer_token and header values shown as "<redacted>").
std::string FormatConfig(const Config& config);

// --help's text: usage and every key; `topic` "markdown" gives the README's key table instead,
// another topic only the keys whose name contains it.
std::string FormatHelp(absl::string_view topic);
std::string FormatVersion();

// The keys (paths, in table order) whose value differs, and of those the ones SIGHUP does not
// apply (listeners, flush_interval).
std::vector<std::string> ChangedKeys(const Config& a, const Config& b);
std::vector<std::string> KeysNeedingRestart(const Config& running, const Config& fresh);

// --- What is in force (GET /debug/config) ------------------------------------------------------

// One key as /debug/config shows it (server/config_page.cc renders the text and the JSON).
struct ConfigEntry {
  // Each item's. kString: free text (quoted in the text page); kWord: a duration, size, file
  // mode or enum name (bare). JSON shows booleans and numbers as such, the rest as strings.
  enum class Type { kString, kWord, kBool, kInteger, kNumber };
  std::string key;  // "listen.udp"
  Type type = Type::kString;
  bool list = false;               // the items are a list (else exactly one item)
  bool map = false;                // the items are "name=value" entries
  bool masked = false;             // a secret: `items` hold MaskSecret's text, never the value
  std::vector<std::string> items;  // the value, item by item, as a flag takes it
  ConfigOrigin origin;
};

// Every key of `config` in table order, with its origin from `origins` (exact key paths only:
// a key the file or a flag did not set is a default). A backend that is off shows only its
// `enabled` key. Secrets (api_key, password, bearer_token, the values of remote write's
// headers, and the password in a URL's `user:password@`) are masked.
std::vector<ConfigEntry> DescribeConfig(const Config& config, const ConfigOrigins& origins);

// A secret as logs and /debug/config may show it: as the Datadog Agent does, stars and the last
// 4 characters ("***************abcd"), only stars for one shorter than 12 (where 4 characters
// would give too much away), "" for an empty one. The stars never tell the length.
std::string MaskSecret(absl::string_view secret);

// The origins of `in_force`, the config running after a SIGHUP reload: a key whose value is
// `fresh`'s (the reloaded file and flags) takes `fresh_origins`' entries, and any other key (a
// change not applied: it needs a restart, or its backend failed to start) keeps `running`'s.
ConfigOrigins OriginsInForce(const Config& in_force, const Config& fresh,
                             const ConfigOrigins& fresh_origins, const ConfigOrigins& running);

// Worker threads to start: `listen.workers`, or one per core when it is 0.
int EffectiveWorkers(const ListenConfig& listen);

}  // namespace tallyd

#endif  // TALLYD_CONFIG_CONFIG_H_
