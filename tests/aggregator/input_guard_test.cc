// What a client cannot do to the aggregator (SPEC 2, 3): make a series of bytes that are not
// UTF-8, make anything reported Inf or NaN, blow one metric name's cardinality up at the expense
// of the others; and DogStatsD's "\\n" in event text reaches backends as a newline.
#include <gtest/gtest.h>
#include <malloc.h>

#include <cmath>
#include <deque>
#include <limits>
#include <string>
#include <vector>

#include "aggregator/aggregator.h"
#include "aggregator/shard.h"
#include "protocol/parser.h"
#include "tests/aggregator/harness.h"

namespace tallyd::aggregator {
namespace {

using protocol::MetricLine;

constexpr double kMax = std::numeric_limits<double>::max();

// ---------------------------------------------------------------------------------------------
// invalid_utf8: checked when a line would create a series.

TEST(InputGuardTest, NewSeriesOfInvalidUtf8AreRejectedAndTheirNeighboursKept) {
  Harness h;
  EXPECT_EQ(h.Send("x:1|c|#k:\xff\xfe\n"
                   "ok:1|c\n"
                   "\xc0\xafname:1|g\n"             // overlong '/'
                   "sur:1|ms|#a:\xed\xa0\x80\n"     // surrogate U+D800
                   "big:1|h|#a,\xf4\x90\x80\x80\n"  // above U+10FFFF
                   "trunc\xe2\x82:1|d\n"            // truncated sequence
                   "members:\xff\xfe|s\n"           // set values are opaque: fine
                   "caf\xc3\xa9:2|c|#city:z\xc3\xbcrich\n"),
            5);
  auto s = h.Flush();
  EXPECT_EQ(s->series.size(), 3u);
  EXPECT_NE(Find(*s, "ok", MetricType::kCounter), nullptr);
  EXPECT_EQ(Find(*s, "members", MetricType::kSet)->value, 1);
  EXPECT_EQ(Find(*s, "caf\xc3\xa9", MetricType::kCounter, "city:z\xc3\xbcrich")->value, 2);
  EXPECT_EQ(h.shard(0)->series_count(), 3u);
  EXPECT_EQ(s->stats.series_dropped, 0u);
  // Refused every time, never remembered.
  EXPECT_EQ(h.Send("x:1|c|#k:\xff\xfe"), 1);
  EXPECT_EQ(h.Flush()->stats.series_created, 0u);
}

// An unsorted spelling of a valid series is still valid; an invalid one never aliases it.
TEST(InputGuardTest, RawSpellingsAreCheckedToo) {
  Harness h;
  EXPECT_EQ(h.Send("m:1|c|#a:1,b:2\nm:1|c|#b:2,a:1\nm:1|c|#b:2,a:1,\x80"), 1);
  auto s = h.Flush();
  ASSERT_EQ(s->series.size(), 1u);
  EXPECT_EQ(Find(*s, "m", MetricType::kCounter, "a:1,b:2")->value, 2);
}

MetricLine Counter(std::string_view name, std::string_view tags = "") {
  MetricLine line;
  line.name = name;
  line.type = MetricType::kCounter;
  line.values = "1";
  line.value_count = 1;
  line.first_value = 1;
  line.tags = tags;
  return line;
}

// Through AddBatch's grouped lookups (a table past kBatchMinKeys): the callback sees exactly the
// invalid lines, in order, and the valid ones around them count.
TEST(InputGuardTest, AddBatchReportsEachInvalidLine) {
  Options o;
  Aggregator aggregator(o, absl::Seconds(10));
  Shard* shard = aggregator.AddShard();
  std::vector<std::string> names;
  for (int i = 0; i < 10'000; ++i) names.push_back("known." + std::to_string(i));
  std::vector<MetricLine> lines;
  for (const std::string& n : names) lines.push_back(Counter(n));
  EXPECT_EQ(shard->AddBatch(lines.data(), lines.size()), 0u);
  std::deque<std::string> bytes;  // what the batch's views point into
  std::vector<MetricLine> batch;
  for (int i = 0; i < 200; ++i) {
    batch.push_back(Counter(names[i * 37]));
    if (i % 50 == 7) batch.push_back(Counter("bad\xff", bytes.emplace_back(std::to_string(i))));
    if (i % 50 == 9) batch.push_back(Counter(bytes.emplace_back("new." + names[i]), "t:\xc3\xa9"));
  }
  std::vector<std::string> seen;
  EXPECT_EQ(shard->AddBatch(batch.data(), batch.size(),
                            [&](const MetricLine& l) { seen.emplace_back(l.tags); }),
            4u);
  EXPECT_EQ(seen, (std::vector<std::string>{"7", "57", "107", "157"}));
  EXPECT_EQ(shard->series_count(), 10'004u);
  ASSERT_TRUE(shard->Rotate(absl::FromUnixSeconds(10)));
  auto s = aggregator.Flush(absl::FromUnixSeconds(10), absl::FromUnixSeconds(10));
  EXPECT_EQ(Find(*s, "known.37", MetricType::kCounter)->value, 2);
  EXPECT_EQ(s->series.size(), 10'004u);
}

// ---------------------------------------------------------------------------------------------
// Nothing reported is Inf or NaN: sums are held at their last finite value, and counted.

void ExpectFinite(const SampleSummary& m) {
  for (double v :
       {m.count, m.count_ps, m.sum, m.sum_squares, m.lower, m.upper, m.mean, m.median, m.std}) {
    EXPECT_TRUE(std::isfinite(v)) << v;
  }
  for (const PercentileValue& p : m.percentiles) {
    for (double v : {p.count, p.mean, p.bound, p.sum, p.sum_squares}) {
      EXPECT_TRUE(std::isfinite(v)) << v;
    }
  }
  if (m.sketch != nullptr) {
    m.sketch->ForEachBin([](double v, uint64_t) { EXPECT_TRUE(std::isfinite(v)) << v; });
  }
}

TEST(InputGuardTest, CounterSumsAreHeldFiniteInTheShardAndWhenShardsMerge) {
  Harness h({}, 2);
  h.Send("c:1e308|c\nc:1e308|c\nc:-5|c");  // the second overflows in shard 0
  h.Send("c:1.5e308|c", 1);                // and shard 1's sum overflows the merge
  auto s = h.Flush();
  const SeriesValue* c = Find(*s, "c", MetricType::kCounter);
  EXPECT_EQ(c->value, 1e308 - 5);
  EXPECT_EQ(s->RateOf(*c), (1e308 - 5) / 10);
  EXPECT_EQ(s->stats.overflows, 2u);
  h.Send("c:1|c");
  s = h.Flush();
  EXPECT_EQ(Find(*s, "c", MetricType::kCounter)->value, 1);
  EXPECT_EQ(s->stats.overflows, 0u);
}

TEST(InputGuardTest, CounterRateOverShortIntervalIsClampedFinite) {
  Harness h({}, 1, absl::Milliseconds(100));
  h.Send("c:1.7e308|c");
  auto s = h.Flush();
  EXPECT_EQ(s->RateOf(*Find(*s, "c", MetricType::kCounter)), kMax);
  EXPECT_EQ(s->stats.overflows, 1u);
}

TEST(InputGuardTest, EtsyGaugeDeltasAreHeldFinite) {
  Options o;
  o.gauge_mode = GaugeMode::kEtsy;
  Harness h(o);
  h.Send("g:1e308|g\ng:+1e308|g");  // absolute, then a delta that overflows it in the shard
  auto s = h.Flush();
  EXPECT_EQ(Find(*s, "g", MetricType::kGauge)->value, 1e308);
  h.Send("g:+1e308|g\ng:+1e308|g");  // the shard's delta sum overflows, and so would the merge
  s = h.Flush();
  EXPECT_EQ(Find(*s, "g", MetricType::kGauge)->value, 1e308);
  EXPECT_EQ(s->stats.overflows, 2u);
  h.Send("g:-1e308|g");
  EXPECT_EQ(Find(*h.Flush(), "g", MetricType::kGauge)->value, 0);
}

TEST(InputGuardTest, TimerSumsOfSquaresAndWeightedCountsAreHeldFinite) {
  Harness h({}, 2);
  // Weights 1/1e-308 = 1e308: two of them overflow the count.
  h.Send("t:1e200|ms\nt:1e200|ms\nt:1.7e308|ms|@1e-308");
  h.Send("t:1.7e308|ms|@1e-308\nt:1.7e308|ms\nt:1.7e308|ms", 1);
  auto s = h.Flush();
  const SampleSummary* m = s->SummaryOf(*Find(*s, "t", MetricType::kTimer));
  ASSERT_NE(m, nullptr);
  ExpectFinite(*m);
  EXPECT_EQ(m->samples, 6u);
  EXPECT_EQ(m->upper, 1.7e308);
  EXPECT_EQ(m->median, 1.7e308);  // (1.7e308 + 1.7e308) / 2 without overflowing
  EXPECT_GT(s->stats.overflows, 0u);
}

TEST(InputGuardTest, SketchedDistributionsOfHugeValuesReportFiniteFigures) {
  Options o;
  o.exact_samples = 4;
  o.percentiles = {50, 99, -10};
  Harness h(o, 2);
  for (int i = 0; i < 20; ++i) {
    h.Send("d:" + std::to_string(i % 2 ? 1.79e308 : -1.79e308) + "|d|@0.5", i % 2);
    h.Send("d:1.7976931348623157e308|d", 0);
  }
  auto s = h.Flush();
  const SampleSummary* m = s->SummaryOf(*Find(*s, "d", MetricType::kDistribution));
  ASSERT_NE(m, nullptr);
  EXPECT_FALSE(m->distribution.exact());
  ExpectFinite(*m);
  EXPECT_EQ(m->upper, kMax);
  EXPECT_GT(s->stats.overflows, 0u);
}

// ---------------------------------------------------------------------------------------------
// Event text: DogStatsD's escaped newline becomes a newline, as the Datadog Agent does.

TEST(InputGuardTest, EscapedNewlinesInEventTextAndServiceCheckMessagesBecomeNewlines) {
  Harness h;
  const std::string text = R"(one\ntwo\\nthree\)";  // the last backslash escapes nothing
  h.Send("_e{4," + std::to_string(text.size()) + R"(}:a\nb|)" + text +
         "|#k:v\n"
         R"(_sc|db|2|m:down\nsince 10:00\n)");
  auto s = h.Flush();
  ASSERT_EQ(s->events.size(), 1u);
  EXPECT_EQ(s->events[0].title, R"(a\nb)");  // the Agent leaves titles as sent
  EXPECT_EQ(s->events[0].text, "one\ntwo\\\nthree\\");
  ASSERT_EQ(s->service_checks.size(), 1u);
  EXPECT_EQ(s->service_checks[0].message, "down\nsince 10:00\n");
}

// ---------------------------------------------------------------------------------------------
// Empty tag section and empty tag values (SPEC 2).

TEST(InputGuardTest, EmptyTagSectionIsNoTagsAndEmptyValuesAreKept) {
  Harness h;
  h.Send("timgroup.hits:1|c|#\ntimgroup.hits:2|c\nk:1|g|#key:\nk:2|g|#key:,a");
  auto s = h.Flush();
  EXPECT_EQ(Find(*s, "timgroup.hits", MetricType::kCounter)->value, 3);
  EXPECT_EQ(Find(*s, "k", MetricType::kGauge, "key:")->value, 1);
  EXPECT_EQ(Find(*s, "k", MetricType::kGauge, "a,key:")->value, 2);
  EXPECT_EQ(s->series.size(), 3u);
}

// ---------------------------------------------------------------------------------------------
// max_series_per_metric.

std::string Tagged(std::string_view name, int id, std::string_view type = "c") {
  return std::string(name) + ":1|" + std::string(type) + "|#id:" + std::to_string(id) + "\n";
}

TEST(InputGuardTest, MaxSeriesPerMetricDropsNewSeriesOfThatNameOnly) {
  Options o;
  o.max_series_per_metric = 2;
  o.series_ttl = absl::Seconds(20);
  Harness h(o);
  h.Send(Tagged("req", 1) + Tagged("req", 2) + Tagged("req", 3) + Tagged("req", 4, "g") +
         Tagged("other", 1) + Tagged("other", 2));
  auto s = h.Flush();
  EXPECT_EQ(s->series.size(), 4u);
  EXPECT_EQ(Find(*s, "req", MetricType::kCounter, "id:3"), nullptr);
  EXPECT_EQ(Find(*s, "req", MetricType::kGauge, "id:4"), nullptr);  // one budget for all types
  EXPECT_EQ(s->stats.series_dropped_per_metric, 2u);
  EXPECT_EQ(s->stats.series_dropped, 0u);
  ASSERT_EQ(s->stats.series_dropped_top_names.size(), 1u);
  EXPECT_EQ(s->stats.series_dropped_top_names[0].name, "req");
  EXPECT_EQ(s->stats.series_dropped_top_names[0].dropped, 2u);
  // The name's existing series keep working.
  h.Send(Tagged("req", 1) + Tagged("req", 5));
  s = h.Flush();
  ASSERT_NE(Find(*s, "req", MetricType::kCounter, "id:1"), nullptr);
  EXPECT_EQ(Find(*s, "req", MetricType::kCounter, "id:1")->value, 1);
  EXPECT_EQ(s->stats.series_dropped_per_metric, 1u);
  // id:2 expires (20 s idle): the name's budget frees.
  s = h.Flush();
  EXPECT_EQ(Find(*s, "req", MetricType::kCounter, "id:2"), nullptr);
  h.Send(Tagged("req", 6));
  s = h.Flush();
  ASSERT_NE(Find(*s, "req", MetricType::kCounter, "id:6"), nullptr);
  EXPECT_EQ(Find(*s, "req", MetricType::kCounter, "id:6")->value, 1);
  EXPECT_EQ(s->stats.series_dropped_per_metric, 0u);
  EXPECT_TRUE(s->stats.series_dropped_top_names.empty());
}

// Each shard admits up to the cap; the flush side holds the name to it across shards, and admits
// a refused series once the name has room again.
TEST(InputGuardTest, MaxSeriesPerMetricHoldsAcrossShards) {
  Options o;
  o.max_series_per_metric = 2;
  o.series_ttl = absl::Seconds(20);
  Harness h(o, 2);
  h.Send(Tagged("req", 1) + Tagged("req", 2));
  h.Send(Tagged("req", 3), 1);
  auto s = h.Flush();
  EXPECT_EQ(s->series.size(), 2u);
  EXPECT_EQ(Find(*s, "req", MetricType::kCounter, "id:3"), nullptr);
  EXPECT_EQ(s->stats.series_dropped_per_metric, 1u);
  ASSERT_EQ(s->stats.series_dropped_top_names.size(), 1u);
  EXPECT_EQ(s->stats.series_dropped_top_names[0].dropped, 1u);
  h.Send(Tagged("req", 1));
  h.Send(Tagged("req", 3), 1);
  s = h.Flush();  // id:2 idle 10 s
  EXPECT_EQ(Find(*s, "req", MetricType::kCounter, "id:3"), nullptr);
  h.Send(Tagged("req", 1));
  h.Send(Tagged("req", 3), 1);
  s = h.Flush();  // id:2 expired this flush: no room for id:3 yet when its cell was merged
  h.Send(Tagged("req", 3), 1);
  s = h.Flush();
  ASSERT_NE(Find(*s, "req", MetricType::kCounter, "id:3"), nullptr);
  EXPECT_EQ(Find(*s, "req", MetricType::kCounter, "id:3")->value, 1);
  EXPECT_EQ(h.aggregator().series_count(), 2u);
}

TEST(InputGuardTest, TopDroppedNamesAreTheTenWorstMostFirst) {
  Options o;
  o.max_series_per_metric = 1;
  Harness h(o);
  std::string lines;
  for (int name = 0; name < 30; ++name) {
    // name n drops n series (n + 1 sent, one admitted).
    for (int id = 0; id <= name; ++id) lines += Tagged("n" + std::to_string(name), id);
  }
  h.Send(lines);
  auto s = h.Flush();
  EXPECT_EQ(s->stats.series_dropped_per_metric, 29u * 30 / 2);
  const std::vector<NameDrops>& top = s->stats.series_dropped_top_names;
  ASSERT_EQ(top.size(), FlushStats::kTopDroppedNames);
  for (size_t i = 0; i < top.size(); ++i) {
    EXPECT_EQ(top[i].name, "n" + std::to_string(29 - i));
    EXPECT_EQ(top[i].dropped, 29 - i);
  }
}

double HeapInUse() {
  struct mallinfo2 info = mallinfo2();
  return static_cast<double>(info.uordblks + info.hblkhd);
}

// A flood of offending names, new ones every interval: series, per-name bookkeeping and the
// reported names stay bounded by what is live, and memory does not creep.
TEST(InputGuardTest, ManyOffendingNamesKeepMemoryBounded) {
  Options o;
  o.max_series_per_metric = 1;
  o.series_ttl = absl::Seconds(20);
  Harness h(o);
  constexpr int kNames = 2000;
  constexpr int kSeriesPerName = 5;
  double heap_at_round_10 = 0;
  for (int round = 0; round < 40; ++round) {
    std::string datagram;
    for (int name = 0; name < kNames; ++name) {
      const std::string n = "flood." + std::to_string(round) + "." + std::to_string(name);
      for (int id = 0; id < kSeriesPerName; ++id) datagram += Tagged(n, id);
    }
    h.Send(datagram);
    auto s = h.Flush();
    EXPECT_EQ(s->stats.series_dropped_per_metric, uint64_t{kNames} * (kSeriesPerName - 1));
    EXPECT_EQ(s->stats.series_dropped_top_names.size(), FlushStats::kTopDroppedNames);
    // This round's names and the two before it (20 s TTL, 10 s flushes), one series each.
    EXPECT_LE(h.aggregator().series_count(), 3u * kNames);
    EXPECT_LE(h.shard(0)->series_count(), 3u * kNames);
    if (round == 10) heap_at_round_10 = HeapInUse();
  }
  EXPECT_LT(HeapInUse(), heap_at_round_10 + 4 * 1024 * 1024);
}

// Both sides count the series they already hold when the option is turned on.
TEST(InputGuardTest, MaxSeriesPerMetricCanBeTurnedOnLive) {
  Harness h({}, 2);
  h.Send(Tagged("req", 1) + Tagged("req", 2) + Tagged("req", 3));
  EXPECT_EQ(h.Flush()->series.size(), 3u);
  Options o;
  o.max_series_per_metric = 2;
  h.aggregator().UpdateOptions(o);
  h.Flush();  // the shards pick the option up at this rotation
  h.Send(Tagged("req", 1) + Tagged("req", 4));
  h.Send(Tagged("req", 5), 1);  // this shard has room: the flush side refuses it
  auto s = h.Flush();
  ASSERT_NE(Find(*s, "req", MetricType::kCounter, "id:1"), nullptr);  // existing: kept
  EXPECT_EQ(Find(*s, "req", MetricType::kCounter, "id:1")->value, 1);
  EXPECT_EQ(Find(*s, "req", MetricType::kCounter, "id:4"), nullptr);  // over the cap: dropped
  EXPECT_EQ(Find(*s, "req", MetricType::kCounter, "id:5"), nullptr);
  EXPECT_EQ(h.shard(0)->series_count(), 3u);
  EXPECT_EQ(s->stats.series_dropped_per_metric, 2u);
}

}  // namespace
}  // namespace tallyd::aggregator
