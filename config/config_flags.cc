// The command line: one Abseil flag per config key (SPEC 1), named after the key (`udp`,
// `exact_samples`) or, for backend keys, `<backend>_<key>` (`graphite_address`); `--<backend>`
// turns a backend on or off. Non-bool flags are strings parsed by the same setters as the file
// (lists comma-separated), so "8MiB" or "2s" mean the same in both places. Only flags given on
// the command line override the file; a flag's default here is documentation for --help and is
// kept equal to Config{}'s by a test.
#include <mutex>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/internal/private_handle_accessor.h"
#include "absl/flags/marshalling.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "config/config.h"
#include "config/config_keys.h"

#ifndef TALLYD_VERSION
#define TALLYD_VERSION "dev"
#endif
#ifdef unix  // GNU mode predefines it; we need the name for --unix.
#undef unix
#endif

ABSL_FLAG(std::string, config, "",
          "YAML config file; without it tallyd runs on the built-in defaults");
ABSL_FLAG(bool, check_config, false,
          "Validate the config file and flags, then exit 0 (valid) or 2 (invalid). "
          "Also spelled --check-config.");

ABSL_FLAG(std::string, flush_interval, "10s", "flush_interval: aggregation interval");
ABSL_FLAG(std::string, shutdown_timeout, "5s",
          "shutdown_timeout: bound on the last flush at SIGTERM/SIGINT");
ABSL_FLAG(std::string, log_level, "info", "log_level: debug, info, warning or error");

ABSL_FLAG(std::string, udp, "0.0.0.0:8125",
          "listen.udp: UDP host:port list, comma-separated; empty for none");
ABSL_FLAG(std::string, tcp, "", "listen.tcp: TCP host:port list, comma-separated");
ABSL_FLAG(std::string, unix, "", "listen.unix: Unix datagram socket paths, comma-separated");
ABSL_FLAG(std::string, workers, "0", "listen.workers: receive threads; 0 = one per core");
ABSL_FLAG(std::string, receive_buffer, "8MiB",
          "listen.receive_buffer: SO_RCVBUF per socket; 0 = OS default");
ABSL_FLAG(std::string, max_packet_size, "65535", "listen.max_packet_size: largest datagram");
ABSL_FLAG(std::string, tcp_max_connections, "1024",
          "listen.tcp_max_connections: open TCP connections at most");
ABSL_FLAG(std::string, tcp_idle_timeout, "5m",
          "listen.tcp_idle_timeout: close idle TCP connections; 0 = never");
ABSL_FLAG(std::string, max_line_length, "65535",
          "listen.max_line_length: longer lines are rejected");
ABSL_FLAG(std::string, max_tags, "256",
          "listen.max_tags: tags per line at most; a line with more is rejected");
ABSL_FLAG(std::string, unix_socket_mode, "0722",
          "listen.unix_socket_mode: octal permissions of the Unix socket files");

ABSL_FLAG(std::string, percentiles, "50,90,95,99",
          "aggregation.percentiles: timer percentiles, comma-separated; negative = top");
ABSL_FLAG(std::string, exact_samples, "8192",
          "aggregation.exact_samples: samples kept exactly per series per interval");
ABSL_FLAG(std::string, sketch_accuracy, "0.01",
          "aggregation.sketch_accuracy: relative error of the percentile sketch");
ABSL_FLAG(std::string, exact_set_size, "4096",
          "aggregation.exact_set_size: distinct set values counted exactly");
ABSL_FLAG(std::string, gauge_mode, "dogstatsd",
          "aggregation.gauge_mode: dogstatsd (absolute) or etsy (+/- are deltas)");
ABSL_FLAG(std::string, series_ttl, "5m",
          "aggregation.series_ttl: forget a series idle this long; 0 = after one idle interval");
ABSL_FLAG(std::string, max_series, "1000000", "aggregation.max_series: live series at most");
ABSL_FLAG(std::string, max_timestamped_points, "100000",
          "aggregation.max_timestamped_points: |T points kept per worker per interval");
ABSL_FLAG(std::string, max_events, "10000",
          "aggregation.max_events: events (and service checks) kept per worker per interval");
ABSL_FLAG(std::string, global_tags, "",
          "aggregation.global_tags: tags added to every series, comma-separated");

ABSL_FLAG(bool, prometheus, true, "backends.prometheus: serve /metrics");
ABSL_FLAG(std::string, prometheus_listen, "0.0.0.0:9102", "backends.prometheus.listen");
ABSL_FLAG(std::string, prometheus_timer_type, "summary",
          "backends.prometheus.timer_type: summary or histogram");
ABSL_FLAG(std::string, prometheus_quantiles, "0.5,0.9,0.99",
          "backends.prometheus.quantiles: summary quantiles, comma-separated");
ABSL_FLAG(std::string, prometheus_buckets, "0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10",
          "backends.prometheus.buckets: histogram bucket bounds in seconds, comma-separated");
ABSL_FLAG(std::string, prometheus_max_buffered_flushes, "6",
          "backends.prometheus.max_buffered_flushes");

