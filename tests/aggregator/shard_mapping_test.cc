// SPEC 7 in the aggregator: a mapping rule names the series when a line creates it, the line's
// own tags kept beside the mapped labels; drop rules drop and count; per-rule ttl; reloads keep
// the identity of series created before them.
#include <gtest/gtest.h>

#include "aggregator/aggregator.h"
#include "mapping/mapping.h"
#include "tests/aggregator/harness.h"

namespace tallyd::aggregator {
namespace {

using protocol::MetricType;

std::shared_ptr<const mapping::Mapping> Rules(std::string_view yaml) {
  auto m = mapping::Mapping::Parse(yaml, "test.yml");
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

Options WithRules(std::string_view yaml) {
  Options o;
  o.mapping = Rules(yaml);
  return o;
}

constexpr std::string_view kDispatcher = R"(
mappings:
- match: test.dispatcher.*.*.*
  name: "dispatcher_events_total"
  labels:
    processor: "$1"
    action: "$2"
    outcome: "$3"
    job: "test_dispatcher"
- match: drop.*
  name: dropped
  action: drop
- match: honor.*
  name: honored
  honor_labels: true
  labels:
    env: "$1"
- match: short.*
  name: short
  ttl: 20s
  help: "Short-lived."
)";

TEST(ShardMappingTest, MappedNameAndLabelsAreTheSeriesIdentity) {
  Harness h(WithRules(kDispatcher));
  h.Send("test.dispatcher.FooProcessor.send.success:1|c|#region:eu,job:mine");
  auto s = h.Flush();
  ASSERT_EQ(s->series.size(), 1u);
  // The mapped `job` label wins over the line's own `job` tag; `region` is kept beside.
  const SeriesValue* v =
      Find(*s, "dispatcher_events_total", MetricType::kCounter,
           "action:send,job:test_dispatcher,outcome:success,processor:FooProcessor,region:eu");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->value, 1);
  ASSERT_NE(v->key->mapping_options(), nullptr);
  EXPECT_EQ(v->key->mapping_options()->rule_index, 0);
}

TEST(ShardMappingTest, HonorLabelsKeepsTheLinesOwnTag) {
  Harness h(WithRules(kDispatcher));
  h.Send("honor.prod:1|c|#env:staging\nhonor.prod:1|c");
  auto s = h.Flush();
  EXPECT_NE(Find(*s, "honored", MetricType::kCounter, "env:staging"), nullptr);
  EXPECT_NE(Find(*s, "honored", MetricType::kCounter, "env:prod"), nullptr);
}

// Two raw names (and two shards) mapping to one identity are one series.
TEST(ShardMappingTest, RawNamesMappingToOneIdentityAreOneSeries) {
  Harness h(WithRules(R"(
mappings:
- match: "*.requests"
  name: requests_total
  labels: {app: web}
)"),
            /*shards=*/2);
  h.Send("a.requests:1|c\nb.requests:2|c\na.requests:4|c", 0);
  h.Send("c.requests:8|c|#app:web", 1);
  auto s = h.Flush();
  ASSERT_EQ(s->series.size(), 1u);
  EXPECT_EQ(Find(*s, "requests_total", MetricType::kCounter, "app:web")->value, 15);
}

TEST(ShardMappingTest, DropRuleDropsAndCounts) {
  Harness h(WithRules(kDispatcher));
  h.Send("drop.me:1|c\ndrop.me:1|c\ndrop.you:1|g\nkept:1|c");
  auto s = h.Flush();
  ASSERT_EQ(s->series.size(), 1u);
  EXPECT_NE(Find(*s, "kept", MetricType::kCounter), nullptr);
  EXPECT_EQ(s->stats.mapping_dropped, 3u);
  EXPECT_EQ(h.shard(0)->series_count(), 1u);
}

TEST(ShardMappingTest, UnmatchedNamesAreKeptAsSent) {
  Harness h(WithRules(kDispatcher));
  h.Send("test.web-server.foo.bar:1|c|#a:b");
  auto s = h.Flush();
  EXPECT_NE(Find(*s, "test.web-server.foo.bar", MetricType::kCounter, "a:b"), nullptr);
}

TEST(ShardMappingTest, RuleTtlExpiresItsSeriesOnly) {
  Options o = WithRules(kDispatcher);
  o.series_ttl = absl::Seconds(60);
  Harness h(o);
  h.Send("short.x:1|c\nlong.x:1|c");
  auto first = h.Flush();
  ASSERT_NE(Find(*first, "short", MetricType::kCounter), nullptr);
  EXPECT_EQ(Find(*first, "short", MetricType::kCounter)->key->mapping_options()->help,
            "Short-lived.");
  auto idle = h.Flush();  // 10 s idle
  EXPECT_NE(Find(*idle, "short", MetricType::kCounter), nullptr);
  auto expired = h.Flush();  // 20 s idle: the rule's ttl
  EXPECT_EQ(Find(*expired, "short", MetricType::kCounter), nullptr);
  EXPECT_NE(Find(*expired, "long.x", MetricType::kCounter), nullptr);
  EXPECT_EQ(h.shard(0)->series_count(), 1u);
  for (int i = 0; i < 4; ++i) h.Flush();  // 60 s idle: series_ttl
  EXPECT_EQ(h.shard(0)->series_count(), 0u);
}

TEST(ShardMappingTest, ReloadKeepsIdentityOfExistingSeriesAndMapsNewOnes) {
  Harness h(WithRules("mappings:\n- match: a.*\n  name: old_$1\n"));
  h.Send("a.x:1|c");
  auto first = h.Flush();
  ASSERT_NE(Find(*first, "old_x", MetricType::kCounter), nullptr);
  Options o = WithRules(
      "mappings:\n- match: a.*\n  name: new_$1\n- match: gone.*\n  name: g\n"
      "  action: drop\n");
  h.aggregator().UpdateOptions(o);
  h.Flush();  // the shards take the new options at this rotation
  h.Send("a.x:1|c\na.y:1|c\ngone.z:1|c");
  auto s = h.Flush();
  const SeriesValue* kept = Find(*s, "old_x", MetricType::kCounter);
  ASSERT_NE(kept, nullptr);
  EXPECT_FALSE(kept->idle);
  EXPECT_EQ(kept->value, 1);
  EXPECT_NE(Find(*s, "new_y", MetricType::kCounter), nullptr);
  EXPECT_EQ(s->stats.mapping_dropped, 1u);
}

// A series is (name, type, tags): a counter and a gauge mapped to one name stay two series (the
// Prometheus backend then refuses the second type and counts it, SPEC 4.1).
TEST(ShardMappingTest, ConflictingTypesUnderOneMappedNameAreTwoSeries) {
  Harness h(WithRules("mappings:\n- match: \"*.x\"\n  name: shared\n"));
  h.Send("a.x:1|c\nb.x:5|g");
  auto s = h.Flush();
  ASSERT_EQ(s->series.size(), 2u);
  EXPECT_EQ(Find(*s, "shared", MetricType::kCounter)->value, 1);
  EXPECT_EQ(Find(*s, "shared", MetricType::kGauge)->value, 5);
}

TEST(ShardMappingTest, NameExpandingToNothingIsDropped) {
  Harness h(WithRules("mappings:\n- match: \"*\"\n  name: \"$2\"\n"));
  h.Send("x:1|c");
  auto s = h.Flush();
  EXPECT_TRUE(s->series.empty());
  EXPECT_EQ(s->stats.mapping_dropped, 1u);
}

TEST(ShardMappingTest, ManySeriesThroughTheBatchPath) {
  Harness h(WithRules(R"(
mappings:
- match: "app.*.*"
  name: app_hits
  labels: {host: "$1", code: "$2"}
)"));
  // More keys than kBatchMinKeys, so later lines take AddBatch's grouped lookups.
  std::vector<std::string> text;
  std::vector<protocol::MetricLine> lines;
  for (int i = 0; i < 20000; ++i) {
    text.push_back("app.h" + std::to_string(i) + ".200:1|c");
  }
  for (int round = 0; round < 2; ++round) {
    lines.clear();
    for (const std::string& t : text) lines.push_back(protocol::ParseLine(t).metric);
    EXPECT_EQ(h.shard(0)->AddBatch(lines.data(), lines.size()), 0u);
  }
  auto s = h.Flush();
  ASSERT_EQ(s->series.size(), 20000u);
  const SeriesValue* v = Find(*s, "app_hits", MetricType::kCounter, "code:200,host:h123");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->value, 2);
}

}  // namespace
}  // namespace tallyd::aggregator
