// GET /debug/config's page as server/config_page.cc renders it: the JSON read back by
// nlohmann-json (types, origins, masking), the text one line per key whatever the values hold.
#include "server/config_page.h"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tallyd::server {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kApiKey[] = "0123456789abcdef0123456789abcdef";

// A config as LoadConfig builds it: the file "t.yaml", then the flags.
struct Loaded {
  Config config;
  ConfigOrigins origins;
};
Loaded Load(const std::vector<FlagValue>& flags) {
  Loaded loaded;
  absl::StatusOr<Config> config = ParseConfigYaml(
      "flush_interval: 2s\n"
      "aggregation:\n"
      "  percentiles: [50, 99.9]\n"
      "backends:\n"
      "  prometheus: {}\n"
      "  datadog:\n"
      "    url: http://127.0.0.1:1\n"
      "    api_key: \"0123456789abcdef0123456789abcdef\"\n"
      "  remote_write:\n"
      "    url: http://127.0.0.1:2/push\n"
      "    headers: {X-Scope-OrgID: tenant-123456789}\n",
      "t.yaml", &loaded.origins, /*validate=*/false);
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return loaded;
  loaded.config = *std::move(config);
  EXPECT_TRUE(ApplyFlagOverrides(loaded.config, flags, &loaded.origins).ok());
  return loaded;
}

TEST(ConfigPageTest, JsonCarriesTypedValuesOriginsAndMasksSecrets) {
  Loaded loaded = Load({{"udp", "127.0.0.1:0"}, {"flush_interval", "3s"}});
  backends::ConfigPage page = RenderConfigPage(loaded.config, loaded.origins, "t.yaml");
  Json json = Json::parse(page.json, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(json.is_discarded()) << page.json;
  EXPECT_EQ(json["config_file"], "t.yaml");
  const Json& keys = json["keys"];

  // A flag over the file's line 1.
  EXPECT_EQ(keys["flush_interval"]["value"], "3s");
  EXPECT_EQ(keys["flush_interval"]["origin"], "flag --flush_interval");
  EXPECT_EQ(keys["flush_interval"]["source"], "flag");
  EXPECT_EQ(keys["flush_interval"]["flag"], "--flush_interval");
  EXPECT_EQ(keys["listen.udp"]["value"], Json::array({"127.0.0.1:0"}));
  // From the file, numbers as numbers.
  EXPECT_EQ(keys["aggregation.percentiles"]["value"], Json::array({50, 99.9}));
  EXPECT_EQ(keys["aggregation.percentiles"]["origin"], "t.yaml:3");
  EXPECT_EQ(keys["aggregation.percentiles"]["source"], "file");
  EXPECT_EQ(keys["aggregation.percentiles"]["file"], "t.yaml");
  EXPECT_EQ(keys["aggregation.percentiles"]["line"], 3);
  // Defaults, each type as JSON has it.
  EXPECT_EQ(keys["aggregation.exact_samples"]["value"], 8192);
  EXPECT_EQ(keys["aggregation.exact_samples"]["origin"], "default");
  EXPECT_FALSE(keys["aggregation.exact_samples"].contains("line"));
  EXPECT_EQ(keys["listen.non_local_traffic"]["value"], false);
  EXPECT_EQ(keys["listen.receive_buffer"]["value"], "8MiB");
  EXPECT_EQ(keys["backends.prometheus.enabled"]["value"], true);
  EXPECT_EQ(keys["backends.graphite.enabled"]["value"], false);
  EXPECT_FALSE(keys.contains("backends.graphite.address"));  // off

  EXPECT_EQ(keys["backends.datadog.api_key"]["value"], "***************cdef");
  EXPECT_EQ(keys["backends.datadog.api_key"]["masked"], true);
  EXPECT_EQ(keys["backends.datadog.api_key"]["line"], 8);
  EXPECT_FALSE(keys["backends.datadog.url"].contains("masked"));
  EXPECT_EQ(keys["backends.remote_write.headers"]["value"],
            (Json{{"X-Scope-OrgID", "***************6789"}}));
  EXPECT_EQ(keys["backends.remote_write.headers"]["masked"], true);
  EXPECT_FALSE(absl::StrContains(page.json, "0123456789abcdef"));
  EXPECT_FALSE(absl::StrContains(page.json, "tenant-123"));
}

TEST(ConfigPageTest, TextHasOneLinePerKeyWithItsOrigin) {
  Loaded loaded = Load({{"udp", "127.0.0.1:0"}});
  backends::ConfigPage page = RenderConfigPage(loaded.config, loaded.origins, "t.yaml");
  EXPECT_THAT(page.text, HasSubstr("\nflush_interval: 2s "));
  EXPECT_THAT(page.text, HasSubstr("# t.yaml:1\n"));
  EXPECT_THAT(page.text, HasSubstr("listen.udp: [\"127.0.0.1:0\"]"));
  EXPECT_THAT(page.text, HasSubstr("# flag --udp\n"));
  EXPECT_THAT(page.text, HasSubstr("aggregation.percentiles: [50, 99.9] "));
  EXPECT_THAT(page.text, HasSubstr("backends.datadog.api_key: \"***************cdef\" "));
  EXPECT_THAT(page.text, HasSubstr("backends.remote_write.headers: {X-Scope-OrgID: "
                                   "\"***************6789\"}"));
  EXPECT_THAT(page.text, HasSubstr("backends.graphite.enabled: false "));
  EXPECT_FALSE(absl::StrContains(page.text, "0123456789abcdef"));
  const size_t keys = DescribeConfig(loaded.config, loaded.origins).size();
  std::vector<std::string> lines = absl::StrSplit(page.text, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), keys + 2);  // and the two header lines
  EXPECT_THAT(lines[1], HasSubstr("config file: \"t.yaml\""));

  page = RenderConfigPage(Config{}, {}, "");
  EXPECT_THAT(page.text, HasSubstr("config file: none"));
  Json json = Json::parse(page.json, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(json.is_discarded()) << page.json;
  EXPECT_EQ(json["config_file"], "");
  EXPECT_EQ(json["keys"]["flush_interval"]["origin"], "default");
}

// A flag may carry any bytes: the text stays one line per key and the JSON stays JSON.
TEST(ConfigPageTest, ControlBytesAndBadUtf8StayInTheirLineAndInJson) {
  Loaded loaded = Load({{"datadog_host", "a\nb\"c\xff"}});
  backends::ConfigPage page = RenderConfigPage(loaded.config, loaded.origins, "t\n.yaml");
  const size_t keys = DescribeConfig(loaded.config, loaded.origins).size();
  std::vector<std::string> lines = absl::StrSplit(page.text, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), keys + 2);
  EXPECT_THAT(page.text, HasSubstr("backends.datadog.host: \"a\\nb\\\"c"));
  Json json = Json::parse(page.json, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(json.is_discarded()) << page.json;
  EXPECT_EQ(json["keys"]["backends.datadog.host"]["value"], "a\nb\"c\\xff");
  EXPECT_EQ(json["config_file"], "t\n.yaml");
}

}  // namespace
}  // namespace tallyd::server
