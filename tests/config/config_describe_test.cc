// Tests for what GET /debug/config shows (config/describe.cc): each key's origin (default, file
// line, flag overriding the file, environment), secrets masked, and the origins in force after
// a reload that applies some changes and not others.
#include <stdlib.h>

#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/config/scoped_env.h"

namespace tallyd {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Source = ConfigOrigin::Source;

std::string WriteConfig(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// LoadConfig as main() runs it, described: key path -> entry.
std::map<std::string, ConfigEntry> Describe(const CommandLine& command_line) {
  ConfigOrigins origins;
  absl::StatusOr<Config> config = LoadConfig(command_line, &origins);
  EXPECT_TRUE(config.ok()) << config.status();
  std::map<std::string, ConfigEntry> by_key;
  if (!config.ok()) return by_key;
  for (ConfigEntry& entry : DescribeConfig(*config, origins)) by_key[entry.key] = entry;
  return by_key;
}

constexpr char kApiKey[] = "0123456789abcdef0123456789abcdef";

TEST(DescribeConfigTest, OriginIsDefaultFileLineOrFlagThatOverridesTheFile) {
  ScopedEnv no_key("DD_API_KEY", nullptr);
  const std::string path = WriteConfig("origins.yaml",
                                       "flush_interval: 30s\n"          // 1
                                       "aggregation:\n"                 // 2
                                       "  exact_samples: 100\n"         // 3
                                       "  percentiles:\n"               // 4
                                       "    - 50\n"                     // 5
                                       "    - 99\n"                     // 6
                                       "backends:\n"                    // 7
                                       "  graphite:\n"                  // 8
                                       "    address: 127.0.0.1:2003\n"  // 9
                                       "  datadog:\n"                   // 10
                                       "    api_key: \"0123456789abcdef0123456789abcdef\"\n");
  CommandLine command_line;
  command_line.config_file = path;
  command_line.flags = {{"exact_samples", "7"}, {"udp", "127.0.0.1:0"}};
  std::map<std::string, ConfigEntry> keys = Describe(command_line);
  ASSERT_FALSE(keys.empty());

  EXPECT_EQ(keys["flush_interval"].origin, ConfigOrigin::File(path, 1));
  EXPECT_THAT(keys["flush_interval"].items, ElementsAre("30s"));
  // The flag wins over the file's line 3, and says so.
  EXPECT_EQ(keys["aggregation.exact_samples"].origin, ConfigOrigin::Flag("exact_samples"));
  EXPECT_THAT(keys["aggregation.exact_samples"].items, ElementsAre("7"));
  EXPECT_EQ(keys["aggregation.exact_samples"].type, ConfigEntry::Type::kInteger);
  EXPECT_EQ(keys["aggregation.percentiles"].origin, ConfigOrigin::File(path, 4));
  EXPECT_THAT(keys["aggregation.percentiles"].items, ElementsAre("50", "99"));
  EXPECT_TRUE(keys["aggregation.percentiles"].list);
  EXPECT_EQ(keys["aggregation.percentiles"].type, ConfigEntry::Type::kNumber);
  EXPECT_EQ(keys["listen.udp"].origin, ConfigOrigin::Flag("udp"));
  EXPECT_EQ(keys["listen.udp"].origin.ToString(), "flag --udp");
  // Keys nobody set, also those inside a section the file has, are defaults.
  EXPECT_EQ(keys["shutdown_timeout"].origin, ConfigOrigin{});
  EXPECT_EQ(keys["shutdown_timeout"].origin.ToString(), "default");
  EXPECT_EQ(keys["aggregation.sketch_accuracy"].origin.source, Source::kDefault);
  EXPECT_EQ(keys["backends.graphite.prefix_counter"].origin.source, Source::kDefault);
  // A `backends:` map turns off what it does not list (Prometheus) and on what it does.
  EXPECT_THAT(keys["backends.prometheus.enabled"].items, ElementsAre("false"));
  EXPECT_EQ(keys["backends.prometheus.enabled"].origin, ConfigOrigin::File(path, 7));
  EXPECT_FALSE(keys.contains("backends.prometheus.listen"));  // off: only `enabled` is shown
  EXPECT_EQ(keys["backends.graphite.enabled"].origin, ConfigOrigin::File(path, 8));
  EXPECT_EQ(keys["backends.graphite.enabled"].type, ConfigEntry::Type::kBool);
  EXPECT_EQ(keys["backends.graphite.address"].origin, ConfigOrigin::File(path, 9));
  EXPECT_EQ(keys["backends.graphite.address"].origin.ToString(), path + ":9");
  EXPECT_EQ(keys["backends.console.enabled"].origin.source, Source::kDefault);

  const ConfigEntry& api_key = keys["backends.datadog.api_key"];
  EXPECT_EQ(api_key.origin, ConfigOrigin::File(path, 11));
  EXPECT_TRUE(api_key.masked);
  EXPECT_THAT(api_key.items, ElementsAre("***************cdef"));
  for (const auto& [key, entry] : keys) {
    for (const std::string& item : entry.items) {
      EXPECT_FALSE(absl::StrContains(item, "0123456789abcdef")) << key;
    }
  }
}

TEST(DescribeConfigTest, ABackendKeysFlagIsWhereItsBackendWasTurnedOn) {
  CommandLine command_line;
  command_line.flags = {{"graphite_address", "127.0.0.1:2"}};
  std::map<std::string, ConfigEntry> keys = Describe(command_line);
  EXPECT_THAT(keys["backends.graphite.enabled"].items, ElementsAre("true"));
  EXPECT_EQ(keys["backends.graphite.enabled"].origin, ConfigOrigin::Flag("graphite_address"));
  EXPECT_EQ(keys["backends.graphite.address"].origin, ConfigOrigin::Flag("graphite_address"));

  command_line.flags.push_back({"graphite", "false"});  // then off, by its own flag
  keys = Describe(command_line);
  EXPECT_THAT(keys["backends.graphite.enabled"].items, ElementsAre("false"));
  EXPECT_EQ(keys["backends.graphite.enabled"].origin, ConfigOrigin::Flag("graphite"));
  EXPECT_FALSE(keys.contains("backends.graphite.address"));
}

TEST(DescribeConfigTest, AnExplicitEnabledLineIsItsOrigin) {
  const std::string path = WriteConfig("enabled.yaml",
                                       "backends:\n"
                                       "  console:\n"
                                       "    self_metrics: true\n"
                                       "    enabled: false\n");
  CommandLine command_line;
  command_line.config_file = path;
  std::map<std::string, ConfigEntry> keys = Describe(command_line);
  EXPECT_THAT(keys["backends.console.enabled"].items, ElementsAre("false"));
  EXPECT_EQ(keys["backends.console.enabled"].origin, ConfigOrigin::File(path, 4));
}

TEST(DescribeConfigTest, AnApiKeyFromTheEnvironmentSaysSoAndIsMasked) {
  ScopedEnv key("DD_API_KEY", kApiKey);
  CommandLine command_line;
  command_line.flags = {{"datadog", "true"}};
  std::map<std::string, ConfigEntry> keys = Describe(command_line);
  const ConfigEntry& api_key = keys["backends.datadog.api_key"];
  EXPECT_EQ(api_key.origin, ConfigOrigin::Environment("DD_API_KEY"));
  EXPECT_EQ(api_key.origin.ToString(), "env $DD_API_KEY");
  EXPECT_THAT(api_key.items, ElementsAre("***************cdef"));
  EXPECT_TRUE(api_key.masked);
  EXPECT_FALSE(keys["backends.datadog.site"].masked);
}

TEST(DescribeConfigTest, RemoteWriteCredentialsAreMasked) {
  ScopedEnv token("TALLYD_REMOTE_WRITE_BEARER_TOKEN", nullptr);
  const std::string path =
      WriteConfig("remote.yaml",
                  "backends:\n"
                  "  remote_write:\n"
                  "    url: \"https://tenant:hunter2hunter2@mimir:9009/api/v1/push\"\n"
                  "    username: tallyd\n"
                  "    password: \"correct horse battery staple\"\n"
                  "    headers: {X-Scope-OrgID: tenant-1, X-Api-Token: \"tok-abcdefghijkl\"}\n"
                  "    external_labels: {cluster: eu1}\n");
  CommandLine command_line;
  command_line.config_file = path;
  std::map<std::string, ConfigEntry> keys = Describe(command_line);
  EXPECT_THAT(keys["backends.remote_write.password"].items, ElementsAre("***************aple"));
  EXPECT_TRUE(keys["backends.remote_write.password"].masked);
  EXPECT_THAT(keys["backends.remote_write.username"].items, ElementsAre("tallyd"));
  EXPECT_FALSE(keys["backends.remote_write.username"].masked);
  // Header names stay readable; every value is masked, the short one wholly.
  EXPECT_THAT(keys["backends.remote_write.headers"].items,
              ElementsAre("X-Scope-OrgID=***************", "X-Api-Token=***************ijkl"));
  EXPECT_TRUE(keys["backends.remote_write.headers"].map);
  EXPECT_EQ(keys["backends.remote_write.headers"].origin, ConfigOrigin::File(path, 6));
  EXPECT_THAT(keys["backends.remote_write.url"].items,
              ElementsAre("https://tenant:***************ter2@mimir:9009/api/v1/push"));
  EXPECT_TRUE(keys["backends.remote_write.url"].masked);
  EXPECT_FALSE(keys["backends.remote_write.external_labels"].masked);
  EXPECT_EQ(keys["backends.remote_write.bearer_token"].items, std::vector<std::string>{""});
}

TEST(MaskSecretTest, KeepsTheLastFourCharactersOfALongSecretOnly) {
  EXPECT_EQ(MaskSecret(""), "");
  EXPECT_EQ(MaskSecret("abc"), "***************");
  EXPECT_EQ(MaskSecret("abcdefghijk"), "***************");  // 11: all stars
  EXPECT_EQ(MaskSecret("abcdefghijkl"), "***************ijkl");
  EXPECT_EQ(MaskSecret(kApiKey), "***************cdef");
  // Characters, not bytes: "é" and "€" are not cut.
  EXPECT_EQ(MaskSecret("0123456789\u00e9\u20acab"), "***************\u00e9\u20acab");
}

TEST(OriginsInForceTest, AnAppliedKeyTakesTheReloadedLineAndAnUnappliedOneKeepsItsOwn) {
  ConfigOrigins running_origins;
  absl::StatusOr<Config> running = ParseConfigYaml(
      "flush_interval: 10s\naggregation:\n  exact_samples: 5\n  percentiles: [50]\n", "a.yaml",
      &running_origins);
  ASSERT_TRUE(running.ok()) << running.status();
  ConfigOrigins fresh_origins;
  absl::StatusOr<Config> fresh = ParseConfigYaml(
      "aggregation:\n  exact_samples: 6\n  percentiles: [50]\nflush_interval: 20s\n", "a.yaml",
      &fresh_origins);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  // The reload applies exact_samples but not flush_interval (it needs a restart).
  Config in_force = *running;
  in_force.aggregation = fresh->aggregation;

  ConfigOrigins origins = OriginsInForce(in_force, *fresh, fresh_origins, running_origins);
  EXPECT_EQ(origins.Of("flush_interval"), ConfigOrigin::File("a.yaml", 1));
  EXPECT_EQ(origins.Of("aggregation.exact_samples"), ConfigOrigin::File("a.yaml", 2));
  // Unchanged, but moved: the line is the reloaded file's.
  EXPECT_EQ(origins.Of("aggregation.percentiles"), ConfigOrigin::File("a.yaml", 3));
  EXPECT_EQ(origins.Of("aggregation.percentiles[0]"), ConfigOrigin::File("a.yaml", 3));
  EXPECT_EQ(origins.Of("shutdown_timeout"), ConfigOrigin{});
  EXPECT_THAT(OriginsInForce(Config{}, Config{}, {}, running_origins).where, IsEmpty());
}

}  // namespace
}  // namespace tallyd