ABSL_FLAG(bool, graphite, false, "backends.graphite: send to carbon");
ABSL_FLAG(std::string, graphite_address, "127.0.0.1:2003", "backends.graphite.address");
ABSL_FLAG(bool, graphite_legacy_namespace, true, "backends.graphite.legacy_namespace");
ABSL_FLAG(std::string, graphite_tags, "graphite", "backends.graphite.tags: graphite or none");
ABSL_FLAG(std::string, graphite_global_prefix, "stats", "backends.graphite.global_prefix");
ABSL_FLAG(std::string, graphite_prefix_counter, "counters", "backends.graphite.prefix_counter");
ABSL_FLAG(std::string, graphite_prefix_timer, "timers", "backends.graphite.prefix_timer");
ABSL_FLAG(std::string, graphite_prefix_gauge, "gauges", "backends.graphite.prefix_gauge");
ABSL_FLAG(std::string, graphite_prefix_set, "sets", "backends.graphite.prefix_set");
ABSL_FLAG(std::string, graphite_global_suffix, "", "backends.graphite.global_suffix");
ABSL_FLAG(std::string, graphite_max_buffered_flushes, "6",
          "backends.graphite.max_buffered_flushes");
ABSL_FLAG(std::string, graphite_connect_timeout, "5s", "backends.graphite.connect_timeout");
ABSL_FLAG(std::string, graphite_write_timeout, "10s", "backends.graphite.write_timeout");
ABSL_FLAG(bool, graphite_self_metrics, true,
          "backends.graphite.self_metrics: also send stats.tallyd.*");

ABSL_FLAG(bool, datadog, false, "backends.datadog: send to the Datadog API");
ABSL_FLAG(std::string, datadog_url, "", "backends.datadog.url; empty = https://api.<site>");
ABSL_FLAG(std::string, datadog_site, "datadoghq.com", "backends.datadog.site");
ABSL_FLAG(std::string, datadog_api_key, "", "backends.datadog.api_key; empty = $DD_API_KEY");
ABSL_FLAG(std::string, datadog_compression, "deflate",
          "backends.datadog.compression: deflate, zstd or none");
ABSL_FLAG(std::string, datadog_host, "", "backends.datadog.host; empty = this machine's name");
ABSL_FLAG(std::string, datadog_percentiles, "0.95",
          "backends.datadog.datadog_percentiles: comma-separated, each in (0, 1)");
ABSL_FLAG(std::string, datadog_histogram_aggregates, "max,median,avg,count",
          "backends.datadog.histogram_aggregates: of max, median, avg, count, min, sum");
ABSL_FLAG(std::string, datadog_timeout, "20s", "backends.datadog.timeout: per request");
ABSL_FLAG(std::string, datadog_max_buffered_flushes, "6", "backends.datadog.max_buffered_flushes");
ABSL_FLAG(std::string, datadog_max_distribution_values, "65536",
          "backends.datadog.max_distribution_values: distribution values per series per flush");
ABSL_FLAG(bool, datadog_self_metrics, false, "backends.datadog.self_metrics: also send tallyd.*");

ABSL_FLAG(bool, console, false, "backends.console: print JSON lines on stdout");
ABSL_FLAG(bool, console_self_metrics, false, "backends.console.self_metrics");

