// SPEC 7 through the real binary: statsd_exporter's README mapping examples sent over UDP and
// read back from a real scrape, which promtool must accept; a mapping file that does not load
// stops start-up with exit 2; SIGHUP re-reads the file, keeping the old rules when it is bad.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <optional>
#include <string>

#include "tests/backends/output_readers.h"
#include "tests/e2e/mapped_tallyd.h"
#include "tests/e2e/tallyd_process.h"

namespace tallyd::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// statsd_exporter's README mapping section, verbatim but for the rules' order of appearance.
constexpr char kReadmeMapping[] = R"(mappings:
- match: test.dispatcher.*.*.*
  name: "dispatcher_events_total"
  labels:
    processor: "$1"
    action: "$2"
    outcome: "$3"
    job: "test_dispatcher"
- match: "*.signup.*.*"
  name: "signup_events_total"
  labels:
    provider: "$2"
    outcome: "$3"
    job: "${1}_server"
- match: test.*.*.counter
  name: "${2}_total"
  labels:
    provider: "$1"
- match: test.foo.*
  name: "test_foo"
  match_metric_type: counter
  labels:
    provider: "$1"
- match: test.timing.*.*.*
  timer_type: histogram
  buckets: [ 0.01, 0.025, 0.05, 0.1 ]
  name: "my_timer"
  labels:
    provider: "$2"
    outcome: "$3"
    job: "${1}_server"
- match: (.*)\.(.*)--(.*)\.status\.(.*)\.count
  match_type: regex
  name: "request_total"
  labels:
    hostname: "$1"
    exec: "$2"
    protocol: "$3"
    code: "$4"
- match: noise\..*
  match_type: regex
  action: drop
  name: "dropped"
)";

class MappingE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PromtoolInstalled()) GTEST_SKIP() << "promtool (Debian `prometheus`) missing";
  }
};

TEST_F(MappingE2eTest, StatsdExporterReadmeExamples) {
  MappedTallyd tallyd(kReadmeMapping);
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.process().Stderr();
  const std::string payload =
      "test.dispatcher.FooProcessor.send.success:1|c\n"
      "foo_product.signup.facebook.failure:1|c\n"
      "test.web-server.foo.bar:1|c\n"
      "test.aws.requests.counter:1|c\n"
      "test.foo.bar:1|c\n"
      "test.foo.baz:7|g\n"
      "test.timing.api.aws.ok:20|ms\n"
      "host1.exec1--https.status.200.count:1|c\n"
      "noise.a:1|c\n";
  std::string body = tallyd.ScrapeUntil(payload, [](const std::string& b) {
    return b.find("request_total") != std::string::npos &&
           b.find("tallyd_mapping_dropped_total 0") == std::string::npos;
  });
  EXPECT_THAT(PrometheusProblems(body), IsEmpty()) << body;
  EXPECT_TRUE(SampleValue(body, "dispatcher_events_total",
                          {{"processor", "FooProcessor"},
                           {"action", "send"},
                           {"outcome", "success"},
                           {"job", "test_dispatcher"}}))
      << body;
  EXPECT_TRUE(SampleValue(
      body, "signup_events_total",
      {{"provider", "facebook"}, {"outcome", "failure"}, {"job", "foo_product_server"}}))
      << body;
  EXPECT_TRUE(SampleValue(body, "test_web_server_foo_bar")) << body;  // unmapped: sanitized
  EXPECT_TRUE(SampleValue(body, "requests_total", {{"provider", "aws"}})) << body;
  // match_metric_type: the counter is mapped, the gauge of the same name is not.
  EXPECT_TRUE(SampleValue(body, "test_foo", {{"provider", "bar"}})) << body;
  EXPECT_EQ(SampleValue(body, "test_foo_baz"), "7") << body;
  EXPECT_TRUE(SampleValue(
      body, "request_total",
      {{"hostname", "host1"}, {"exec", "exec1"}, {"protocol", "https"}, {"code", "200"}}))
      << body;
  EXPECT_TRUE(SampleValue(body, "my_timer_count",
                          {{"provider", "aws"}, {"outcome", "ok"}, {"job", "api_server"}}))
      << body;
  // Dropped: no series, and counted.
  EXPECT_EQ(body.find("noise"), std::string::npos) << body;
  EXPECT_FALSE(SampleValue(body, "dropped")) << body;
  std::optional<std::string> drops = SampleValue(body, "tallyd_mapping_dropped_total");
  ASSERT_TRUE(drops) << body;
  EXPECT_GE(std::stod(*drops), 1);
}

