#include "backends/graphite_format.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "aggregator/snapshot.h"
#include "tests/backends/adversarial_corpus.h"
#include "tests/backends/snapshot_fixtures.h"

namespace tallyd::backends {
namespace {

using aggregator::MetricType;
using aggregator::SeriesKey;
using aggregator::SeriesKeyRef;
using aggregator::Snapshot;
using fixtures::BaseSnapshot;
using fixtures::Key;
using fixtures::OneToFour;

Flush MakeFlush(Snapshot snapshot, std::vector<SelfMetric> self = {}) {
  return Flush{std::make_shared<const Snapshot>(std::move(snapshot)),
               std::make_shared<const std::vector<SelfMetric>>(std::move(self))};
}

// One series of each type, in an order that is not Etsy's (the output groups them).
Snapshot EveryType() {
  Snapshot s = BaseSnapshot();
  s.percentiles = {aggregator::MakePercentileSpec(90)};
  s.summaries.push_back(OneToFour(1, {{true, 4, 2.5, 4, 10, 30}}));
  s.series.push_back({.key = Key(1, MetricType::kSet, "users"), .value = 7});
  s.series.push_back({.key = Key(2, MetricType::kGauge, "temp"), .value = -1.5});
  s.series.push_back({.key = Key(3, MetricType::kTimer, "db"), .value = 0, .summary = 0});
  s.series.push_back({.key = Key(4, MetricType::kCounter, "req"), .value = 3});
  return s;
}

TEST(GraphiteFormatTest, LegacyNamespaceIsEtsysDefault) {
  EXPECT_EQ(FormatGraphite(MakeFlush(EveryType()), {}),
            "stats.req 0.3 1700000000\n"
            "stats_counts.req 3 1700000000\n"
            "stats.timers.db.count_90 4 1700000000\n"
            "stats.timers.db.mean_90 2.5 1700000000\n"
            "stats.timers.db.upper_90 4 1700000000\n"
            "stats.timers.db.sum_90 10 1700000000\n"
            "stats.timers.db.sum_squares_90 30 1700000000\n"
            "stats.timers.db.std 1.118033988749895 1700000000\n"
            "stats.timers.db.upper 4 1700000000\n"
            "stats.timers.db.lower 1 1700000000\n"
            "stats.timers.db.count 4 1700000000\n"
            "stats.timers.db.count_ps 0.4 1700000000\n"
            "stats.timers.db.sum 10 1700000000\n"
            "stats.timers.db.sum_squares 30 1700000000\n"
            "stats.timers.db.mean 2.5 1700000000\n"
            "stats.timers.db.median 2.5 1700000000\n"
            "stats.gauges.temp -1.5 1700000000\n"
            "stats.sets.users.count 7 1700000000\n");
}

TEST(GraphiteFormatTest, NewNamespace) {
  Snapshot s = EveryType();
  s.percentiles.clear();
  s.summaries[0].percentiles.clear();
  EXPECT_EQ(FormatGraphite(MakeFlush(std::move(s)), {.legacy_namespace = false}),
            "stats.counters.req.rate 0.3 1700000000\n"
            "stats.counters.req.count 3 1700000000\n"
            "stats.timers.db.std 1.118033988749895 1700000000\n"
            "stats.timers.db.upper 4 1700000000\n"
            "stats.timers.db.lower 1 1700000000\n"
            "stats.timers.db.count 4 1700000000\n"
            "stats.timers.db.count_ps 0.4 1700000000\n"
            "stats.timers.db.sum 10 1700000000\n"
            "stats.timers.db.sum_squares 30 1700000000\n"
            "stats.timers.db.mean 2.5 1700000000\n"
            "stats.timers.db.median 2.5 1700000000\n"
            "stats.gauges.temp -1.5 1700000000\n"
            "stats.sets.users.count 7 1700000000\n");
}

Snapshot CounterGaugeSet() {
  Snapshot s = BaseSnapshot();
  s.series.push_back({.key = Key(1, MetricType::kCounter, "req", "env:prod"), .value = 3});
  s.series.push_back({.key = Key(2, MetricType::kGauge, "temp"), .value = 21});
  s.series.push_back({.key = Key(3, MetricType::kSet, "users"), .value = 7});
  s.series.push_back({.key = Key(4, MetricType::kTimer, "db"), .idle = true});
  return s;
}

TEST(GraphiteFormatTest, PrefixesAndSuffixAsEtsyComposesThem) {
  GraphiteFormatOptions options{.legacy_namespace = false,
                                .global_prefix = "app",
                                .prefix_counter = "c",
                                .prefix_timer = "t",
                                .prefix_gauge = "g",
                                .prefix_set = "s",
                                .global_suffix = "host1"};
  EXPECT_EQ(FormatGraphite(MakeFlush(CounterGaugeSet()), options),
            "app.c.req.rate.host1;env=prod 0.3 1700000000\n"
            "app.c.req.count.host1;env=prod 3 1700000000\n"
            "app.t.db.count.host1 0 1700000000\n"
            "app.t.db.count_ps.host1 0 1700000000\n"
            "app.g.temp.host1 21 1700000000\n"
            "app.s.users.count.host1 7 1700000000\n");
}

TEST(GraphiteFormatTest, EmptyPrefixesAreLeftOutWithTheirDot) {
  GraphiteFormatOptions options{.legacy_namespace = false,
                                .global_prefix = "",
                                .prefix_counter = "",
                                .prefix_timer = "timers",
                                .prefix_gauge = "",
                                .prefix_set = ""};
  EXPECT_EQ(FormatGraphite(MakeFlush(CounterGaugeSet()), options),
            "req.rate;env=prod 0.3 1700000000\n"
            "req.count;env=prod 3 1700000000\n"
            "timers.db.count 0 1700000000\n"
            "timers.db.count_ps 0 1700000000\n"
            "temp 21 1700000000\n"
            "users.count 7 1700000000\n");
}

TEST(GraphiteFormatTest, LegacyNamespaceIgnoresPrefixesButNotTheSuffix) {
  GraphiteFormatOptions options{
      .global_prefix = "app", .prefix_counter = "c", .prefix_gauge = "g", .global_suffix = "host1"};
  EXPECT_EQ(FormatGraphite(MakeFlush(CounterGaugeSet()), options),
            "stats.req.host1;env=prod 0.3 1700000000\n"
            "stats_counts.req.host1;env=prod 3 1700000000\n"
            "stats.timers.db.count.host1 0 1700000000\n"
            "stats.timers.db.count_ps.host1 0 1700000000\n"
            "stats.gauges.temp.host1 21 1700000000\n"
            "stats.sets.users.count.host1 7 1700000000\n");
}

TEST(GraphiteFormatTest, PercentilesInOrderOnlyWhenPresentAndTopPercentiles) {
  Snapshot s = BaseSnapshot();
  s.percentiles = {aggregator::MakePercentileSpec(99.9), aggregator::MakePercentileSpec(1),
                   aggregator::MakePercentileSpec(-50)};
  s.summaries.push_back(
      OneToFour(0.5, {{true, 4, 2.5, 4, 10, 30}, {false}, {true, 2, 3.5, 3, 7, 25}}));
  s.series.push_back({.key = Key(1, MetricType::kHistogram, "h"), .value = 0, .summary = 0});
  EXPECT_EQ(FormatGraphite(MakeFlush(std::move(s)), {}),
            "stats.timers.h.count_99_9 4 1700000000\n"
            "stats.timers.h.mean_99_9 2.5 1700000000\n"
            "stats.timers.h.upper_99_9 4 1700000000\n"
            "stats.timers.h.sum_99_9 10 1700000000\n"
            "stats.timers.h.sum_squares_99_9 30 1700000000\n"
            "stats.timers.h.count_top50 2 1700000000\n"
            "stats.timers.h.mean_top50 3.5 1700000000\n"
            "stats.timers.h.lower_top50 3 1700000000\n"
            "stats.timers.h.sum_top50 7 1700000000\n"
            "stats.timers.h.sum_squares_top50 25 1700000000\n"
            "stats.timers.h.std 1.118033988749895 1700000000\n"
            "stats.timers.h.upper 4 1700000000\n"
            "stats.timers.h.lower 1 1700000000\n"
            "stats.timers.h.count 8 1700000000\n"
            "stats.timers.h.count_ps 0.8 1700000000\n"
            "stats.timers.h.sum 10 1700000000\n"
            "stats.timers.h.sum_squares 30 1700000000\n"
            "stats.timers.h.mean 2.5 1700000000\n"
            "stats.timers.h.median 2.5 1700000000\n");
}

TEST(GraphiteFormatTest, IdleSeriesWriteWhatEtsyWrites) {
  Snapshot s = BaseSnapshot();
  s.series.push_back({.key = Key(1, MetricType::kTimer, "t"), .idle = true});
  s.series.push_back({.key = Key(2, MetricType::kHistogram, "h"), .idle = true});
  s.series.push_back({.key = Key(3, MetricType::kDistribution, "d", "a:b"), .idle = true});
  s.series.push_back({.key = Key(4, MetricType::kSet, "s"), .value = 0, .idle = true});
  s.series.push_back({.key = Key(5, MetricType::kCounter, "c"), .value = 0, .idle = true});
  s.series.push_back({.key = Key(6, MetricType::kGauge, "g"), .value = 12, .idle = true});
  EXPECT_EQ(FormatGraphite(MakeFlush(std::move(s)), {}),
            "stats.c 0 1700000000\n"
            "stats_counts.c 0 1700000000\n"
            "stats.timers.t.count 0 1700000000\n"
            "stats.timers.t.count_ps 0 1700000000\n"
            "stats.timers.h.count 0 1700000000\n"
            "stats.timers.h.count_ps 0 1700000000\n"
            "stats.timers.d.count;a=b 0 1700000000\n"
            "stats.timers.d.count_ps;a=b 0 1700000000\n"
            "stats.gauges.g 12 1700000000\n"
            "stats.sets.s.count 0 1700000000\n");
}

TEST(GraphiteFormatTest, TagsSortedBareTagsTrueAndDroppedWithTagsNone) {
  Snapshot s = BaseSnapshot();
  s.series.push_back({.key = Key(1, MetricType::kGauge, "g", "a:1,env,z:x:y"), .value = 1});
  EXPECT_EQ(FormatGraphite(MakeFlush(s), {}), "stats.gauges.g;a=1;env=true;z=xy 1 1700000000\n");
  EXPECT_EQ(FormatGraphite(MakeFlush(s), {.tags = false}), "stats.gauges.g 1 1700000000\n");
}

TEST(GraphiteFormatTest, SanitizesNamesAsEtsy) {
  EXPECT_EQ(SanitizeGraphiteName("my  metric\t/x"), "my_metric_-x");
  EXPECT_EQ(SanitizeGraphiteName("a b!c\xc3\xa9(d)"), "a_bcd");
  EXPECT_EQ(SanitizeGraphiteName("a ! b"), "a__b");  // Etsy replaces runs before removing
  EXPECT_EQ(SanitizeGraphiteName("A-z_0.9;k=v"), "A-z_0.9;k=v");
  EXPECT_EQ(SanitizeGraphiteName("@#$%"), "");
}

// Etsy's /\s+/ is JavaScript's: Unicode spaces are whitespace too (node gives these results).
TEST(GraphiteFormatTest, SanitizesUnicodeSpacesAsJavaScriptDoes) {
  EXPECT_EQ(SanitizeGraphiteName("a\u00a0b"), "a_b");
  EXPECT_EQ(SanitizeGraphiteName("a \u3000\u2028b"), "a_b");  // one run
  EXPECT_EQ(SanitizeGraphiteName("\u00e9\u00a0\u00e9"), "_");
  EXPECT_EQ(SanitizeGraphiteName("a\u00a0\u00e9\u00a0b"), "a__b");
  EXPECT_EQ(SanitizeGraphiteName("a\U0001F389b"), "ab");
  EXPECT_EQ(SanitizeGraphiteName("a\u200bb\u0085c\u180ed"), "abcd");  // not \s in JavaScript
}

TEST(GraphiteFormatTest, SanitizesTagsIntoValidGraphiteTags) {
  Snapshot s = BaseSnapshot();
  // "k:" and "!!:v" are empty after sanitizing: dropped. "a;b:c" -> "a_b=c" as Etsy;
  // "url:http://x" -> "url=http--x" (Etsy removes the ':' after the first).
  s.series.push_back(
      {.key = Key(1, MetricType::kGauge, "g", "!!:v,a;b:c,k:,q:x=y,sp ace:v v,url:http://x"),
       .value = 1});
  GraphiteFormatStats stats;
  EXPECT_EQ(FormatGraphite(MakeFlush(s), {}, &stats),
            "stats.gauges.g;a_b=c;q=x=y;sp_ace=v_v;url=http--x 1 1700000000\n");
  EXPECT_EQ(stats.dropped_tags, 2u);
  EXPECT_EQ(stats.lines, 1u);
}

TEST(GraphiteFormatTest, EtsyStyleTagsInTheNameMergeWithSeriesTags) {
  Snapshot s = BaseSnapshot();
  s.series.push_back(
      {.key = Key(1, MetricType::kCounter, "cpu;host=a;;ssd", "env:prod,host:b"), .value = 2});
  EXPECT_EQ(FormatGraphite(MakeFlush(s), {}),
            "stats.cpu;env=prod;host=a;ssd=true 0.2 1700000000\n"
            "stats_counts.cpu;env=prod;host=a;ssd=true 2 1700000000\n");
  EXPECT_EQ(FormatGraphite(MakeFlush(s), {.tags = false}),
            "stats.cpu 0.2 1700000000\n"
            "stats_counts.cpu 2 1700000000\n");
}

TEST(GraphiteFormatTest, SkipsEmptyNamesAndNonFiniteValues) {
  Snapshot s = BaseSnapshot();
  s.series.push_back({.key = Key(1, MetricType::kGauge, "%%%"), .value = 1});
  s.series.push_back(
      {.key = Key(2, MetricType::kGauge, "inf"), .value = std::numeric_limits<double>::infinity()});
  s.series.push_back({.key = Key(3, MetricType::kGauge, "ok"), .value = 1});
  GraphiteFormatStats stats;
  EXPECT_EQ(FormatGraphite(MakeFlush(std::move(s)), {}, &stats), "stats.gauges.ok 1 1700000000\n");
  EXPECT_EQ(stats.invalid_names, 1u);
  EXPECT_EQ(stats.non_finite_values, 1u);
}

// Carbon's line receiver drops the connection on a line over 16384 bytes (its '\n' aside).
TEST(GraphiteFormatTest, LinesLongerThanCarbonReadsAreSkippedAndCounted) {
  // "stats.gauges." + name + " 1 1700000000": 26 bytes besides the name.
  const std::string fits(16384 - 26, 'a');
  const std::string too_long(16384 - 26 + 1, 'b');
  Snapshot s = BaseSnapshot();
  s.series.push_back({.key = Key(1, MetricType::kGauge, fits), .value = 1});
  s.series.push_back({.key = Key(2, MetricType::kGauge, too_long), .value = 1});
  s.series.push_back({.key = Key(3, MetricType::kGauge, "ok"), .value = 1});
  GraphiteFormatStats stats;
  EXPECT_EQ(FormatGraphite(MakeFlush(std::move(s)), {}, &stats),
            "stats.gauges." + fits + " 1 1700000000\nstats.gauges.ok 1 1700000000\n");
  EXPECT_EQ(stats.long_lines, 1u);
  EXPECT_EQ(stats.lines, 2u);
}

TEST(GraphiteFormatTest, TimestampedPointsUseTheirOwnTime) {
  Snapshot s = BaseSnapshot();
  s.percentiles = {aggregator::MakePercentileSpec(90)};
  s.timestamped_points.push_back({Key(1, MetricType::kCounter, "late.c", "a:1"), 5, 1699999990});
  s.timestamped_points.push_back({Key(2, MetricType::kGauge, "late.g"), 0.25, 1699999991});
  s.timestamped_points.push_back({Key(3, MetricType::kSet, "late.s"), 1, 1699999992});
  s.timestamped_points.push_back({Key(4, MetricType::kTimer, "late.t"), 3, 1699999993});
  EXPECT_EQ(FormatGraphite(MakeFlush(std::move(s)), {}),
            "stats.late.c;a=1 0.5 1699999990\n"
            "stats_counts.late.c;a=1 5 1699999990\n"
            "stats.gauges.late.g 0.25 1699999991\n"
            "stats.sets.late.s.count 1 1699999992\n"
            "stats.timers.late.t.count_90 1 1699999993\n"
            "stats.timers.late.t.mean_90 3 1699999993\n"
            "stats.timers.late.t.upper_90 3 1699999993\n"
            "stats.timers.late.t.sum_90 3 1699999993\n"
            "stats.timers.late.t.sum_squares_90 9 1699999993\n"
            "stats.timers.late.t.std 0 1699999993\n"
            "stats.timers.late.t.upper 3 1699999993\n"
            "stats.timers.late.t.lower 3 1699999993\n"
            "stats.timers.late.t.count 1 1699999993\n"
            "stats.timers.late.t.count_ps 0.1 1699999993\n"
            "stats.timers.late.t.sum 3 1699999993\n"
            "stats.timers.late.t.sum_squares 9 1699999993\n"
            "stats.timers.late.t.mean 3 1699999993\n"
            "stats.timers.late.t.median 3 1699999993\n");
}

std::vector<SelfMetric> SelfMetrics() {
  return {
      {"tallyd_packets_received_total", "", SelfMetric::Kind::kCounter, {{"transport", "udp"}}, 12},
      {"tallyd_backend_sent_total",
       "",
       SelfMetric::Kind::kCounter,
       {{"z", "1"}, {"backend", "graphite"}},
       3},
      {"tallyd_flush_duration_seconds", "", SelfMetric::Kind::kGauge, {}, 0.0025}};
}

TEST(GraphiteFormatTest, SelfMetricsUnderStatsTallyd) {
  Flush flush = MakeFlush(BaseSnapshot(), SelfMetrics());
  EXPECT_EQ(FormatGraphite(flush, {}),
            "stats.tallyd.packets_received_total;transport=udp 12 1700000000\n"
            "stats.tallyd.backend_sent_total;backend=graphite;z=1 3 1700000000\n"
            "stats.tallyd.flush_duration_seconds 0.0025 1700000000\n");
  EXPECT_EQ(
      FormatGraphite(
          flush,
          {.legacy_namespace = false, .tags = false, .global_prefix = "app", .global_suffix = "h"}),
      "app.tallyd.packets_received_total.h 12 1700000000\n"
      "app.tallyd.backend_sent_total.h 3 1700000000\n"
      "app.tallyd.flush_duration_seconds.h 0.0025 1700000000\n");
  EXPECT_EQ(FormatGraphite(flush, {.self_metrics = false}), "");
}

TEST(GraphiteFormatTest, NumbersAsJavaScriptPrintsThem) {
  struct Case {
    double value;
    const char* text;
  };
  // Expected strings are node's String(value).
  const Case cases[] = {
      {0, "0"},
      {-0.0, "0"},
      {100, "100"},
      {12.5, "12.5"},
      {-1.5, "-1.5"},
      {0.1 + 0.2, "0.30000000000000004"},
      {1e-6, "0.000001"},
      {1e-7, "1e-7"},
      {1.5e-7, "1.5e-7"},
      {-3e-7, "-3e-7"},
      {1e20, "100000000000000000000"},
      {123456789012345678901.0, "123456789012345680000"},
      {1e21, "1e+21"},
      {9007199254740993.0, "9007199254740992"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {1700000000, "1700000000"},
  };
  for (const Case& c : cases) {
    std::string out;
    AppendGraphiteNumber(out, c.value);
    EXPECT_EQ(out, c.text) << c.text;
    EXPECT_EQ(std::strtod(out.c_str(), nullptr), c.value) << c.text;  // reads back exactly
  }
}

// The chunks of a flush, checked as the backend relies on them: each ends at a line boundary and
// is bounded, and together they are the whole text, with the same counts, on every pass.
void ExpectChunksMakeTheWholeText(const Flush& flush, const GraphiteFormatOptions& options,
                                  size_t chunk_bytes, size_t max_series_bytes) {
  SCOPED_TRACE(absl::StrCat("chunk_bytes ", chunk_bytes));
  GraphiteFormatStats whole_stats;
  const std::string whole = FormatGraphite(flush, options, &whole_stats);
  GraphiteChunks chunks(flush, options, chunk_bytes);
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(absl::StrCat("pass ", pass));
    std::string joined, chunk;
    size_t count = 0;
    while (chunks.Next(chunk)) {
      ++count;
      ASSERT_FALSE(chunk.empty());
      ASSERT_EQ(chunk.back(), '\n');
      ASSERT_LE(chunk.size(), chunk_bytes + max_series_bytes);
      joined += chunk;
    }
    EXPECT_TRUE(chunk.empty());
    EXPECT_FALSE(chunks.Next(chunk)) << "stays at the end";
    EXPECT_EQ(joined, whole);
    if (chunk_bytes < whole.size()) {
      EXPECT_GT(count, 1u);
    }
    EXPECT_EQ(chunks.stats().lines, whole_stats.lines);
    EXPECT_EQ(chunks.stats().invalid_names, whole_stats.invalid_names);
    EXPECT_EQ(chunks.stats().dropped_tags, whole_stats.dropped_tags);
    EXPECT_EQ(chunks.stats().non_finite_values, whole_stats.non_finite_values);
    EXPECT_EQ(chunks.stats().long_lines, whole_stats.long_lines);
    chunks.Restart();
  }
  // A restart halfway through gives the same chunks again and counts nothing twice.
  std::string first, again;
  chunks.Next(first);
  chunks.Next(again);
  chunks.Restart();
  chunks.Next(again);
  EXPECT_EQ(again, first);
  EXPECT_EQ(chunks.stats().lines, whole_stats.lines);
}

TEST(GraphiteChunksTest, AdversarialCorpusInChunks) {
  Flush flush{std::make_shared<const Snapshot>(::tallyd::testing::corpus::AdversarialSnapshot(1)),
              std::make_shared<const std::vector<SelfMetric>>(SelfMetrics())};
  GraphiteFormatStats stats;
  ASSERT_GT(FormatGraphite(flush, {}, &stats).size(), 10000u);
  ASSERT_GT(stats.long_lines + stats.invalid_names + stats.dropped_tags, 0u)
      << "the corpus exercises the lines left out";
  // A series' lines (a timer with three percentiles: 24 lines) are at most 16385 bytes each.
  const size_t max_series = 24 * 16385;
  for (size_t chunk_bytes : {size_t{1}, size_t{2}, size_t{7}, size_t{100}, size_t{4096},
                             size_t{65536}, GraphiteChunks::kDefaultChunkBytes}) {
    ExpectChunksMakeTheWholeText(flush, {}, chunk_bytes, max_series);
    ExpectChunksMakeTheWholeText(flush, {.legacy_namespace = false, .tags = false}, chunk_bytes,
                                 max_series);
  }
}

// Every type, tags in names and keys, client-timestamped points, non-finite values, empty names.
Flush RandomFlush(uint32_t seed, int series) {
  std::mt19937 random(seed);
  Snapshot s = BaseSnapshot();
  s.percentiles = {aggregator::MakePercentileSpec(90), aggregator::MakePercentileSpec(99)};
  s.summaries.push_back(OneToFour(1, {{true, 4, 2.5, 4, 10, 30}, {false, 0, 0, 0, 0, 0}}));
  const MetricType types[] = {MetricType::kCounter,   MetricType::kGauge,
                              MetricType::kSet,       MetricType::kTimer,
                              MetricType::kHistogram, MetricType::kDistribution};
  const double values[] = {0,    -0.0,       1,  1.5e-7,
                           1e21, 123456.789, -3, std::numeric_limits<double>::quiet_NaN()};
  for (int i = 0; i < series; ++i) {
    MetricType type = types[random() % 6];
    std::string name = absl::StrCat("svc.", random() % 1000, random() % 7 == 0 ? " a/b;k=v" : "",
                                    random() % 50 == 0 ? "!!!" : ".x", i);
    if (random() % 200 == 0) name = "%%";  // nothing left after sanitizing
    std::string tags = random() % 3 == 0 ? absl::StrCat("env:prod,host:web-", random() % 10) : "";
    double value = values[random() % 8];
    SeriesKeyRef key = Key(i + 1, type, name, tags);
    aggregator::SeriesValue v{.key = key, .value = value, .idle = random() % 10 == 0};
    if (type == MetricType::kTimer || type == MetricType::kHistogram ||
        type == MetricType::kDistribution) {
      v.summary = random() % 4 == 0 ? -1 : 0;
    }
    s.series.push_back(v);
    if (random() % 20 == 0) s.timestamped_points.push_back({key, value, 1699999990});
  }
  return MakeFlush(std::move(s), SelfMetrics());
}

TEST(GraphiteChunksTest, BigRandomSnapshotInChunks) {
  Flush flush = RandomFlush(20261201, 20000);
  ASSERT_GT(FormatGraphite(flush, {}).size(), 1u << 20);
  const size_t max_series = 24 * 16385;
  for (size_t chunk_bytes : {size_t{1}, size_t{3}, size_t{64}, size_t{1000}, size_t{100000},
                             GraphiteChunks::kDefaultChunkBytes}) {
    ExpectChunksMakeTheWholeText(flush, {}, chunk_bytes, max_series);
  }
  ExpectChunksMakeTheWholeText(flush, {.legacy_namespace = false, .global_suffix = "dc1"}, 5000,
                               max_series);
}

// The backend holds one chunk at a time: a 1M-line flush never needs more than a chunk.
TEST(GraphiteChunksTest, ChunksStayNearTheirSize) {
  Flush flush = RandomFlush(7, 50000);
  GraphiteChunks chunks(flush, {}, 64 << 10);
  std::string chunk;
  size_t largest = 0, total = 0;
  while (chunks.Next(chunk)) {
    largest = std::max(largest, chunk.size());
    total += chunk.size();
  }
  EXPECT_GT(total, 20 * largest);
  EXPECT_LT(largest, (64 << 10) + 4096) << "short series: a chunk ends within a series of its size";
}

}  // namespace
}  // namespace tallyd::backends
