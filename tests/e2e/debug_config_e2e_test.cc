// GET /debug/config through the real binary (issue 13): the configuration in force with each
// value's origin, a config file and a flag over it, secrets masked in both formats, the JSON
// read by nlohmann-json; then a SIGHUP with a rewritten file, and one with a broken file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/substitute.h"
#include "tallyd_process.h"

namespace tallyd::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

constexpr char kApiKey[] = "5f3e8a1c9b2d4e6f7a8b9c0d1e2f3a4b";
constexpr char kNewApiKey[] = "0a1b2c3d4e5f60718293a4b5c6d7wxyz";

Json Parse(const std::string& body) {
  return Json::parse(body, /*cb=*/nullptr, /*allow_exceptions=*/false);
}

// "prometheus 127.0.0.1:4567" from the ports file (a reload may move it).
std::string PrometheusAddress(const TallydProcess& tallyd) {
  for (absl::string_view line :
       absl::StrSplit(ReadFile(tallyd.dir().File("ports")), '\n', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&line, "prometheus ")) return std::string(line);
  }
  return "";
}

class DebugConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Datadog at a port nothing listens on: it only needs to hold an API key. A restarted
    // Datadog gives up its queue after shutdown_timeout.
    datadog_url_ = absl::StrCat("http://127.0.0.1:", closed_port_.port());
    WriteFile(path_, absl::Substitute(R"(flush_interval: 200ms
aggregation:
  exact_samples: 100
  max_series: 5000
backends:
  prometheus:
    listen: "127.0.0.1:0"
  datadog:
    url: "$0"
    api_key: "$1"
shutdown_timeout: 1s
)",
                                      datadog_url_, kApiKey));
    tallyd_.emplace(std::vector<std::string>{"--config", path_, "--udp=127.0.0.1:0", "--workers=1",
                                             "--exact_samples=7"});
    ASSERT_TRUE(tallyd_->WaitReady()) << tallyd_->Stderr();
  }
  void TearDown() override {
    if (!tallyd_.has_value()) return;
    tallyd_->Signal(SIGTERM);
    EXPECT_EQ(tallyd_->WaitExit(), 0) << tallyd_->Stderr();
  }

  std::string Url(const std::string& query = "") {
    return absl::StrCat("http://", PrometheusAddress(*tallyd_), "/debug/config", query);
  }
  Json Keys() {
    Json page = Parse(HttpGet(Url("?format=json")));
    return page.is_discarded() ? Json() : page["keys"];
  }

  TempDir dir_;
  std::string path_ = dir_.File("tallyd.yaml");
  PortHolder closed_port_{/*udp=*/false};
  std::string datadog_url_;
  std::optional<TallydProcess> tallyd_;
};

TEST_F(DebugConfigTest, ShowsEachValueWithItsOriginAndMasksTheApiKey) {
  long status = 0;
  const std::string text = HttpGet(Url(), &status);
  EXPECT_EQ(status, 200);
  EXPECT_THAT(text, HasSubstr(absl::StrCat("# config file: \"", path_, "\"\n")));
  EXPECT_THAT(text, HasSubstr("\nflush_interval: 200ms "));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("# ", path_, ":1\n")));
  EXPECT_THAT(text, HasSubstr("\naggregation.exact_samples: 7 "));
  EXPECT_THAT(text, HasSubstr("# flag --exact_samples\n"));
  EXPECT_THAT(text, HasSubstr("\nbackends.datadog.api_key: \"***************3a4b\" "));
  EXPECT_THAT(text, Not(HasSubstr(kApiKey)));

  const std::string body = HttpGet(Url("?format=json"), &status);
  EXPECT_EQ(status, 200);
  EXPECT_THAT(body, Not(HasSubstr(kApiKey)));
  Json page = Parse(body);
  ASSERT_FALSE(page.is_discarded()) << body;
  EXPECT_EQ(page["config_file"], path_);
  const Json& keys = page["keys"];
  EXPECT_EQ(keys["flush_interval"]["value"], "200ms");
  EXPECT_EQ(keys["flush_interval"]["source"], "file");
  EXPECT_EQ(keys["flush_interval"]["file"], path_);
  EXPECT_EQ(keys["flush_interval"]["line"], 1);
  // The flag wins over the file's line 3, and the page says so.
  EXPECT_EQ(keys["aggregation.exact_samples"]["value"], 7);
  EXPECT_EQ(keys["aggregation.exact_samples"]["source"], "flag");
  EXPECT_EQ(keys["aggregation.exact_samples"]["flag"], "--exact_samples");
  EXPECT_EQ(keys["aggregation.max_series"]["value"], 5000);
  EXPECT_EQ(keys["aggregation.max_series"]["line"], 4);
  EXPECT_EQ(keys["listen.udp"]["value"], Json::array({"127.0.0.1:0"}));
  EXPECT_EQ(keys["listen.udp"]["origin"], "flag --udp");
  EXPECT_EQ(keys["aggregation.series_ttl"]["value"], "5m");
  EXPECT_EQ(keys["aggregation.series_ttl"]["origin"], "default");
  EXPECT_EQ(keys["backends.datadog.url"]["value"], datadog_url_);
  EXPECT_EQ(keys["backends.datadog.url"]["line"], 9);
  EXPECT_EQ(keys["backends.datadog.api_key"]["value"], "***************3a4b");
  EXPECT_EQ(keys["backends.datadog.api_key"]["masked"], true);
  EXPECT_EQ(keys["backends.datadog.api_key"]["line"], 10);
}