TEST_F(MappingE2eTest, BadMappingFileExitsTwoNamingFileLineAndRule) {
  TempDir dir;
  WriteFile(dir.File("bad.yml"),
            "mappings:\n- match: a.*\n  name: ok\n- match: \"a.b**\"\n"
            "  name: broken\n");
  RunResult r = RunTallyd({"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0",
                           "--mapping_file=" + dir.File("bad.yml")});
  EXPECT_EQ(r.exit_status, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr(dir.File("bad.yml") + ":4: mappings[1] (match \"a.b**\"): "
                                                     "invalid match: a.b**"));
  r = RunTallyd({"--check-config", "--mapping_file=" + dir.File("bad.yml")});
  EXPECT_EQ(r.exit_status, 2) << r.err;
  // A value Prometheus cannot take: buckets that do not increase.
  WriteFile(dir.File("buckets.yml"),
            "mappings:\n- match: a.*\n  name: a\n  observer_type: histogram\n"
            "  histogram_options:\n    buckets: [0.1, 0.5, 0.25]\n");
  r = RunTallyd({"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0",
                 "--mapping_file=" + dir.File("buckets.yml")});
  EXPECT_EQ(r.exit_status, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr(dir.File("buckets.yml") +
                               ":6: mappings[0] (match \"a.*\"): `histogram_options.buckets` "
                               "must be strictly increasing: 0.25 after 0.5"));
  r = RunTallyd({"--check-config", "--mapping_file=" + dir.File("missing.yml")});
  EXPECT_EQ(r.exit_status, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("missing.yml"));
}

// As statsd_exporter: an empty file is a mapping with no rules, and so is one with a null
// `mappings:` and keys it does not know, read again on SIGHUP.
TEST_F(MappingE2eTest, EmptyMappingFileStartsAndMapsNothing) {
  MappedTallyd tallyd("");
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.process().Stderr();
  EXPECT_THAT(tallyd.process().Stderr(), HasSubstr(tallyd.mapping_path() + ": 0 rules"));
  tallyd.ScrapeUntil("app.x:1|c",
                     [](const std::string& b) { return SampleValue(b, "app_x").has_value(); });
  tallyd.WriteMapping("mapping:\n- match: app.*\n  name: typo_$1\nmappings: ~\n");
  tallyd.process().Signal(SIGHUP);
  const std::string reloaded = "reload: mapping " + tallyd.mapping_path() + ": 0 rules";
  ASSERT_TRUE(WaitFor([&] {
    return tallyd.process().Stderr().find(reloaded) != std::string::npos;
  })) << tallyd.process().Stderr();
  const std::string body = tallyd.ScrapeUntil(
      "app.y:1|c", [](const std::string& b) { return SampleValue(b, "app_y").has_value(); });
  EXPECT_FALSE(SampleValue(body, "typo_y")) << body;
  EXPECT_THAT(PrometheusProblems(body), IsEmpty()) << body;
}

TEST_F(MappingE2eTest, SighupReloadsAGoodFileAndKeepsTheRulesOfABadOne) {
  MappedTallyd tallyd("mappings:\n- match: app.*\n  name: first_$1\n");
  ASSERT_TRUE(tallyd.WaitReady()) << tallyd.process().Stderr();
  const std::string& path = tallyd.mapping_path();
  TallydProcess& process = tallyd.process();
  tallyd.ScrapeUntil("app.x:1|c",
                     [](const std::string& b) { return SampleValue(b, "first_x").has_value(); });

  tallyd.WriteMapping("mappings:\n- match: app.*\n  name: second_$1\n");
  process.Signal(SIGHUP);
  // Lines that come before the shards take the new rules still create first_* series.
  std::string body = tallyd.ScrapeUntil("app.y%d:1|c", [](const std::string& b) {
    return b.find("\nsecond_y") != std::string::npos;
  });
  // The series created under the old rules keeps its identity.
  tallyd.Send("app.x:1|c");
  body = tallyd.ScrapeUntil("", [](const std::string& b) {
    std::optional<std::string> v = SampleValue(b, "first_x");
    return v && std::stod(*v) >= 2;
  });
  EXPECT_FALSE(SampleValue(body, "second_x")) << body;
  EXPECT_THAT(PrometheusProblems(body), IsEmpty()) << body;

  // Refused files: no name, then quantiles out of range. Each is logged with file, line and
  // key, and the running rules stay.
  tallyd.WriteMapping("mappings:\n- match: app.*\n");
  process.Signal(SIGHUP);
  const std::string no_name =
      path +
      ":2: mappings[0] (match \"app.*\"): metric mapping didn't set a metric name; "
      "keeping the running mapping rules";
  ASSERT_TRUE(WaitFor([&] { return process.Stderr().find(no_name) != std::string::npos; }))
      << process.Stderr();
  tallyd.WriteMapping(
      "mappings:\n- match: app.*\n  name: third_$1\n  observer_type: summary\n"
      "  summary_options:\n    quantiles: [{quantile: 0.5}, {quantile: 50}]\n");
  process.Signal(SIGHUP);
  const std::string bad_quantile = path +
                                   ":6: mappings[0] (match \"app.*\"): "
                                   "`summary_options.quantiles` quantile 50 is outside [0, 1]; "
                                   "keeping the running mapping rules";
  ASSERT_TRUE(WaitFor([&] { return process.Stderr().find(bad_quantile) != std::string::npos; }))
      << process.Stderr();
  // The running rules stay: a new series is still named by them.
  body = tallyd.ScrapeUntil(
      "app.z:1|c", [](const std::string& b) { return SampleValue(b, "second_z").has_value(); });
  EXPECT_FALSE(SampleValue(body, "app_z")) << body;
  EXPECT_FALSE(SampleValue(body, "third_z")) << body;
  process.Signal(SIGTERM);
  EXPECT_EQ(process.WaitExit(), 0);
}

}  // namespace
}  // namespace tallyd::testing