namespace tallyd {
namespace {

using config_internal::ConfigKey;
using config_internal::ConfigKeys;
using config_internal::KeyKind;

constexpr char kUsage[] =
    "A StatsD/DogStatsD aggregation server.\n"
    "  tallyd [--config FILE] [--<key>=VALUE ...]\n"
    "  tallyd --check-config --config FILE\n"
    "Every config key is also a flag that overrides the file.";

// Abseil 20220623 handles these itself in ParseCommandLine without registering them as flags
// (--help exits 1, --version prints our version and exits 0).
bool IsUsageFlag(absl::string_view name) {
  for (absl::string_view usage : {"help", "helpfull", "helpshort", "helppackage", "helpon",
                                  "helpmatch", "version", "only_check_args"}) {
    if (name == usage) return true;
  }
  return false;
}

}  // namespace

bool SpecifiedOnCommandLine(absl::string_view flag_name) {
  // Abseil 20220623 keeps this bit behind its private accessor (the public method was made
  // private pending an API); absl::FlagSaver restores it, which the tests rely on.
  const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(flag_name);
  return flag != nullptr &&
         absl::flags_internal::PrivateHandleAccessor::IsSpecifiedOnCommandLine(*flag);
}

absl::Status ApplyFlagOverrides(Config& config, ConfigOrigins* origins,
                                const FlagSelector& selected) {
  ConfigOrigins local_origins;
  if (origins == nullptr) origins = &local_origins;
  std::vector<std::string> errors;
  for (const ConfigKey& key : ConfigKeys()) {
    if (!selected(key.flag)) continue;
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(key.flag);
    if (flag == nullptr) return absl::InternalError(absl::StrCat("no flag --", key.flag));
    const std::string value = flag->CurrentValue();
    const std::string origin = absl::StrCat("--", key.flag);
    const std::string path(key.path);
    origins->where[path] = origin;
    if (key.kind != KeyKind::kList) {
      if (absl::Status status = key.set_scalar(config, value); !status.ok()) {
        errors.push_back(absl::StrCat(origin, ": ", path, ": ", status.message()));
      }
      continue;
    }
    std::vector<std::string> items;
    if (!value.empty()) {
      items = absl::StrSplit(value, ',');
      for (std::string& item : items) item = std::string(absl::StripAsciiWhitespace(item));
    }
    // Items set on the command line point at the flag, not at the file's lines.
    for (auto it = origins->where.lower_bound(path + "[");
         it != origins->where.end() && absl::StartsWith(it->first, path + "[");) {
      it = origins->where.erase(it);
    }
    size_t bad = 0;
    if (absl::Status status = key.set_list(config, items, &bad); !status.ok()) {
      errors.push_back(absl::StrCat(origin, ": ", path, "[", bad, "]: ", status.message()));
    }
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
}

absl::StatusOr<std::vector<std::string>> NormalizeCommandLine(std::vector<std::string> args) {
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") break;  // everything after is positional
    if (arg.size() < 2 || arg[0] != '-') continue;
    const size_t dashes = arg[1] == '-' ? 2 : 1;
    const absl::string_view body = absl::string_view(arg).substr(dashes);
    const size_t equals = body.find('=');
    const absl::string_view spelled = body.substr(0, equals);
    std::string name = absl::StrReplaceAll(spelled, {{"-", "_"}});
    if (IsUsageFlag(name)) {
      args[i] =
          absl::StrCat("--", name, equals == absl::string_view::npos ? "" : body.substr(equals));
      continue;
    }
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    bool negated = false;
    if (flag == nullptr && absl::StartsWith(name, "no")) {
      const absl::string_view rest = absl::StripPrefix(absl::StripPrefix(name, "no"), "_");
      const absl::CommandLineFlag* bool_flag = absl::FindCommandLineFlag(rest);
      if (bool_flag != nullptr && bool_flag->IsOfType<bool>()) {
        name = absl::StrCat("no", rest);
        flag = bool_flag;
        negated = true;
      }
    }
    if (flag == nullptr || flag->IsRetired()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", spelled, " (see tallyd --help)"));
    }
    const bool is_bool = flag->IsOfType<bool>();
    if (equals != absl::string_view::npos) {
      const absl::string_view value = body.substr(equals + 1);
      bool unused = false;
      std::string error;
      if (negated) {
        return absl::InvalidArgumentError(absl::StrCat("--", spelled, " takes no value"));
      }
      if (is_bool && !absl::ParseFlag(value, &unused, &error)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", spelled, ": must be true or false, got \"", value, "\""));
      }
    } else if (!is_bool && !negated) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", spelled, " needs a value"));
      }
      args[i] = absl::StrCat("--", name);
      ++i;  // the next argument is this flag's value, whatever it looks like
      continue;
    }
    args[i] =
        absl::StrCat("--", name, equals == absl::string_view::npos ? "" : body.substr(equals));
  }
  return args;
}

absl::StatusOr<std::vector<std::string>> ParseTallydCommandLine(int argc, char* argv[]) {
  static std::once_flag usage_once;
  std::call_once(usage_once, [] {
    absl::SetProgramUsageMessage(kUsage);
    absl::FlagsUsageConfig usage_config;
    usage_config.version_string = [] { return std::string("tallyd " TALLYD_VERSION "\n"); };
    // --help lists the flags defined under config/ and server/ (absl's default looks for a file
    // named after the binary, which would list none).
    usage_config.contains_help_flags = [](absl::string_view file) {
      return absl::StrContains(file, "config/") || absl::StrContains(file, "server/");
    };
    usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
    absl::SetFlagsUsageConfig(usage_config);
  });
  absl::StatusOr<std::vector<std::string>> args =
      NormalizeCommandLine(std::vector<std::string>(argv, argv + argc));
  if (!args.ok()) return args.status();
  std::vector<char*> pointers;
  for (std::string& arg : *args) pointers.push_back(arg.data());
  pointers.push_back(nullptr);
  const std::vector<char*> rest =
      absl::ParseCommandLine(static_cast<int>(args->size()), pointers.data());
  return std::vector<std::string>(rest.begin() + (rest.empty() ? 0 : 1), rest.end());
}

absl::StatusOr<Config> LoadConfigFromFlags(const FlagSelector& selected) {
  Config config;
  ConfigOrigins origins;
  const std::string path = absl::GetFlag(FLAGS_config);
  if (!path.empty()) {
    absl::StatusOr<std::string> text = config_internal::ReadConfigFile(path);
    if (!text.ok()) return text.status();
    absl::StatusOr<Config> parsed = ParseConfigYaml(*text, path, &origins, /*validate=*/false);
    if (!parsed.ok()) return parsed.status();
    config = *std::move(parsed);
  }
  if (absl::Status status = ApplyFlagOverrides(config, &origins, selected); !status.ok()) {
    return status;
  }
  ResolveConfig(config);
  if (absl::Status status = ValidateConfig(config, &origins); !status.ok()) return status;
  return config;
}

}  // namespace tallyd
