// Tests for config/: defaults (SPEC 6), the YAML reader's strictness and messages, value syntax,
// ${VAR} expansion, and command-line flags overriding the file only when given.
#include "config/config.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "config/keys.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/config/scoped_env.h"

namespace tallyd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const std::string kTestdata = TALLYD_TESTDATA_DIR;

// Config{} as LoadConfig gives it on this host (without IPv6, the default udp has no [::1]).
Config ResolvedDefaults() {
  Config config;
  ResolveConfig(config);
  return config;
}

std::string ErrorOf(absl::string_view yaml) {
  absl::StatusOr<Config> config = ParseConfigYaml(yaml, "t.yaml");
  if (config.ok()) return "<ok>";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

TEST(ConfigTest, DefaultsMatchSpec) {
  const Config config;
  EXPECT_EQ(config.flush_interval, absl::Seconds(10));
  EXPECT_EQ(config.shutdown_timeout, absl::Seconds(5));
  EXPECT_THAT(config.listen.udp, ElementsAre("127.0.0.1:8125", "[::1]:8125"));  // loopback only
  EXPECT_FALSE(config.listen.non_local_traffic);
  EXPECT_THAT(config.listen.tcp, IsEmpty());
  EXPECT_THAT(config.listen.unix, IsEmpty());
  EXPECT_EQ(config.listen.workers, 0);
  EXPECT_EQ(config.listen.receive_buffer, 8 << 20);
  EXPECT_EQ(config.listen.max_packet_size, 65535);
  EXPECT_EQ(config.listen.max_line_length, 65535);
  EXPECT_EQ(config.listen.max_tags, 256);
  EXPECT_EQ(config.listen.tcp_line_timeout, absl::Seconds(10));
  EXPECT_THAT(config.aggregation.percentiles, ElementsAre(50, 90, 95, 99));
  EXPECT_EQ(config.aggregation.exact_samples, 8192);
  EXPECT_EQ(config.aggregation.sketch_accuracy, 0.01);
  EXPECT_EQ(config.aggregation.exact_set_size, 4096);
  EXPECT_EQ(config.aggregation.gauge_mode, GaugeMode::kDogStatsD);
  EXPECT_EQ(config.aggregation.series_ttl, absl::Minutes(5));
  EXPECT_EQ(config.aggregation.max_series, 1000000);
  EXPECT_EQ(config.aggregation.max_series_per_metric, 0);  // no cap
  EXPECT_EQ(config.aggregation.max_timestamped_points, 100000);
  EXPECT_EQ(config.aggregation.max_events, 10000);
  EXPECT_THAT(config.aggregation.global_tags, IsEmpty());
  ASSERT_TRUE(config.prometheus.has_value());
  EXPECT_EQ(config.prometheus->listen, "0.0.0.0:9102");
  EXPECT_EQ(config.prometheus->timer_type, TimerType::kSummary);
  EXPECT_THAT(config.prometheus->quantiles, ElementsAre(0.5, 0.9, 0.99));
  EXPECT_FALSE(config.graphite.has_value());
  EXPECT_FALSE(config.datadog.has_value());
  EXPECT_FALSE(config.console.has_value());

  const GraphiteConfig graphite;
  EXPECT_EQ(graphite.address, "127.0.0.1:2003");
  EXPECT_TRUE(graphite.legacy_namespace);
  EXPECT_EQ(graphite.tags, GraphiteTags::kGraphite);
  EXPECT_EQ(graphite.global_prefix, "stats");
  EXPECT_EQ(graphite.max_buffered_flushes, 6);
  EXPECT_EQ(graphite.max_backoff, absl::Seconds(10));
  const DatadogConfig datadog;
  EXPECT_EQ(datadog.compression, Compression::kDeflate);
  EXPECT_THAT(datadog.datadog_percentiles, ElementsAre(0.95));
  EXPECT_THAT(datadog.histogram_aggregates,
              ElementsAre(HistogramAggregate::kMax, HistogramAggregate::kMedian,
                          HistogramAggregate::kAvg, HistogramAggregate::kCount));
  EXPECT_EQ(datadog.max_buffered_flushes, 6);
  EXPECT_EQ(datadog.max_backoff, absl::Seconds(10));

  EXPECT_TRUE(ValidateConfig(config).ok());
}

TEST(ConfigTest, EmptyFileGivesDefaults) {
  absl::StatusOr<Config> config = ParseConfigYaml("# nothing\n", "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(*config, ResolvedDefaults());
}

TEST(ConfigTest, SpecExampleParses) {
  ScopedEnv key("DD_API_KEY", "spec-key");
  absl::StatusOr<Config> config = LoadConfigFile(kTestdata + "/spec_example.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  Config expected;
  expected.listen.udp = {"127.0.0.1:8125"};
  expected.graphite.emplace();
  expected.datadog.emplace();
  expected.datadog->url = "https://api.datadoghq.com";
  expected.datadog->api_key = "spec-key";
  expected.datadog->host = config->datadog->host;  // the machine's name
  expected.console.emplace();
  EXPECT_EQ(*config, expected);
  EXPECT_FALSE(config->datadog->host.empty());
}

TEST(ConfigTest, FullExampleParses) {
  ScopedEnv key("TALLYD_TEST_API_KEY", "full-key");
  absl::StatusOr<Config> config = LoadConfigFile(kTestdata + "/full.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->flush_interval, absl::Seconds(2));
  EXPECT_EQ(config->shutdown_timeout, absl::Milliseconds(1500));
  EXPECT_EQ(config->log_level, LogLevel::kDebug);
  // non_local_traffic opens the loopback addresses.
  EXPECT_TRUE(config->listen.non_local_traffic);
  EXPECT_THAT(config->listen.udp, ElementsAre("0.0.0.0:0", "[::]:8125"));
  EXPECT_THAT(config->listen.tcp, ElementsAre("0.0.0.0:8126"));
  EXPECT_THAT(config->listen.unix, ElementsAre("/tmp/tallyd.sock"));
  EXPECT_EQ(config->listen.workers, 3);
  EXPECT_EQ(config->listen.receive_buffer, 4 << 20);
  EXPECT_EQ(config->listen.max_packet_size, 8192);
  EXPECT_EQ(config->listen.tcp_max_connections, 10);
  EXPECT_EQ(config->listen.tcp_idle_timeout, absl::Seconds(30));
  EXPECT_EQ(config->listen.tcp_line_timeout, absl::Seconds(3));
  EXPECT_EQ(config->listen.max_line_length, 4096);
  EXPECT_EQ(config->listen.max_tags, 32);
  EXPECT_EQ(config->listen.unix_socket_mode, 0700u);
  EXPECT_THAT(config->aggregation.percentiles, ElementsAre(50, 99.9, -10));
  EXPECT_EQ(config->aggregation.exact_samples, 100);
  EXPECT_EQ(config->aggregation.sketch_accuracy, 0.02);
  EXPECT_EQ(config->aggregation.exact_set_size, 64);
  EXPECT_EQ(config->aggregation.gauge_mode, GaugeMode::kEtsy);
  EXPECT_EQ(config->aggregation.series_ttl, absl::ZeroDuration());
  EXPECT_EQ(config->aggregation.max_series, 5000);
  EXPECT_EQ(config->aggregation.max_series_per_metric, 100);
  EXPECT_EQ(config->aggregation.max_timestamped_points, 2000);
  EXPECT_EQ(config->aggregation.max_events, 50);
  EXPECT_THAT(config->aggregation.global_tags, ElementsAre("env:test", "canary"));

  ASSERT_TRUE(config->prometheus.has_value());
  EXPECT_EQ(config->prometheus->listen, "127.0.0.1:0");
  EXPECT_EQ(config->prometheus->timer_type, TimerType::kHistogram);
  EXPECT_THAT(config->prometheus->quantiles, ElementsAre(0.5, 0.999));
  EXPECT_THAT(config->prometheus->buckets, ElementsAre(0.1, 1, 10));
  EXPECT_EQ(config->prometheus->max_buffered_flushes, 2);

  ASSERT_TRUE(config->graphite.has_value());
  const GraphiteConfig& graphite = *config->graphite;
  EXPECT_EQ(graphite.address, "graphite.example.com:2003");
  EXPECT_FALSE(graphite.legacy_namespace);
  EXPECT_EQ(graphite.tags, GraphiteTags::kNone);
  EXPECT_EQ(graphite.global_prefix, "");
  EXPECT_EQ(graphite.prefix_counter, "c");
  EXPECT_EQ(graphite.prefix_timer, "t");
  EXPECT_EQ(graphite.prefix_gauge, "g");
  EXPECT_EQ(graphite.prefix_set, "s");
  EXPECT_EQ(graphite.global_suffix, "suffix");
  EXPECT_EQ(graphite.max_buffered_flushes, 12);
  EXPECT_EQ(graphite.connect_timeout, absl::Seconds(1));
  EXPECT_EQ(graphite.write_timeout, absl::Seconds(2));
  EXPECT_EQ(graphite.max_backoff, absl::Seconds(30));
  EXPECT_FALSE(graphite.self_metrics);

  ASSERT_TRUE(config->datadog.has_value());
  const DatadogConfig& datadog = *config->datadog;
  EXPECT_EQ(datadog.url, "https://api.datadoghq.eu");  // from site
  EXPECT_EQ(datadog.api_key, "full-key");
  EXPECT_EQ(datadog.compression, Compression::kZstd);
  EXPECT_EQ(datadog.host, "test-host");
  EXPECT_THAT(datadog.datadog_percentiles, ElementsAre(0.5, 0.99));
  EXPECT_THAT(
      datadog.histogram_aggregates,
      ElementsAre(HistogramAggregate::kMin, HistogramAggregate::kMax, HistogramAggregate::kSum));
  EXPECT_EQ(datadog.timeout, absl::Seconds(5));
  EXPECT_EQ(datadog.max_backoff, absl::Minutes(1));
  EXPECT_EQ(datadog.max_buffered_flushes, 3);
  EXPECT_TRUE(datadog.self_metrics);

  ASSERT_TRUE(config->console.has_value());
  EXPECT_TRUE(config->console->self_metrics);
}

// Each kind of mistake names file, line and the full key path.
struct ErrorCase {
  const char* name;
  const char* yaml;
  const char* message;
};

class ConfigErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigErrorTest, NamesFileLineAndKey) {
  ScopedEnv key("DD_API_KEY", nullptr);
  EXPECT_THAT(ErrorOf(GetParam().yaml), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ConfigErrorTest,
    ::testing::Values(
        ErrorCase{"UnknownTopLevelKey", "flush_interval: 1s\nflush_intervl: 2s\n",
                  "t.yaml:2: flush_intervl: unknown key; valid here: aggregation, backends,"},
        ErrorCase{"UnknownNestedKey", "backends:\n  graphite:\n    adress: x:1\n",
                  "t.yaml:3: backends.graphite.adress: unknown key; valid here: address,"},
        ErrorCase{"UnknownBackend", "backends:\n  influx: {}\n",
                  "t.yaml:2: backends.influx: unknown key; valid here: console, datadog, "
                  "graphite, prometheus"},
        ErrorCase{"EnabledOutsideBackend", "listen:\n  enabled: true\n",
                  "t.yaml:2: listen.enabled: unknown key"},
        ErrorCase{"RepeatedKey", "listen:\n  workers: 1\n  workers: 2\n",
                  "t.yaml:3: listen.workers: is set twice"},
        ErrorCase{"NotAnInteger", "aggregation:\n  exact_samples: abc\n",
                  "t.yaml:2: aggregation.exact_samples: must be an integer, got \"abc\""},
        ErrorCase{"ListForScalar", "aggregation:\n\n  exact_samples: [1]\n",
                  "t.yaml:3: aggregation.exact_samples: must be a single value, got a list"},
        ErrorCase{"ScalarForList", "listen:\n  udp: \"0.0.0.0:8125\"\n",
                  "t.yaml:2: listen.udp: must be a list like [a, b], got a single value"},
        ErrorCase{"ScalarForSection", "listen: 8125\n", "t.yaml:1: listen: must be a map of keys"},
        ErrorCase{"MissingValue", "aggregation:\n  max_series:\n",
                  "t.yaml:2: aggregation.max_series: must be a single value, got nothing"},
        ErrorCase{"NotAMap", "- a\n- b\n", "t.yaml:1: the file must be a map of keys"},
        ErrorCase{"DurationWithoutUnit", "flush_interval: 10\n",
                  "t.yaml:1: flush_interval: must be a duration with a unit (ms, s, m, h)"},
        ErrorCase{"BadDuration", "listen:\n  tcp_idle_timeout: 5 minutes\n",
                  "t.yaml:2: listen.tcp_idle_timeout: must be a duration like 10s"},
        ErrorCase{"NegativeDuration", "shutdown_timeout: -1s\n",
                  "t.yaml:1: shutdown_timeout: must be a duration"},
        ErrorCase{"DecimalSizeUnit", "listen:\n  receive_buffer: 8MB\n",
                  "t.yaml:2: listen.receive_buffer: must be a size in bytes like 65535, 512KiB"},
        ErrorCase{"PacketTooBig", "listen:\n  max_packet_size: 64KiB\n",
                  "t.yaml:2: listen.max_packet_size: must be 1..65535 bytes, got 65536"},
        ErrorCase{"PercentileOutOfRange", "aggregation:\n  percentiles:\n    - 50\n    - 101\n",
                  "t.yaml:4: aggregation.percentiles[1]: must be in [-100, 100] and not 0, got "
                  "101"},
        ErrorCase{"PercentileZero", "aggregation:\n  percentiles: [0]\n",
                  "t.yaml:2: aggregation.percentiles[0]: must be in [-100, 100] and not 0"},
        ErrorCase{"PercentileNotANumber", "aggregation:\n  percentiles: [50, p99]\n",
                  "t.yaml:2: aggregation.percentiles[1]: must be a number, got \"p99\""},
        ErrorCase{"PercentileRepeated", "aggregation:\n  percentiles: [50, 90, 50]\n",
                  "t.yaml:2: aggregation.percentiles[2]: repeats item 0"},
        ErrorCase{"SketchAccuracy", "aggregation:\n  sketch_accuracy: 0.5\n",
                  "t.yaml:2: aggregation.sketch_accuracy: must be in (0, 0.5), got 0.5"},
        ErrorCase{"GaugeMode", "aggregation:\n  gauge_mode: statsd\n",
                  "t.yaml:2: aggregation.gauge_mode: must be one of dogstatsd, etsy, got "
                  "\"statsd\""},
        ErrorCase{"ExactSamplesZero", "aggregation:\n  exact_samples: 0\n",
                  "t.yaml:2: aggregation.exact_samples: must be at least 1, got 0"},
        ErrorCase{"MaxTagsZero", "listen:\n  max_tags: 0\n",
                  "t.yaml:2: listen.max_tags: must be 1..65536, got 0"},
        ErrorCase{"MaxTagsTooMany", "listen:\n  max_tags: 65537\n",
                  "t.yaml:2: listen.max_tags: must be 1..65536, got 65537"},
        ErrorCase{"MaxTagsNotAnInteger", "listen:\n  max_tags: lots\n",
                  "t.yaml:2: listen.max_tags: must be an integer, got \"lots\""},
        ErrorCase{"MaxTimestampedPointsZero", "aggregation:\n  max_timestamped_points: 0\n",
                  "t.yaml:2: aggregation.max_timestamped_points: must be 1..10000000, got 0"},
        ErrorCase{"MaxTimestampedPointsTooMany",
                  "aggregation:\n  max_timestamped_points: 10000001\n",
                  "t.yaml:2: aggregation.max_timestamped_points: must be 1..10000000, got "
                  "10000001"},
        ErrorCase{"WorkersNegative", "listen:\n  workers: -1\n",
                  "t.yaml:2: listen.workers: must be 0 (one per core) .. 1024, got -1"},
        ErrorCase{"MaxEventsNegative", "aggregation:\n\n  max_events: -1\n",
                  "t.yaml:3: aggregation.max_events: must be 1..1000000, got -1"},
        ErrorCase{"MaxEventsTooMany", "aggregation:\n  max_events: 1000001\n",
                  "t.yaml:2: aggregation.max_events: must be 1..1000000, got 1000001"},
        ErrorCase{"MaxEventsNotAnInteger", "aggregation:\n  max_events: 1e3\n",
                  "t.yaml:2: aggregation.max_events: must be an integer, got \"1e3\""},
        ErrorCase{"MaxSeriesPerMetricNegative", "aggregation:\n  max_series_per_metric: -1\n",
                  "t.yaml:2: aggregation.max_series_per_metric: must be 0 (no cap) or more, got "
                  "-1"},
        ErrorCase{"MaxSeriesPerMetricNotAnInteger", "aggregation:\n  max_series_per_metric: x\n",
                  "t.yaml:2: aggregation.max_series_per_metric: must be an integer, got \"x\""},
        ErrorCase{"TcpLineTimeoutWithoutUnit", "listen:\n  tcp_line_timeout: 10\n",
                  "t.yaml:2: listen.tcp_line_timeout: must be a duration with a unit"},
        ErrorCase{"NonLocalTrafficNotBool", "listen:\n  non_local_traffic: everyone\n",
                  "t.yaml:2: listen.non_local_traffic: must be true or false, got \"everyone\""},
        ErrorCase{"GraphiteMaxBackoffZero", "backends:\n  graphite:\n    max_backoff: 0\n",
                  "t.yaml:3: backends.graphite.max_backoff: must be more than 0, got 0"},
        ErrorCase{"DatadogMaxBackoffZero",
                  "backends:\n  datadog:\n    api_key: k\n    max_backoff: 0s\n",
                  "t.yaml:4: backends.datadog.max_backoff: must be more than 0, got 0"},
        ErrorCase{"GlobalTagWithComma", "aggregation:\n  global_tags: [\"a:1,b:2\"]\n",
                  "t.yaml:2: aggregation.global_tags[0]: must be key:value or key"},
        ErrorCase{"AddressWithoutPort", "listen:\n  udp: [localhost]\n",
                  "t.yaml:2: listen.udp[0]: must be host:port, got \"localhost\""},
        ErrorCase{"AddressPortTooBig", "listen:\n  tcp: [\"127.0.0.1:70000\"]\n",
                  "t.yaml:2: listen.tcp[0]: must end in a port 0..65535"},
        ErrorCase{"AddressBadIpv4", "listen:\n  udp: [\"300.1.1.1:8125\"]\n",
                  "t.yaml:2: listen.udp[0]: must be host:port with a valid host name or IPv4"},
        ErrorCase{"Ipv6WithoutBrackets", "listen:\n  udp: [\"::1:8125\"]\n",
                  "t.yaml:2: listen.udp[0]: must be host:port; an IPv6 address needs brackets"},
        ErrorCase{"PrometheusListen", "backends:\n  prometheus:\n    listen: 9102\n",
                  "t.yaml:3: backends.prometheus.listen: must be host:port, got \"9102\""},
        ErrorCase{"NoListener", "listen:\n  udp: []\n",
                  "t.yaml:1: listen: no listener: udp, tcp and unix are all empty"},
        ErrorCase{"TimerType", "backends:\n  prometheus: {timer_type: histo}\n",
                  "t.yaml:2: backends.prometheus.timer_type: must be one of summary, histogram"},
        ErrorCase{"BucketsNotIncreasing", "backends:\n  prometheus: {buckets: [1, 0.5]}\n",
                  "t.yaml:2: backends.prometheus.buckets[1]: must be greater than the bucket"},
        ErrorCase{"LegacyNamespaceNotBool", "backends:\n  graphite:\n    legacy_namespace: 2\n",
                  "t.yaml:3: backends.graphite.legacy_namespace: must be true or false, got "
                  "\"2\""},
        ErrorCase{"DatadogWithoutKey", "backends:\n  datadog: {}\n",
                  "t.yaml:2: backends.datadog.api_key: is empty"},
        ErrorCase{"DatadogAggregate",
                  "backends:\n  datadog:\n    api_key: k\n    histogram_aggregates: [max, p99]\n",
                  "t.yaml:4: backends.datadog.histogram_aggregates[1]: must be one of max, "
                  "median, avg, count, min, sum, got \"p99\""},
        ErrorCase{"DatadogPercentile",
                  "backends:\n  datadog:\n    api_key: k\n    datadog_percentiles: [95]\n",
                  "t.yaml:4: backends.datadog.datadog_percentiles[0]: must be in (0, 1)"},
        ErrorCase{"UnterminatedEnv", "backends:\n  datadog:\n    api_key: ${DD_API_KEY\n",
                  "t.yaml:3: backends.datadog.api_key: unterminated ${"},
        ErrorCase{"YamlSyntaxFlow", "listen:\n  udp: [\"0.0.0.0:8125\"\n  tcp: []\n", "t.yaml:"},
        ErrorCase{"YamlSyntaxIndent", "listen:\n  udp: []\n   tcp: []\n",
                  "t.yaml:3: invalid YAML:"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

TEST(ConfigTest, YamlSyntaxErrorNamesFileAndLine) {
  const std::string error = ErrorOf("flush_interval: 1s\nlisten:\n  udp: [\"a:1\"\n");
  EXPECT_THAT(error, ::testing::MatchesRegex("t\\.yaml:[0-9]+: invalid YAML: .*"));
}

TEST(ConfigTest, ReportsEveryProblemAtOnce) {
  const std::string error =
      ErrorOf("bogus: 1\naggregation:\n  exact_samples: x\n  gauge_mode: y\n");
  EXPECT_THAT(error, HasSubstr("t.yaml:1: bogus: unknown key"));
  EXPECT_THAT(error, HasSubstr("t.yaml:3: aggregation.exact_samples: must be an integer"));
  EXPECT_THAT(error, HasSubstr("t.yaml:4: aggregation.gauge_mode: must be one of"));
}

TEST(ConfigTest, BackendsMapListsExactlyTheBackendsThatAreOn) {
  absl::StatusOr<Config> config = ParseConfigYaml("flush_interval: 1s\n", "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->prometheus.has_value());  // no backends: map -> the default

  config = ParseConfigYaml("backends:\n  graphite: {}\n", "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->prometheus.has_value());
  ASSERT_TRUE(config->graphite.has_value());
  EXPECT_EQ(*config->graphite, GraphiteConfig{});

  config = ParseConfigYaml("backends:\n  console:\n", "t.yaml");  // null section: on
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->console.has_value());
  EXPECT_FALSE(config->prometheus.has_value());

  config = ParseConfigYaml("backends: {}\n", "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->prometheus, std::nullopt);

  // `enabled: false` keeps the settings in the file but turns the backend off, wherever it is.
  config = ParseConfigYaml(
      "backends:\n  prometheus:\n    enabled: false\n    listen: 127.0.0.1:1\n  console: {}\n",
      "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->prometheus.has_value());
  EXPECT_TRUE(config->console.has_value());
}

TEST(ConfigTest, ExpandsEnvironmentVariables) {
  ScopedEnv port("TALLYD_TEST_PORT", "9999");
  ScopedEnv unset("TALLYD_TEST_UNSET", nullptr);
  absl::StatusOr<Config> config = ParseConfigYaml(
      "listen:\n  udp: [\"127.0.0.1:${TALLYD_TEST_PORT}\"]\n"
      "aggregation:\n  global_tags: [\"a:${TALLYD_TEST_UNSET}x\", \"b:$${literal}\"]\n"
      "  exact_samples: ${TALLYD_TEST_PORT}\n",
      "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->listen.udp, ElementsAre("127.0.0.1:9999"));
  EXPECT_THAT(config->aggregation.global_tags, ElementsAre("a:x", "b:${literal}"));
  EXPECT_EQ(config->aggregation.exact_samples, 9999);
}

TEST(ConfigTest, ExpandEnv) {
  ScopedEnv set("TALLYD_TEST_VAR", "v");
  ScopedEnv unset("TALLYD_TEST_UNSET", nullptr);
  EXPECT_EQ(ExpandEnv("a${TALLYD_TEST_VAR}b").value(), "avb");
  EXPECT_EQ(ExpandEnv("${TALLYD_TEST_UNSET}").value(), "");
  EXPECT_EQ(ExpandEnv("$5 and $$ and $${X}").value(), "$5 and $$ and ${X}");
  EXPECT_FALSE(ExpandEnv("${").ok());
  EXPECT_FALSE(ExpandEnv("${1X}").ok());
  EXPECT_FALSE(ExpandEnv("${A-B}").ok());
  for (const char* value : {"${X}", "$${", "$$${", "a$", "${", "$}{"}) {
    EXPECT_EQ(ExpandEnv(EscapeEnv(value)).value(), value) << EscapeEnv(value);
  }
}

TEST(ConfigTest, ParseDuration) {
  EXPECT_EQ(ParseDuration("10s").value(), absl::Seconds(10));
  EXPECT_EQ(ParseDuration("500ms").value(), absl::Milliseconds(500));
  EXPECT_EQ(ParseDuration("5m").value(), absl::Minutes(5));
  EXPECT_EQ(ParseDuration("1h").value(), absl::Hours(1));
  EXPECT_EQ(ParseDuration("1m30s").value(), absl::Seconds(90));
  EXPECT_EQ(ParseDuration("1.5s").value(), absl::Milliseconds(1500));
  EXPECT_EQ(ParseDuration("0").value(), absl::ZeroDuration());
  for (const char* bad : {"", "10", "1.5", "s", "10 s", "-1s", "inf", "10d", "ten seconds"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
}

TEST(ConfigTest, ParseSize) {
  EXPECT_EQ(ParseSize("0").value(), 0);
  EXPECT_EQ(ParseSize("65535").value(), 65535);
  EXPECT_EQ(ParseSize("512KiB").value(), 512 << 10);
  EXPECT_EQ(ParseSize("8MiB").value(), 8 << 20);
  EXPECT_EQ(ParseSize("8 MiB").value(), 8 << 20);
  EXPECT_EQ(ParseSize("1GiB").value(), int64_t{1} << 30);
  for (const char* bad :
       {"", "MiB", "8MB", "8KB", "8k", "1.5MiB", "-1", "8mib", "99999999999GiB"}) {
    EXPECT_FALSE(ParseSize(bad).ok()) << bad;
  }
}

TEST(ConfigTest, ParseHostPort) {
  absl::StatusOr<HostPort> parsed = ParseHostPort("0.0.0.0:8125");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->host, "0.0.0.0");
  EXPECT_EQ(parsed->port, 8125);
  parsed = ParseHostPort("[::1]:0");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->host, "::1");
  EXPECT_EQ(parsed->port, 0);
  EXPECT_TRUE(ParseHostPort("graphite.example.com:2003").ok());
  EXPECT_TRUE(ParseHostPort("[fe80::1%eth0]:8125").ok());
  EXPECT_TRUE(ParseHostPort("localhost:65535").ok());
  for (const char* bad : {"", "8125", ":8125", "host:", "host:-1", "host:65536", "host:80x",
                          "::1:8125", "[::1]8125", "[zz]:1", "1.2.3:80", "bad host:1"}) {
    EXPECT_FALSE(ParseHostPort(bad).ok()) << bad;
  }
}

TEST(ConfigTest, EffectiveWorkers) {
  ListenConfig listen;
  EXPECT_GE(EffectiveWorkers(listen), 1);
  listen.workers = 3;
  EXPECT_EQ(EffectiveWorkers(listen), 3);
}

TEST(ConfigTest, MissingFileIsAConfigError) {
  absl::StatusOr<Config> config = LoadConfigFile("/nonexistent/tallyd.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("/nonexistent/tallyd.yaml: cannot read"));
}

TEST(ConfigTest, FormatConfigIsReadable) {
  const std::string text = FormatConfig(Config{});
  EXPECT_THAT(text, HasSubstr("flush_interval: 10s\n"));
  EXPECT_THAT(text, HasSubstr("percentiles: [50, 90, 95, 99]\n"));
  EXPECT_THAT(text, HasSubstr("receive_buffer: 8MiB\n"));
  EXPECT_THAT(text, HasSubstr("unix_socket_mode: 0722\n"));
  EXPECT_THAT(text,
              HasSubstr("buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]"));
}

TEST(ConfigTest, FormatConfigParsesBack) {
  ScopedEnv key("TALLYD_TEST_API_KEY", "full-key");
  absl::StatusOr<Config> config = LoadConfigFile(kTestdata + "/full.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  const std::string text = FormatConfig(*config);
  EXPECT_THAT(text, HasSubstr("<redacted>"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("full-key")));
  absl::StatusOr<Config> back = ParseConfigYaml(text, "formatted", nullptr, false);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << text;
  back->datadog->api_key = "full-key";
  EXPECT_EQ(*back, *config) << text;

  back = ParseConfigYaml(FormatConfig(Config{}), "formatted");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, ResolvedDefaults());

  Config no_backends = ResolvedDefaults();
  no_backends.prometheus.reset();
  EXPECT_THAT(FormatConfig(no_backends), HasSubstr("\nbackends:\n  {}\n"));  // all off
  back = ParseConfigYaml(FormatConfig(no_backends), "formatted");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, no_backends);
}

// A value holding "${" (written "$${" in the file) is printed so that it reads back as "${".
TEST(ConfigTest, FormatConfigKeepsALiteralDollarBrace) {
  ScopedEnv unset("literal", nullptr);
  absl::StatusOr<Config> config = ParseConfigYaml(
      "aggregation:\n  global_tags: [\"b:$${literal}\", \"$$${x\"]\n"
      "backends:\n  graphite: {global_suffix: \"a$${\"}\n",
      "t.yaml", nullptr, false);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_THAT(config->aggregation.global_tags, ElementsAre("b:${literal}", "$${x"));
  const std::string text = FormatConfig(*config);
  absl::StatusOr<Config> back = ParseConfigYaml(text, "formatted", nullptr, false);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << text;
  EXPECT_EQ(*back, *config) << text;
}

// Random text that a key of `key`'s kind parses: the property test's generator, driven by the key
// table so that every key (and every key added later) is covered.
std::string RandomItem(const config_internal::Key& key, std::mt19937_64& rng) {
  auto below = [&rng](uint64_t n) {
    return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng);
  };
  const absl::string_view kind = key.kind;
  if (!key.choices.empty()) return std::string(key.choices[below(key.choices.size())]);
  if (kind == "bool") return below(2) ? "true" : "false";
  if (kind == "integer") {
    return absl::StrCat(static_cast<int32_t>(below(uint64_t{1} << 32)) >> below(32));
  }
  if (kind == "size")
    return FormatSize(static_cast<int64_t>(below(uint64_t{1} << 40) >> below(40)));
  if (kind == "octal file mode") return absl::StrFormat("0%o", below(uint64_t{1} << 32));
  if (kind == "duration") {
    const int64_t ns = static_cast<int64_t>(below(uint64_t{1} << 62) >> below(62));
    return absl::FormatDuration(absl::Nanoseconds(ns));
  }
  if (kind == "number") {
    const double magnitude = std::ldexp(std::uniform_real_distribution<double>(0, 1)(rng),
                                        static_cast<int>(below(200)) - 100);
    return absl::StrFormat("%.17g", below(2) ? magnitude : -magnitude);
  }
  if (kind == "name=value") {  // a map entry: a plain name, any value
    return absl::StrCat("k", below(1000), "=", RandomItem(config_internal::Key{}, rng));
  }
  // Strings: the characters YAML, ${VAR} expansion and quoting care about, and UTF-8.
  static const std::vector<std::string> pieces = {
      "a",    "Z",  "0",  " ",  "  ",   "$",    "{", "}",  "${", "$${",     "\"",
      "'",    "\\", ":",  ": ", "#",    " #",   ",", "[",  "]",  "-",       "- ",
      "?",    "|",  ">",  "&",  "*",    "!",    "%", "@",  "`",  "~",       "null",
      "true", "\t", "\n", "\r", "\x01", "\x7f", "é", "中", "😀",  "\xc2\xa0"};
  std::string text;
  for (uint64_t n = below(8); n > 0; --n) text += pieces[below(pieces.size())];
  return text;
}

TEST(ConfigPropertyTest, FormatConfigReadsBackToTheSameConfig) {
  std::mt19937_64 rng(20240611);
  for (int round = 0; round < 1000; ++round) {
    Config config;
    std::string made;  // how the config was made, for a failure message
    for (bool enabled_pass : {false, true}) {
      for (const config_internal::Key& key : config_internal::Keys()) {
        if (key.enabled != enabled_pass || rng() % 3 == 0) continue;
        std::vector<std::string> items(key.list ? rng() % 5 : 1);
        for (std::string& item : items) item = RandomItem(key, rng);
        size_t bad = 0;
        ASSERT_TRUE(key.set(config, items, &bad).ok())
            << key.path << " " << absl::StrJoin(items, ",");
        absl::StrAppend(&made, key.path, "=", absl::CEscape(absl::StrJoin(items, ",")), "\n");
      }
    }
    if (config.remote_write.has_value()) {
      // A map names each entry once (a repeated name is an error): keep the first.
      for (std::vector<std::string>* entries :
           {&config.remote_write->external_labels, &config.remote_write->headers}) {
        std::vector<std::string> unique;
        for (const std::string& entry : *entries) {
          const std::string name = entry.substr(0, entry.find('='));
          if (std::none_of(unique.begin(), unique.end(), [&](const std::string& e) {
                return e.substr(0, e.find('=')) == name;
              })) {
            unique.push_back(entry);
          }
        }
        *entries = unique;
      }
    }
    const std::string text = FormatConfig(config);
    absl::StatusOr<Config> back = ParseConfigYaml(text, "formatted", nullptr, false);
    ASSERT_TRUE(back.ok()) << back.status() << "\n" << text << "\nfrom\n" << made;
    if (back->datadog.has_value() && config.datadog.has_value()) {
      back->datadog->api_key = config.datadog->api_key;  // printed as <redacted>
    }
    if (back->remote_write.has_value() && config.remote_write.has_value()) {
      back->remote_write->password = config.remote_write->password;  // <redacted>
      back->remote_write->bearer_token = config.remote_write->bearer_token;
      // Header values print as <redacted>, their names as they are.
      ASSERT_EQ(back->remote_write->headers.size(), config.remote_write->headers.size()) << text;
      for (size_t i = 0; i < config.remote_write->headers.size(); ++i) {
        const std::string& entry = config.remote_write->headers[i];
        const std::string value = entry.substr(entry.find('=') + 1);
        EXPECT_EQ(back->remote_write->headers[i],
                  value.empty() ? entry : entry.substr(0, entry.find('=') + 1) + "<redacted>")
            << text;
      }
      back->remote_write->headers = config.remote_write->headers;
    }

    ASSERT_EQ(*back, config) << text << "\nfrom\n" << made;
  }
}

// --- Flags ---------------------------------------------------------------------------------

TEST(ConfigFlagsTest, EveryKeyHasOneFlagThatReadsBackItsDefault) {
  Config expected;
  expected.graphite.emplace();
  expected.datadog.emplace();
  expected.console.emplace();
  expected.remote_write.emplace();
  std::vector<FlagValue> flags;
  std::set<std::string> seen = {"config", "check_config", "ports_file", "help", "version"};
  for (const config_internal::Key& key : config_internal::Keys()) {
    EXPECT_TRUE(seen.insert(key.flag).second) << key.flag;
    EXPECT_FALSE(key.help.empty()) << key.path;
    if (key.enabled) continue;
    const std::vector<std::string> items = key.get(expected).value();
    flags.push_back({key.flag, absl::StrJoin(items, ",")});
  }
  Config config = expected;
  ASSERT_TRUE(ApplyFlagOverrides(config, flags).ok());
  EXPECT_EQ(config, expected);
}

TEST(ConfigFlagsTest, OverrideFileOnlyWhenSpecified) {
  ConfigOrigins origins;
  absl::StatusOr<Config> config = ParseConfigYaml(
      "flush_interval: 30s\naggregation:\n  exact_samples: 100\n", "t.yaml", &origins, false);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(ApplyFlagOverrides(
                  *config, {{"flush_interval", "2s"}, {"udp", "127.0.0.1:0, [::1]:0"}}, &origins)
                  .ok());
  EXPECT_EQ(config->flush_interval, absl::Seconds(2));
  EXPECT_THAT(config->listen.udp, ElementsAre("127.0.0.1:0", "[::1]:0"));
  EXPECT_EQ(config->aggregation.exact_samples, 100);  // no --exact_samples
  EXPECT_EQ(origins.Find("flush_interval"), "--flush_interval");
  EXPECT_EQ(origins.Find("aggregation.exact_samples"), "t.yaml:3");
}

TEST(ConfigFlagsTest, LastFlagForAKeyWins) {
  Config config;
  ASSERT_TRUE(ApplyFlagOverrides(config, {{"max_series", "5"}, {"max_series", "7"}}).ok());
  EXPECT_EQ(config.aggregation.max_series, 7);
  EXPECT_THAT(ApplyFlagOverrides(config, {{"max_serie", "5"}}).message(),
              HasSubstr("unknown flag --max_serie"));
}

TEST(ConfigFlagsTest, FlagErrorsNameTheFlagAndKey) {
  Config config;
  absl::Status status = ApplyFlagOverrides(config, {{"exact_samples", "abc"}});
  EXPECT_THAT(status.message(), HasSubstr("--exact_samples: aggregation.exact_samples: must be "
                                          "an integer, got \"abc\""));

  ConfigOrigins origins;
  ASSERT_TRUE(ApplyFlagOverrides(config, {{"percentiles", "50,200"}}, &origins).ok());
  status = ValidateConfig(config, &origins);
  EXPECT_THAT(status.message(),
              HasSubstr("--percentiles: aggregation.percentiles[1]: must be in [-100, 100]"));
  status = ApplyFlagOverrides(config, {{"percentiles", "50,x"}}, &origins);
  EXPECT_THAT(status.message(),
              HasSubstr("--percentiles: aggregation.percentiles[1]: must be a number"));
}

// The per-line and per-interval limits: a flag sets each over the file, and a bad flag value is
// reported naming the flag and the key.
TEST(ConfigFlagsTest, LimitFlags) {
  ConfigOrigins origins;
  absl::StatusOr<Config> config = ParseConfigYaml(
      "listen:\n  max_tags: 10\naggregation:\n  max_events: 20\n  max_timestamped_points: 30\n",
      "t.yaml", &origins, false);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen.max_tags, 10);
  EXPECT_EQ(config->aggregation.max_events, 20);
  EXPECT_EQ(config->aggregation.max_timestamped_points, 30);
  ASSERT_TRUE(
      ApplyFlagOverrides(*config,
                         {{"max_tags", "2"}, {"max_events", "1"}, {"max_timestamped_points", "3"}},
                         &origins)
          .ok());
  EXPECT_EQ(config->listen.max_tags, 2);
  EXPECT_EQ(config->aggregation.max_events, 1);
  EXPECT_EQ(config->aggregation.max_timestamped_points, 3);
  EXPECT_TRUE(ValidateConfig(*config, &origins).ok());

  Config bad;
  absl::Status status = ApplyFlagOverrides(
      bad, {{"max_tags", "0"}, {"max_events", "many"}, {"max_timestamped_points", "20000000"}},
      &origins);
  EXPECT_THAT(status.message(),
              HasSubstr("--max_events: aggregation.max_events: must be an integer, got \"many\""));
  status = ValidateConfig(bad, &origins);
  EXPECT_THAT(status.message(), HasSubstr("--max_tags: listen.max_tags: must be 1..65536, got 0"));
  EXPECT_THAT(status.message(),
              HasSubstr("--max_timestamped_points: aggregation.max_timestamped_points: must be "
                        "1..10000000, got 20000000"));
}

TEST(ConfigFlagsTest, BackendFlags) {
  absl::StatusOr<Config> config = ParseConfigYaml("backends:\n  console: {}\n", "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  // A backend's key turns it on, as a section in the file does.
  ASSERT_TRUE(ApplyFlagOverrides(*config, {{"graphite_address", "carbon:2003"}}).ok());
  ASSERT_TRUE(config->graphite.has_value());
  EXPECT_EQ(config->graphite->address, "carbon:2003");
  EXPECT_FALSE(config->prometheus.has_value());
  // --prometheus=false wins over a --prometheus_* flag, whatever their order.
  Config defaults;
  ASSERT_TRUE(
      ApplyFlagOverrides(defaults, {{"prometheus", "false"}, {"prometheus_listen", "127.0.0.1:0"}})
          .ok());
  EXPECT_FALSE(defaults.prometheus.has_value());
}

std::vector<FlagValue> FlagsOf(const absl::StatusOr<CommandLine>& command_line) {
  EXPECT_TRUE(command_line.ok()) << command_line.status();
  return command_line.ok() ? command_line->flags : std::vector<FlagValue>{};
}

MATCHER_P2(IsFlag, flag, value, "") { return arg.flag == flag && arg.value == value; }

TEST(ConfigFlagsTest, ParseCommandLine) {
  absl::StatusOr<CommandLine> parsed = ParseCommandLine(
      {"tallyd", "--check-config", "--config", "my-file.yaml", "--flush-interval=2s",
       "-no-graphite", "--nodatadog", "--percentiles", "-99,50", "--console", "--ports_file=p"});
  EXPECT_THAT(FlagsOf(parsed),
              ElementsAre(IsFlag("flush_interval", "2s"), IsFlag("graphite", "false"),
                          IsFlag("datadog", "false"), IsFlag("percentiles", "-99,50"),
                          IsFlag("console", "true")));
  EXPECT_TRUE(parsed->check_config);
  EXPECT_EQ(parsed->config_file, "my-file.yaml");
  EXPECT_EQ(parsed->ports_file, "p");
  EXPECT_FALSE(parsed->help.has_value());
  EXPECT_FALSE(parsed->version);

  parsed = ParseCommandLine({"tallyd", "--graphite=false", "--no_console", "--check_config=no"});
  EXPECT_THAT(FlagsOf(parsed),
              ElementsAre(IsFlag("graphite", "false"), IsFlag("console", "false")));
  EXPECT_FALSE(parsed->check_config);

  // --help wins wherever it is, even after a mistake; its value is the topic.
  for (const char* help : {"--help", "-help", "-h", "--helpfull"}) {
    parsed = ParseCommandLine({"tallyd", "--bogus", help});
    ASSERT_TRUE(parsed.ok()) << help;
    EXPECT_EQ(parsed->help, "") << help;
  }
  EXPECT_EQ(ParseCommandLine({"tallyd", "--help=markdown"})->help, "markdown");
  EXPECT_TRUE(ParseCommandLine({"tallyd", "--version"})->version);

  EXPECT_THAT(ParseCommandLine({"tallyd", "--flush-intervl=2s"}).status().message(),
              HasSubstr("unknown flag --flush-intervl"));
  EXPECT_THAT(ParseCommandLine({"tallyd", "--noudp"}).status().message(),
              HasSubstr("unknown flag --noudp"));
  EXPECT_THAT(ParseCommandLine({"tallyd", "--prometheus=maybe"}).status().message(),
              HasSubstr("--prometheus: must be true or false"));
  EXPECT_THAT(ParseCommandLine({"tallyd", "--nographite=true"}).status().message(),
              HasSubstr("--nographite takes no value"));
  EXPECT_THAT(ParseCommandLine({"tallyd", "--config"}).status().message(),
              HasSubstr("--config needs a value"));
  EXPECT_THAT(ParseCommandLine({"tallyd", "stray"}).status().message(),
              HasSubstr("unexpected argument \"stray\""));
  EXPECT_THAT(ParseCommandLine({"tallyd", "--", "--not-a-flag"}).status().message(),
              HasSubstr("unexpected argument \"--not-a-flag\""));
  EXPECT_TRUE(ParseCommandLine({"tallyd", "--"}).ok());
}

// The whole path main() takes: argv -> flags -> file -> overrides -> validation.
TEST(ConfigFlagsTest, CommandLineOverridesFile) {
  const std::string file = kTestdata + "/spec_example.yaml";
  ScopedEnv key("DD_API_KEY", "k");
  absl::StatusOr<CommandLine> command_line =
      ParseCommandLine({"tallyd", "--check-config", "--config", file, "--flush_interval=2s",
                        "--udp=127.0.0.1:0", "--no-datadog", "--prometheus-listen=127.0.0.1:0"});
  ASSERT_TRUE(command_line.ok()) << command_line.status();
  EXPECT_TRUE(command_line->check_config);
  EXPECT_EQ(command_line->config_file, file);

  absl::StatusOr<Config> config = LoadConfig(*command_line);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->flush_interval, absl::Seconds(2));
  EXPECT_THAT(config->listen.udp, ElementsAre("127.0.0.1:0"));
  EXPECT_EQ(config->prometheus->listen, "127.0.0.1:0");
  EXPECT_FALSE(config->datadog.has_value());
  EXPECT_TRUE(config->graphite.has_value());                       // from the file
  EXPECT_EQ(config->aggregation.exact_samples, 8192);              // not on the command line
  EXPECT_EQ(config->prometheus->timer_type, TimerType::kSummary);  // from the file
}

TEST(ConfigFlagsTest, CommandLineValueErrorAfterMerge) {
  absl::StatusOr<CommandLine> command_line =
      ParseCommandLine({"tallyd", "--series_ttl=soon", "--max_series=0"});
  ASSERT_TRUE(command_line.ok()) << command_line.status();
  absl::StatusOr<Config> config = LoadConfig(*command_line);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(),
              HasSubstr("--series_ttl: aggregation.series_ttl: must be a duration"));
}

TEST(ConfigFlagsTest, NoFileNoFlagsRunsOnDefaults) {
  absl::StatusOr<Config> config = LoadConfig(CommandLine{});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(*config, ResolvedDefaults());
}

// --- SIGHUP: what changed ------------------------------------------------------------------

TEST(ConfigReloadTest, ChangedKeysAndTheOnesNeedingARestart) {
  Config running;
  Config fresh = running;
  EXPECT_THAT(ChangedKeys(running, fresh), IsEmpty());
  fresh.listen.udp = {"127.0.0.1:0"};
  fresh.flush_interval = absl::Seconds(1);
  fresh.aggregation.max_series = 5;
  fresh.log_level = LogLevel::kDebug;
  fresh.graphite.emplace();
  EXPECT_THAT(ChangedKeys(running, fresh),
              ElementsAre("flush_interval", "log_level", "listen.udp", "aggregation.max_series",
                          "backends.graphite.enabled", "backends.graphite.address",
                          "backends.graphite.legacy_namespace", "backends.graphite.tags",
                          "backends.graphite.global_prefix", "backends.graphite.prefix_counter",
                          "backends.graphite.prefix_timer", "backends.graphite.prefix_gauge",
                          "backends.graphite.prefix_set", "backends.graphite.global_suffix",
                          "backends.graphite.max_buffered_flushes",
                          "backends.graphite.connect_timeout", "backends.graphite.write_timeout",
                          "backends.graphite.max_backoff", "backends.graphite.self_metrics"));
  EXPECT_THAT(KeysNeedingRestart(running, fresh), ElementsAre("flush_interval", "listen.udp"));
}

// --- SPEC 1: loopback unless opened ----------------------------------------------------------

TEST(ConfigListenTest, DefaultUdpIsLoopbackWithIpv6WhereItExists) {
  ListenConfig listen;
  ResolveListenAddresses(listen, /*has_ipv6_loopback=*/true);
  EXPECT_THAT(listen.udp, ElementsAre("127.0.0.1:8125", "[::1]:8125"));
  ResolveListenAddresses(listen, /*has_ipv6_loopback=*/false);
  EXPECT_THAT(listen.udp, ElementsAre("127.0.0.1:8125"));
  // A list of one's own is kept as written, [::1] or not.
  listen.udp = {"[::1]:9000"};
  ResolveListenAddresses(listen, /*has_ipv6_loopback=*/false);
  EXPECT_THAT(listen.udp, ElementsAre("[::1]:9000"));
}

TEST(ConfigListenTest, NonLocalTrafficOpensLoopbackAddresses) {
  ListenConfig listen;
  listen.non_local_traffic = true;
  ResolveListenAddresses(listen, /*has_ipv6_loopback=*/true);
  EXPECT_THAT(listen.udp, ElementsAre("0.0.0.0:8125", "[::]:8125"));
  listen = ListenConfig{};
  listen.non_local_traffic = true;
  ResolveListenAddresses(listen, /*has_ipv6_loopback=*/false);
  EXPECT_THAT(listen.udp, ElementsAre("0.0.0.0:8125"));

  listen.udp = {"localhost:9000", "10.1.2.3:9001", "127.0.0.1:9000", "[::1]:0", "[fe80::1]:5"};
  listen.tcp = {"127.0.0.1:8126", "host.example:8126"};
  ResolveListenAddresses(listen, /*has_ipv6_loopback=*/true);
  EXPECT_THAT(listen.udp, ElementsAre("0.0.0.0:9000", "10.1.2.3:9001", "[::]:0", "[fe80::1]:5"));
  EXPECT_THAT(listen.tcp, ElementsAre("0.0.0.0:8126", "host.example:8126"));

  // Without non_local_traffic, loopback stays loopback.
  listen = ListenConfig{};
  listen.tcp = {"127.0.0.1:8126"};
  ResolveListenAddresses(listen, /*has_ipv6_loopback=*/true);
  EXPECT_THAT(listen.tcp, ElementsAre("127.0.0.1:8126"));
}

TEST(ConfigListenTest, LoadConfigResolvesTheListenAddresses) {
  absl::StatusOr<Config> config =
      ParseConfigYaml("listen:\n  non_local_traffic: true\n  tcp: [\"localhost:0\"]\n", "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->listen.tcp, ElementsAre("0.0.0.0:0"));
  EXPECT_EQ(config->listen.udp.front(), "0.0.0.0:8125");
  EXPECT_EQ(config->listen.udp.size(), HasIpv6Loopback() ? 2u : 1u);
}

// The probe agrees with a real bind of [::1].
TEST(ConfigListenTest, HasIpv6LoopbackProbe) {
  const int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  sockaddr_in6 address = {};
  address.sin6_family = AF_INET6;
  address.sin6_addr = in6addr_loopback;
  const bool bound =
      fd >= 0 && bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  if (fd >= 0) close(fd);
  EXPECT_EQ(HasIpv6Loopback(), bound);
}

// The keys another part reads: each has a flag, a default and a check.
TEST(ConfigFlagsTest, NewLimitAndListenFlags) {
  absl::StatusOr<CommandLine> command_line = ParseCommandLine(
      {"tallyd", "--non-local-traffic", "--tcp_line_timeout=1s", "--max_series_per_metric", "5",
       "--graphite_max_backoff=30s", "--datadog-max-backoff=1m", "--datadog_api_key=k"});
  ASSERT_TRUE(command_line.ok()) << command_line.status();
  absl::StatusOr<Config> config = LoadConfig(*command_line);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->listen.non_local_traffic);
  EXPECT_EQ(config->listen.udp.front(), "0.0.0.0:8125");
  EXPECT_EQ(config->listen.tcp_line_timeout, absl::Seconds(1));
  EXPECT_EQ(config->aggregation.max_series_per_metric, 5);
  ASSERT_TRUE(config->graphite.has_value());
  EXPECT_EQ(config->graphite->max_backoff, absl::Seconds(30));
  ASSERT_TRUE(config->datadog.has_value());
  EXPECT_EQ(config->datadog->max_backoff, absl::Minutes(1));

  command_line =
      ParseCommandLine({"tallyd", "--max_series_per_metric=-3", "--graphite_max_backoff=0"});
  ASSERT_TRUE(command_line.ok()) << command_line.status();
  config = LoadConfig(*command_line);
  EXPECT_THAT(config.status().message(),
              HasSubstr("--max_series_per_metric: aggregation.max_series_per_metric: must be 0 (no "
                        "cap) or more, got -3"));
  EXPECT_THAT(config.status().message(),
              HasSubstr("--graphite_max_backoff: backends.graphite.max_backoff: must be more than "
                        "0, got 0"));
}

TEST(ConfigReloadTest, NewKeysReloadAsDeclared) {
  Config running;
  Config fresh = running;
  fresh.aggregation.max_series_per_metric = 10;  // live, as the other limits
  fresh.listen.tcp_line_timeout = absl::Seconds(1);
  fresh.listen.non_local_traffic = true;
  EXPECT_THAT(KeysNeedingRestart(running, fresh),
              ElementsAre("listen.non_local_traffic", "listen.tcp_line_timeout"));
  EXPECT_THAT(ChangedKeys(running, fresh),
              ElementsAre("listen.non_local_traffic", "listen.tcp_line_timeout",
                          "aggregation.max_series_per_metric"));
}

// --- --help and the README -----------------------------------------------------------------

TEST(ConfigHelpTest, ListsEveryFlagWithItsDefault) {
  const std::string help = FormatHelp("");
  for (const config_internal::Key& key : config_internal::Keys()) {
    EXPECT_THAT(help, HasSubstr(absl::StrCat("  --", key.flag))) << key.flag;
  }
  for (const char* option : {"--config=FILE", "--check_config", "--ports_file=PATH", "--version"}) {
    EXPECT_THAT(help, HasSubstr(option));
  }
  EXPECT_THAT(help, HasSubstr("--max_tags=INTEGER  (listen.max_tags)\n"));
  EXPECT_THAT(help, HasSubstr("default 256; integer 1..65536; a change needs a restart\n"));
  EXPECT_THAT(help, HasSubstr("--percentiles=NUMBER,...  (aggregation.percentiles)\n"));
  EXPECT_THAT(help, HasSubstr("default 50,90,95,99;"));

  const std::string graphite = FormatHelp("graphite");
  EXPECT_THAT(graphite, HasSubstr("--graphite_address"));
  EXPECT_THAT(graphite, Not(HasSubstr("--datadog_url")));
}

// The README's key table is what the binary prints for --help=markdown.
TEST(ConfigHelpTest, ReadmeKeyTableIsTheGeneratedOne) {
  absl::StatusOr<std::string> readme = config_internal::ReadConfigFile(TALLYD_README);
  ASSERT_TRUE(readme.ok()) << readme.status();
  const size_t begin = readme->find("<!-- config-table:begin");
  const size_t end = readme->find("<!-- config-table:end");
  ASSERT_NE(begin, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  const size_t start = readme->find('\n', begin) + 1;
  EXPECT_EQ(readme->substr(start, end - start), FormatHelp("markdown"))
      << "README.md's key table is not the keys' (config/config.h): run "
         "scripts/update-readme-config.sh";
}

TEST(ConfigHelpTest, MarkdownRows) {
  const std::string table = FormatHelp("markdown");
  EXPECT_THAT(table, HasSubstr("| `listen.max_tags` | `--max_tags` | `256` | integer 1..65536 | "
                               "restart | tags per line"));
  EXPECT_THAT(table, HasSubstr("| `aggregation.percentiles` | `--percentiles` | "
                               "`[50, 90, 95, 99]` | list, each number in [-100, 100] and not 0 | "
                               "live |"));
  EXPECT_THAT(table, HasSubstr("(`\\|T`)"));  // a | in a cell is escaped
  EXPECT_THAT(table, HasSubstr("| `backends.graphite.enabled` | `--graphite` | `false` | bool |"));
}

}  // namespace
}  // namespace tallyd

namespace tallyd {
namespace {

// --- backends.remote_write --------------------------------------------------------------------

TEST(ConfigRemoteWriteTest, ReadsMapsAndDefaultsTheHostLabel) {
  ScopedEnv token("RW_TEST_TOKEN", "from-env");
  absl::StatusOr<Config> config = ParseConfigYaml(R"(
backends:
  remote_write:
    url: http://mimir:9009/api/v1/push
    timer_type: histogram
    external_labels: {cluster: eu1, env: prod}
    headers:
      X-Scope-OrgID: tenant-1
    bearer_token: ${RW_TEST_TOKEN}
    max_samples_per_send: 500
)",
                                                  "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->remote_write.has_value());
  const RemoteWriteConfig& rw = *config->remote_write;
  EXPECT_EQ(rw.url, "http://mimir:9009/api/v1/push");
  EXPECT_EQ(rw.timer_type, TimerType::kHistogram);
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  EXPECT_THAT(rw.external_labels,
              ElementsAre("cluster=eu1", "env=prod", absl::StrCat("host=", host)));
  EXPECT_THAT(rw.headers, ElementsAre("X-Scope-OrgID=tenant-1"));
  EXPECT_EQ(rw.bearer_token, "from-env");
  EXPECT_EQ(rw.max_samples_per_send, 500);
  EXPECT_EQ(rw.max_buffered_flushes, 6);
  // Never shown.
  EXPECT_THAT(FormatConfig(*config), Not(HasSubstr("from-env")));
  // A header may carry a credential (Authorization): its name is shown, its value is not.
  EXPECT_THAT(FormatConfig(*config), HasSubstr("X-Scope-OrgID: \"<redacted>\""));
  EXPECT_THAT(FormatConfig(*config), Not(HasSubstr("tenant-1")));
}

TEST(ConfigRemoteWriteTest, AnEmptyHostLeavesTheLabelOutAndTheTokenComesFromTheEnvironment) {
  ScopedEnv token("TALLYD_REMOTE_WRITE_BEARER_TOKEN", "env-token");
  absl::StatusOr<Config> config = ParseConfigYaml(
      "backends: {remote_write: {url: \"http://a/b\", external_labels: {host: \"\"}}}", "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->remote_write->external_labels, ElementsAre("host="));
  EXPECT_EQ(config->remote_write->bearer_token, "env-token");
}

TEST(ConfigRemoteWriteTest, FlagsTakeMapsAsNameValuePairs) {
  Config config;
  ASSERT_TRUE(ApplyFlagOverrides(config, {{"remote_write_url", "http://a/b"},
                                          {"remote_write_external_labels", "host=a,dc=x"}})
                  .ok());
  ASSERT_TRUE(config.remote_write.has_value());
  EXPECT_THAT(config.remote_write->external_labels, ElementsAre("host=a", "dc=x"));
}

TEST(ConfigRemoteWriteTest, RejectsBadUrlsLabelsHeadersAndCredentials) {
  EXPECT_THAT(ErrorOf("backends: {remote_write: {}}"),
              HasSubstr("backends.remote_write.url: must give an http:// or https:// URL"));
  EXPECT_THAT(
      ErrorOf("backends: {remote_write: {url: \"http://a\", external_labels: {\"1x\": a}}}"),
      HasSubstr("backends.remote_write.external_labels[0]: must be a label name"));
  EXPECT_THAT(ErrorOf("backends: {remote_write: {url: \"http://a\", external_labels: {__x: a}}}"),
              HasSubstr("must be a label name"));
  EXPECT_THAT(ErrorOf("backends: {remote_write: {url: \"http://a\", headers: {Content-Type: x}}}"),
              HasSubstr("must not set Content-Type"));
  EXPECT_THAT(ErrorOf("backends: {remote_write: {url: \"http://a\", headers: {\"a b\": x}}}"),
              HasSubstr("must be an HTTP header name"));
  EXPECT_THAT(ErrorOf("backends: {remote_write: {url: \"http://a\", headers: [a]}}"),
              HasSubstr("must be a map like {name: value}"));
  EXPECT_THAT(ErrorOf("backends: {remote_write: {url: \"http://a\", password: p}}"),
              HasSubstr("backends.remote_write.password: is set without a username"));
  EXPECT_THAT(ErrorOf("backends: {remote_write: {url: \"http://a\", username: u, "
                      "bearer_token: t}}"),
              HasSubstr("use basic auth or a bearer token, not both"));
  EXPECT_THAT(ErrorOf("backends: {remote_write: {url: \"http://a\", max_samples_per_send: 0}}"),
              HasSubstr("backends.remote_write.max_samples_per_send: must be 1..1000000"));
  EXPECT_THAT(ErrorOf("backends: {remote_write: {url: \"http://a\", buckets: [1, 0.5]}}"),
              HasSubstr("backends.remote_write.buckets[1]: must be greater"));
  EXPECT_THAT(ErrorOf("backends:\n  remote_write:\n    url: http://a\n    headers: {A: x, A: y}\n"),
              HasSubstr("is set twice"));
}

}  // namespace
}  // namespace tallyd