TEST_F(DebugConfigTest, ASighupReloadShowsTheNewValuesAndLinesAndABadFileKeepsThePage) {
  // Lines move, two values change (one live, one that needs a restart), a key appears, the
  // Datadog section changes (that backend restarts on a thread of its own), and a mapping file
  // that does not load is named (the running rules, none, stay).
  WriteFile(path_, absl::Substitute(R"(# reloaded
aggregation:
  exact_samples: 100
  series_ttl: 1m
  max_series: 6000
flush_interval: 300ms
backends:
  prometheus:
    listen: "127.0.0.1:0"
  datadog:
    url: "$0"
    api_key: "$1"
shutdown_timeout: 1s
mapping_file: "$2"
)",
                                    datadog_url_, kNewApiKey, dir_.File("missing.yaml")));
  tallyd_->Signal(SIGHUP);
  Json keys;
  ASSERT_TRUE(WaitFor([&] {
    keys = Keys();
    return keys.is_object() && keys["aggregation.series_ttl"]["value"] == "1m" &&
           keys["backends.datadog.api_key"]["line"] == 12;
  })) << keys.dump(2)
      << tallyd_->Stderr();
  EXPECT_EQ(keys["aggregation.series_ttl"]["source"], "file");
  EXPECT_EQ(keys["aggregation.series_ttl"]["line"], 4);
  EXPECT_EQ(keys["aggregation.max_series"]["value"], 6000);
  EXPECT_EQ(keys["aggregation.max_series"]["line"], 5);
  EXPECT_EQ(keys["aggregation.exact_samples"]["value"], 7);  // the flag still wins
  EXPECT_EQ(keys["aggregation.exact_samples"]["source"], "flag");
  // flush_interval needs a restart: the page shows the value in force, from the old line 1.
  EXPECT_EQ(keys["flush_interval"]["value"], "200ms");
  EXPECT_EQ(keys["flush_interval"]["line"], 1);
  EXPECT_EQ(keys["backends.datadog.api_key"]["value"], "***************wxyz");
  EXPECT_EQ(keys["backends.datadog.url"]["line"], 11);
  EXPECT_EQ(keys["mapping_file"]["value"], "");
  EXPECT_EQ(keys["mapping_file"]["origin"], "default");
  const std::string text = HttpGet(Url());
  EXPECT_THAT(text, HasSubstr("\naggregation.series_ttl: 1m "));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("# ", path_, ":4\n")));
  EXPECT_THAT(text, Not(HasSubstr(kNewApiKey)));

  // A file that does not load: logged, and the page stays as it was.
  const std::string before = HttpGet(Url("?format=json"));
  WriteFile(path_, "aggregation:\n  series_ttl: soon\n");
  tallyd_->Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(tallyd_->Stderr(), "reload failed"); }))
      << tallyd_->Stderr();
  EXPECT_EQ(HttpGet(Url("?format=json")), before);
}

// A reload that restarts the Prometheus backend itself (its section changed): the successor,
// on its new port, serves the page too, with the new section's lines.
TEST_F(DebugConfigTest, ARestartedPrometheusServesThePage) {
  const std::string old_address = PrometheusAddress(*tallyd_);
  WriteFile(path_, absl::Substitute(R"(flush_interval: 200ms
backends:
  prometheus:
    listen: "127.0.0.1:0"
    quantiles: [0.5]
  datadog:
    url: "$0"
    api_key: "$1"
shutdown_timeout: 1s
)",
                                    datadog_url_, kApiKey));
  tallyd_->Signal(SIGHUP);
  Json keys;
  ASSERT_TRUE(WaitFor([&] {
    if (PrometheusAddress(*tallyd_) == old_address) return false;
    keys = Keys();
    return keys.is_object() && keys["backends.prometheus.quantiles"]["line"] == 5;
  })) << keys.dump(2)
      << tallyd_->Stderr();
  EXPECT_EQ(keys["backends.prometheus.quantiles"]["value"], Json::array({0.5}));
  // exact_samples left the file, but its flag still sets it; max_series left it for good.
  EXPECT_EQ(keys["aggregation.exact_samples"]["source"], "flag");
  EXPECT_EQ(keys["aggregation.max_series"]["source"], "default");
  EXPECT_EQ(keys["aggregation.max_series"]["value"], 1000000);
}

}  // namespace
}  // namespace tallyd::testing
