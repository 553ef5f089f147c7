// SPEC section 3 end to end through the parser: lines in, Snapshot out, time injected.
#include "aggregator/aggregator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "protocol/parser.h"
#include "tests/aggregator/harness.h"

namespace tallyd::aggregator {
namespace {

using protocol::MetricType;

TEST(AggregatorTest, CounterSumsValueOverSampleRate) {
  Harness h;
  h.Send("hits:1|c\nhits:2|c|@0.5\nhits:|c\nhits:1:2|c");
  auto s = h.Flush();
  const SeriesValue* v = Find(*s, "hits", MetricType::kCounter);
  ASSERT_NE(v, nullptr);
  EXPECT_DOUBLE_EQ(v->value, 1 + 4 + 1 + 3);
  EXPECT_DOUBLE_EQ(s->RateOf(*v), 0.9);
  EXPECT_FALSE(v->idle);
  EXPECT_EQ(s->stats.series_active[int(MetricType::kCounter)], 1u);
  EXPECT_EQ(s->flush_unix_seconds, 1'700'000'010);
}

TEST(AggregatorTest, GaugeDogStatsdModeIsAbsolute) {
  Harness h;
  h.Send("temp:5|g\ntemp:+3|g");
  EXPECT_EQ(Find(*h.Flush(), "temp", MetricType::kGauge)->value, 3);
  h.Send("temp:-2|g");
  EXPECT_EQ(Find(*h.Flush(), "temp", MetricType::kGauge)->value, -2);
}

TEST(AggregatorTest, GaugeEtsyModeAppliesDeltasToExistingGauge) {
  Options o;
  o.gauge_mode = GaugeMode::kEtsy;
  Harness h(o, 2);
  h.Send("q:+5|g");  // does not exist yet: set
  EXPECT_EQ(Find(*h.Flush(), "q", MetricType::kGauge)->value, 5);
  h.Send("q:+3|g");
  h.Send("q:-10|g", 1);  // deltas from two shards both apply
  EXPECT_EQ(Find(*h.Flush(), "q", MetricType::kGauge)->value, -2);
  h.Send("q:7|g\nq:+1|g");  // absolute then delta within one interval
  EXPECT_EQ(Find(*h.Flush(), "q", MetricType::kGauge)->value, 8);
  h.Send("q:1:+1:+1|g");
  EXPECT_EQ(Find(*h.Flush(), "q", MetricType::kGauge)->value, 3);
}

TEST(AggregatorTest, TimerReportsEtsyStats) {
  Harness h({}, 1, absl::Milliseconds(100));
  h.Send("t:100|ms\nt:200|ms\nt:300|ms|@0.5");
  auto s = h.Flush();
  const SeriesValue* v = Find(*s, "t", MetricType::kTimer);
  ASSERT_NE(v, nullptr);
  const SampleSummary* sum = s->SummaryOf(*v);
  ASSERT_NE(sum, nullptr);
  EXPECT_EQ(sum->count, 4);  // 1 + 1 + 1/0.5
  EXPECT_DOUBLE_EQ(sum->count_ps, 40);
  EXPECT_DOUBLE_EQ(sum->std, 81.64965809277261);
  EXPECT_EQ(sum->sum, 600);
  EXPECT_EQ(sum->mean, 200);
  EXPECT_EQ(sum->median, 200);
  EXPECT_EQ(sum->lower, 100);
  EXPECT_EQ(sum->upper, 300);
  ASSERT_EQ(s->percentiles.size(), 4u);  // defaults 50, 90, 95, 99
  EXPECT_EQ(s->percentiles[1].bound_name, "upper_90");
  EXPECT_EQ(sum->percentiles[1].bound, 300);
  EXPECT_EQ(sum->percentiles[0].count, 2);  // round(1.5) = 2
  EXPECT_EQ(sum->distribution.Quantile(0.5), 200);
  EXPECT_EQ(sum->distribution.CountAtOrBelow(250), 2u);
  EXPECT_EQ(sum->sketch, nullptr);  // only distributions carry one
}

TEST(AggregatorTest, HistogramAndDistributionReportLikeTimers) {
  Harness h;
  h.Send("h:1:2:3|h\nd:1:2:3|d");
  auto s = h.Flush();
  const SampleSummary* hs = s->SummaryOf(*Find(*s, "h", MetricType::kHistogram));
  const SampleSummary* ds = s->SummaryOf(*Find(*s, "d", MetricType::kDistribution));
  ASSERT_NE(hs, nullptr);
  ASSERT_NE(ds, nullptr);
  EXPECT_EQ(hs->samples, 3u);
  EXPECT_EQ(ds->median, 2);
  ASSERT_NE(ds->sketch, nullptr);
  EXPECT_EQ(ds->sketch->count(), 3u);
}

TEST(AggregatorTest, SetCountsDistinctValues) {
  Harness h({}, 2);
  h.Send("u:alice|s\nu:bob|s\nu:alice|s");
  h.Send("u:bob|s\nu:carol|s", 1);
  EXPECT_EQ(Find(*h.Flush(), "u", MetricType::kSet)->value, 3);
}

TEST(AggregatorTest, LargeSetSwitchesToHyperLogLog) {
  Options o;
  o.exact_set_size = 100;
  Harness h(o, 2);
  for (int i = 0; i < 20'000; ++i) h.Send("u:" + std::to_string(i) + "|s", i % 2);
  EXPECT_NEAR(Find(*h.Flush(), "u", MetricType::kSet)->value, 20'000, 400);
}

TEST(AggregatorTest, TagOrderAndDuplicatesMakeOneSeries) {
  Harness h;
  h.Send("m:1|c|#a:1,b:2\nm:2|c|#b:2,a:1,a:1\nm:4|c|#b:2,a:1");
  auto s = h.Flush();
  ASSERT_EQ(s->series.size(), 1u);
  EXPECT_EQ(s->series[0].key->tags(), "a:1,b:2");
  EXPECT_EQ(s->series[0].value, 7);
}

TEST(AggregatorTest, GlobalTagsMergedLineTagWins) {
  Options o;
  o.global_tags = {"env:prod", "dc"};
  Harness h(o);
  h.Send("m:1|c\nm:1|c|#env:dev\nm:1|c|#dc,env:prod");
  auto s = h.Flush();
  ASSERT_NE(Find(*s, "m", MetricType::kCounter, "dc,env:prod"), nullptr);
  EXPECT_EQ(Find(*s, "m", MetricType::kCounter, "dc,env:prod")->value, 2);
  EXPECT_EQ(Find(*s, "m", MetricType::kCounter, "dc,env:dev")->value, 1);
  EXPECT_EQ(s->series.size(), 2u);
}

TEST(AggregatorTest, SameNameDifferentTypesAreDifferentSeries) {
  Harness h;
  h.Send("x:1|c\nx:1|g\nx:1|ms");
  EXPECT_EQ(h.Flush()->series.size(), 3u);
}

TEST(AggregatorTest, SeriesIdStableAcrossFlushes) {
  Harness h;
  h.Send("a:1|c\nb:1|c");
  auto s1 = h.Flush();
  h.Send("b:1|c\na:1|c");
  auto s2 = h.Flush();
  EXPECT_EQ(Find(*s1, "a", MetricType::kCounter)->key->id(),
            Find(*s2, "a", MetricType::kCounter)->key->id());
  EXPECT_NE(Find(*s1, "a", MetricType::kCounter)->key->id(),
            Find(*s1, "b", MetricType::kCounter)->key->id());
}

// Shards create keys (and their ids) themselves: ids from different shards never collide, and a
// series several shards report is one series with one key and one id.
TEST(AggregatorTest, SeriesIdsUniqueAcrossShardsAndSharedSeriesMerged) {
  Harness h({}, 2);
  h.Send("a:1|c\nshared:1|c", 0);
  h.Send("b:1|c\nshared:2|c", 1);
  auto s = h.Flush();
  ASSERT_EQ(s->series.size(), 3u);
  const SeriesValue* a = Find(*s, "a", MetricType::kCounter);
  const SeriesValue* b = Find(*s, "b", MetricType::kCounter);
  const SeriesValue* shared = Find(*s, "shared", MetricType::kCounter);
  ASSERT_TRUE(a && b && shared);
  EXPECT_NE(a->key->id(), b->key->id());
  EXPECT_NE(shared->key->id(), a->key->id());
  EXPECT_NE(shared->key->id(), b->key->id());
  EXPECT_EQ(shared->value, 3);
  h.Send("shared:5|c", 1);
  auto s2 = h.Flush();
  EXPECT_EQ(Find(*s2, "shared", MetricType::kCounter)->key->id(), shared->key->id());
  EXPECT_EQ(Find(*s2, "shared", MetricType::kCounter)->value, 5);
}

TEST(AggregatorTest, TimestampedLinesArePointsNotMerged) {
  Harness h;
  h.Send("t:5|g|T1690000000\nt:6|g|T1690000010\nc:2|c|@0.5|T1690000000\nc:1|c");
  auto s = h.Flush();
  ASSERT_EQ(s->timestamped_points.size(), 3u);
  EXPECT_EQ(s->timestamped_points[0].key->name(), "t");
  EXPECT_EQ(s->timestamped_points[0].value, 5);
  EXPECT_EQ(s->timestamped_points[1].timestamp, 1690000010);
  EXPECT_EQ(s->timestamped_points[2].value, 4);
  EXPECT_EQ(Find(*s, "t", MetricType::kGauge), nullptr);
  EXPECT_EQ(Find(*s, "c", MetricType::kCounter)->value, 1);
  EXPECT_EQ(h.Flush()->timestamped_points.size(), 0u);
}

TEST(AggregatorTest, TimestampedPointsBounded) {
  Options o;
  o.max_timestamped_points = 2;
  Harness h(o);
  h.Send("t:1:2:3|g|T1690000000\nu:1|c|T1690000000");
  auto s = h.Flush();
  EXPECT_EQ(s->timestamped_points.size(), 2u);
  EXPECT_EQ(s->stats.timestamped_points_dropped, 2u);
}

TEST(AggregatorTest, EventsAndServiceChecksForwardedAndBounded) {
  Options o;
  o.max_events = 1;
  o.global_tags = {"env:prod"};
  Harness h(o);
  h.Send("_e{5,4}:title|text|#b,a\n_e{1,1}:x|y\n_sc|db|2|#z|m:down\n_sc|db|0");
  auto s = h.Flush();
  ASSERT_EQ(s->events.size(), 1u);
  EXPECT_EQ(s->events[0].title, "title");
  EXPECT_EQ(s->events[0].text, "text");
  EXPECT_EQ(s->events[0].tags, "a,b,env:prod");
  EXPECT_EQ(s->stats.events_dropped, 1u);
  ASSERT_EQ(s->service_checks.size(), 1u);
  EXPECT_EQ(s->service_checks[0].status, 2);
  EXPECT_EQ(s->service_checks[0].message, "down");
  EXPECT_EQ(s->stats.service_checks_dropped, 1u);
}

TEST(AggregatorTest, IdleSeriesReportUntilTtlThenForgotten) {
  Options o;
  o.series_ttl = absl::Seconds(30);
  Harness h(o);
  h.Send("c:3|c\ng:7|g\nt:1|ms\ns:x|s");
  auto first = h.Flush();
  const uint64_t counter_id = Find(*first, "c", MetricType::kCounter)->key->id();
  for (int i = 1; i <= 2; ++i) {  // 10 s and 20 s idle: still reported
    auto s = h.Flush();
    ASSERT_EQ(s->series.size(), 4u) << i;
    const SeriesValue* c = Find(*s, "c", MetricType::kCounter);
    EXPECT_TRUE(c->idle);
    EXPECT_EQ(c->value, 0);
    EXPECT_EQ(s->RateOf(*c), 0);
    EXPECT_EQ(Find(*s, "g", MetricType::kGauge)->value, 7);
    const SeriesValue* t = Find(*s, "t", MetricType::kTimer);
    EXPECT_TRUE(t->idle);
    EXPECT_EQ(s->SummaryOf(*t), nullptr);
    EXPECT_TRUE(Find(*s, "s", MetricType::kSet)->idle);
  }
  auto expired = h.Flush();  // 30 s idle
  EXPECT_TRUE(expired->series.empty());
  EXPECT_EQ(expired->stats.series_expired, 4u);
  EXPECT_EQ(h.aggregator().series_count(), 0u);
  EXPECT_EQ(h.shard(0)->series_count(), 0u);
  h.Send("c:1|c");
  auto again = h.Flush();
  EXPECT_NE(Find(*again, "c", MetricType::kCounter)->key->id(), counter_id);
  EXPECT_EQ(again->stats.series_created, 1u);
}

// TTL runs on the monotonic clock, timestamps on the wall clock: steps of the wall clock by hours
// (either way) between flushes neither expire series early nor keep them forever.
TEST(AggregatorTest, WallClockStepsNeitherExpireSeriesEarlyNorKeepThemForever) {
  Options o;
  o.series_ttl = absl::Seconds(30);
  Harness h(o);
  h.Send("c:1|c\ng:5|g");
  h.Flush();
  h.StepWallClock(absl::Hours(3));
  auto s = h.Flush();  // 10 s idle
  EXPECT_EQ(s->series.size(), 2u);
  EXPECT_EQ(h.shard(0)->series_count(), 2u);  // the shard's own eviction runs on the same clock
  EXPECT_EQ(s->flush_unix_seconds, 1'700'000'020 + 3 * 3600);  // snapshots keep wall time
  EXPECT_EQ(s->flush_time, h.wall());
  h.StepWallClock(-absl::Hours(6));  // now hours before the series' last sample
  s = h.Flush();                     // 20 s idle
  EXPECT_EQ(s->series.size(), 2u);
  EXPECT_EQ(h.shard(0)->series_count(), 2u);
  EXPECT_EQ(Find(*s, "g", MetricType::kGauge)->value, 5);
  s = h.Flush();  // 30 s idle
  EXPECT_TRUE(s->series.empty());
  EXPECT_EQ(s->stats.series_expired, 2u);
  EXPECT_EQ(h.aggregator().series_count(), 0u);
  EXPECT_EQ(h.shard(0)->series_count(), 0u);
}

TEST(AggregatorTest, SamplesKeepSeriesAlive) {
  Options o;
  o.series_ttl = absl::Seconds(20);
  Harness h(o);
  for (int i = 0; i < 5; ++i) {
    h.Send("g:1|g");
    h.Flush();
    h.Flush();
  }
  EXPECT_EQ(h.aggregator().series_count(), 1u);
}

TEST(AggregatorTest, MaxSeriesDropsNewSeriesOnly) {
  Options o;
  o.max_series = 2;
  o.series_ttl = absl::Seconds(20);
  Harness h(o, 2);
  h.Send("a:1|c\nb:1|c");
  h.Send("c:1|c", 1);  // the shard has room, the flush side does not
  auto s = h.Flush();
  EXPECT_EQ(s->series.size(), 2u);
  EXPECT_EQ(s->stats.series_dropped, 1u);
  EXPECT_EQ(Find(*s, "c", MetricType::kCounter), nullptr);
  h.Send("a:1|c\nb:1|c\nx:1|c");  // this shard's own table is full too
  s = h.Flush();
  EXPECT_EQ(Find(*s, "a", MetricType::kCounter)->value, 1);
  EXPECT_EQ(s->stats.series_dropped, 1u);
  EXPECT_EQ(s->stats.series_active[int(MetricType::kCounter)], 2u);
  // Once a and b expire, c gets in.
  h.Flush();
  h.Flush();
  h.Send("c:5|c", 1);
  s = h.Flush();
  ASSERT_NE(Find(*s, "c", MetricType::kCounter), nullptr);
  EXPECT_EQ(Find(*s, "c", MetricType::kCounter)->value, 5);
}

TEST(AggregatorTest, ShardsMergeBeyondExactSamplesIntoSketch) {
  Options o;
  o.exact_samples = 300;
  o.percentiles = {50, 90, 99, 99.9};
  Harness h(o, 3);
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> dist(4, 1);
  std::vector<double> all;
  for (int i = 0; i < 600; ++i) {  // 200 per shard: each exact, merged past 300
    double v = dist(rng);
    all.push_back(v);
    h.Send("lat:" + std::to_string(v) + "|ms", i % 3);
  }
  for (double& v : all) v = std::stod(std::to_string(v));
  std::sort(all.begin(), all.end());
  auto s = h.Flush();
  const SampleSummary* sum = s->SummaryOf(*Find(*s, "lat", MetricType::kTimer));
  ASSERT_NE(sum, nullptr);
  EXPECT_FALSE(sum->distribution.exact());
  EXPECT_EQ(sum->samples, 600u);
  EXPECT_EQ(sum->lower, all.front());
  EXPECT_EQ(sum->upper, all.back());
  for (size_t i = 0; i < s->percentiles.size(); ++i) {
    double p = s->percentiles[i].p;
    size_t k = static_cast<size_t>(std::floor(p / 100 * 600 + 0.5));
    EXPECT_NEAR(sum->percentiles[i].bound, all[k - 1], 0.01 * all[k - 1]) << p;
  }
  EXPECT_EQ(s->percentiles[3].bound_name, "upper_99_9");
}

TEST(AggregatorTest, ExactAcrossShardsEqualsSort) {
  Harness h({}, 2);
  std::vector<double> all;
  for (int i = 0; i < 1001; ++i) {
    double v = (i * 7919) % 1000;
    all.push_back(v);
    h.Send("lat:" + std::to_string(static_cast<int>(v)) + "|h", i % 2);
  }
  std::sort(all.begin(), all.end());
  auto s = h.Flush();
  const SampleSummary* sum = s->SummaryOf(*Find(*s, "lat", MetricType::kHistogram));
  EXPECT_TRUE(sum->distribution.exact());
  EXPECT_EQ(sum->distribution.sorted_samples(), all);
  EXPECT_EQ(sum->median, all[500]);
  EXPECT_EQ(sum->percentiles[3].bound, all[990]);  // round(0.99 * 1001) = 991
}

TEST(AggregatorTest, LateShardIsMergedNextFlush) {
  Harness h({}, 2);
  h.Send("c:1|c");
  h.Send("c:2|c", 1);
  absl::Time now = absl::FromUnixSeconds(1'700'000'010);
  ASSERT_TRUE(h.shard(0)->Rotate(now));
  auto s = h.aggregator().Flush(now, now);
  EXPECT_EQ(s->stats.shards_late, 1u);
  EXPECT_EQ(Find(*s, "c", MetricType::kCounter)->value, 1);
  s = h.Flush();
  EXPECT_EQ(Find(*s, "c", MetricType::kCounter)->value, 2);
}

TEST(AggregatorTest, RotateRefusedUntilCollected) {
  Harness h;
  h.Send("c:1|c");
  absl::Time now = absl::FromUnixSeconds(1'700'000'010);
  ASSERT_TRUE(h.shard(0)->Rotate(now));
  h.Send("c:2|c");
  EXPECT_FALSE(h.shard(0)->Rotate(now));  // previous interval not collected: keep accumulating
  EXPECT_EQ(Find(*h.aggregator().Flush(now, now), "c", MetricType::kCounter)->value, 1);
  EXPECT_EQ(Find(*h.Flush(), "c", MetricType::kCounter)->value, 2);
}

TEST(AggregatorTest, RequestedRotation) {
  Harness h;
  h.Send("c:1|c");
  EXPECT_FALSE(h.shard(0)->RotateIfRequested());
  absl::Time now = absl::FromUnixSeconds(1'700'000'010);
  h.aggregator().RequestRotation(now);
  EXPECT_FALSE(h.aggregator().AwaitRotation(absl::Now()));
  EXPECT_TRUE(h.shard(0)->RotateIfRequested());
  EXPECT_TRUE(h.aggregator().AwaitRotation(absl::Now()));
  EXPECT_FALSE(h.shard(0)->rotation_requested());
  EXPECT_EQ(Find(*h.aggregator().Flush(now, now), "c", MetricType::kCounter)->value, 1);
}

TEST(AggregatorTest, UpdateOptionsReKeysOnGlobalTagChange) {
  Harness h;
  h.Send("c:1|c");
  h.Flush();
  Options o;
  o.global_tags = {"env:prod"};
  o.percentiles = {75};
  h.aggregator().UpdateOptions(o);
  h.Flush();  // shard picks the new options up at this rotation
  h.Send("c:1|c\nt:1|ms");
  auto s = h.Flush();
  EXPECT_EQ(Find(*s, "c", MetricType::kCounter, "env:prod")->value, 1);
  EXPECT_TRUE(Find(*s, "c", MetricType::kCounter)->idle);
  ASSERT_EQ(s->percentiles.size(), 1u);
  EXPECT_EQ(s->percentiles[0].suffix, "75");
}

}  // namespace
}  // namespace tallyd::aggregator
