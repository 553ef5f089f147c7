// GET /debug/series' report: rankings, counts, tag keys and drops of hand-built snapshots, the
// JSON read back by nlohmann-json and the table checked for what a terminal would obey.
#include "backends/series_report.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "snapshot_fixtures.h"
#include "test_json.h"

namespace tallyd::backends {
namespace {

using aggregator::MetricType;
using fixtures::Key;
using testing::Json;
using testing::ParseJson;

// `n` counter series of `name`, tag "host:h<i>" and a constant "env:prod".
void AddCounters(aggregator::Snapshot& s, std::string_view name, int n, uint64_t& id) {
  for (int i = 0; i < n; ++i) {
    aggregator::SeriesValue v;
    v.key = Key(++id, MetricType::kCounter, name, absl::StrCat("env:prod,host:h", i));
    v.value = 1;
    s.series.push_back(v);
    ++s.stats.series_active[0];
  }
}

void AddTimer(aggregator::Snapshot& s, std::string_view name, uint64_t samples, uint64_t& id) {
  aggregator::SeriesValue v;
  v.key = Key(++id, MetricType::kTimer, name);
  aggregator::SampleSummary summary;
  summary.samples = samples;
  v.summary = static_cast<int32_t>(s.summaries.size());
  s.summaries.push_back(summary);
  s.series.push_back(v);
  ++s.stats.series_active[static_cast<int>(MetricType::kTimer)];
}

TEST(SeriesReportTest, RanksNamesBySeriesAndBySamples) {
  aggregator::Snapshot s = fixtures::BaseSnapshot();
  uint64_t id = 0;
  AddCounters(s, "wide", 30, id);
  AddCounters(s, "narrow", 2, id);
  AddTimer(s, "busy", 500, id);
  SeriesReportData r = BuildSeriesReport(s, 100, {});

  EXPECT_EQ(r.live_series, 33u);
  EXPECT_EQ(r.names, 3u);
  ASSERT_EQ(r.by_series.size(), 3u);
  EXPECT_EQ(r.by_series[0].name, "wide");
  EXPECT_EQ(r.by_series[0].series, 30u);
  EXPECT_EQ(r.by_series[1].name, "narrow");
  EXPECT_EQ(r.by_series[2].name, "busy");
  ASSERT_EQ(r.by_samples.size(), 3u);
  EXPECT_EQ(r.by_samples[0].name, "busy");
  EXPECT_EQ(r.by_samples[0].samples, 500u);
  EXPECT_FALSE(r.by_samples[0].samples_lower_bound);
  EXPECT_EQ(r.by_samples[1].name, "wide");
  EXPECT_TRUE(r.by_samples[1].samples_lower_bound);
  ASSERT_EQ(r.by_series[0].tag_keys.size(), 2u);
  EXPECT_EQ(r.by_series[0].tag_keys[0].key, "host");
  EXPECT_EQ(r.by_series[0].tag_keys[0].distinct_values, 30u);
  EXPECT_EQ(r.by_series[0].tag_keys[1].key, "env");
  EXPECT_EQ(r.by_series[0].tag_keys[1].distinct_values, 1u);
}

TEST(SeriesReportTest, KeepsOnlyTopNamesAndCapsDistinctValues) {
  aggregator::Snapshot s = fixtures::BaseSnapshot();
  uint64_t id = 0;
  for (int n = 1; n <= 10; ++n) AddCounters(s, absl::StrCat("m", n), n, id);
  SeriesReportOptions options;
  options.top_names = 3;
  options.distinct_values_cap = 4;
  SeriesReportData r = BuildSeriesReport(s, 1000, options);
  ASSERT_EQ(r.by_series.size(), 3u);
  EXPECT_EQ(r.by_series[0].name, "m10");
  EXPECT_EQ(r.by_series[2].name, "m8");
  EXPECT_EQ(r.by_series[0].tag_keys[0].distinct_values, 4u);
  EXPECT_TRUE(r.by_series[0].tag_keys[0].capped);
  EXPECT_FALSE(r.by_series[0].tag_keys[1].capped);
}

TEST(SeriesReportTest, IdleSeriesCountAsLiveButNotActive) {
  aggregator::Snapshot s = fixtures::BaseSnapshot();
  uint64_t id = 0;
  AddCounters(s, "x", 3, id);
  s.series[0].idle = true;
  SeriesReportData r = BuildSeriesReport(s, 10, {});
  ASSERT_EQ(r.by_series.size(), 1u);
  EXPECT_EQ(r.by_series[0].series, 3u);
  EXPECT_EQ(r.by_series[0].active_series, 2u);
  EXPECT_EQ(r.by_series[0].samples, 2u);
}

TEST(SeriesReportTest, JsonParsesAndCarriesSharesRatesAndDrops) {
  aggregator::Snapshot s = fixtures::BaseSnapshot();
  uint64_t id = 0;
  // Bytes a JSON writer must escape, and a terminal escape sequence.
  const std::string odd = "we\"ird\\\x1b[2J\n";
  AddCounters(s, odd, 5, id);
  AddTimer(s, "t", 40, id);
  s.stats.series_dropped = 7;
  s.stats.series_dropped_per_metric = 9;
  s.stats.series_dropped_top_names = {{odd, 9}};
  SeriesReport report(/*max_series=*/10);
  report.Update(s);
  report.Update(s);
  std::string text = FormatSeriesReportJson(*report.Latest(), 20);
  std::optional<Json> json = ParseJson(text);
  ASSERT_TRUE(json.has_value()) << text;
  EXPECT_EQ((*json)["flush_sequence"], 1);
  EXPECT_EQ((*json)["live_series"], 6);
  EXPECT_DOUBLE_EQ((*json)["max_series_share"].get<double>(), 0.6);
  const Json& top = (*json)["by_series"][0];
  EXPECT_EQ(top["name"], odd);
  EXPECT_EQ(top["series"], 5);
  EXPECT_DOUBLE_EQ(top["max_series_share"].get<double>(), 0.5);
  EXPECT_EQ(top["dropped"], 9);
  EXPECT_EQ(top["types"], Json::array({"counter"}));
  EXPECT_EQ((*json)["by_samples"][0]["name"], "t");
  EXPECT_DOUBLE_EQ((*json)["by_samples"][0]["samples_per_second"].get<double>(), 4.0);
  const Json& dropped = (*json)["dropped"];
  EXPECT_EQ(dropped["max_series"], 7);
  EXPECT_EQ(dropped["max_series_per_metric"], 9);
  EXPECT_EQ(dropped["max_series_total"], 14);
  EXPECT_EQ(dropped["max_series_per_metric_total"], 18);
  EXPECT_EQ(dropped["by_name"][0]["name"], odd);

  std::string table = FormatSeriesReportTable(*report.Latest(), 20);
  EXPECT_EQ(table.find('\x1b'), std::string::npos) << table;
  EXPECT_NE(table.find("we\"ird\\x5c\\x1b[2J\\x0a"), std::string::npos) << table;
}

TEST(SeriesReportTest, JsonHonoursTopAndBeforeTheFirstFlush) {
  SeriesReport report(5);
  std::optional<Json> empty = ParseJson(FormatSeriesReportJson(*report.Latest(), 20));
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ((*empty)["flush_sequence"], 0);
  EXPECT_TRUE((*empty)["by_series"].empty());
  EXPECT_EQ(FormatSeriesReportTable(*report.Latest(), 20), "tallyd: no flush yet\n");

  aggregator::Snapshot s = fixtures::BaseSnapshot();
  uint64_t id = 0;
  for (int n = 1; n <= 4; ++n) AddCounters(s, absl::StrCat("m", n), n, id);
  report.Update(s);
  std::optional<Json> json = ParseJson(FormatSeriesReportJson(*report.Latest(), 2));
  ASSERT_TRUE(json.has_value());
  ASSERT_EQ((*json)["by_series"].size(), 2u);
  EXPECT_EQ((*json)["by_series"][1]["name"], "m3");
}

// Names of several shapes, interleaved as shards hand them out: counters with tags, timers, a
// name with idle series, one with only client-timestamped points.
aggregator::Snapshot MixedSnapshot() {
  aggregator::Snapshot s = fixtures::BaseSnapshot();
  uint64_t id = 0;
  for (int round = 0; round < 3; ++round) {
    for (int n = 1; n <= 6; ++n) AddCounters(s, absl::StrCat("c", n), n + round, id);
    AddTimer(s, absl::StrCat("t", round), 100 * (round + 1), id);
    AddTimer(s, "t_shared", 7, id);
  }
  s.series[4].idle = true;
  aggregator::TimedPoint p;
  p.key = Key(++id, MetricType::kGauge, "points_only");
  for (int i = 0; i < 4; ++i) s.timestamped_points.push_back(p);
  p.key = Key(++id, MetricType::kCounter, "c2");
  s.timestamped_points.push_back(p);
  p.key = Key(++id, MetricType::kSet, "one_point");
  s.timestamped_points.push_back(p);
  return s;
}

uint64_t SameHashForAll(std::string_view) { return 42; }
uint64_t FirstByteHash(std::string_view name) { return name.empty() ? 0 : name[0]; }

// Names whose hashes are equal are still counted apart: the same report whatever the hash.
TEST(SeriesReportTest, NamesWhoseHashesCollideAreCountedApart) {
  const aggregator::Snapshot s = MixedSnapshot();
  SeriesReportOptions options;
  options.top_names = 5;
  const SeriesReportData want = BuildSeriesReport(s, 100, options);
  EXPECT_EQ(want.names, 12u);  // c1..c6, t0..t2, t_shared, points_only, one_point
  ASSERT_EQ(want.by_series.size(), 5u);
  EXPECT_EQ(want.by_series[0].name, "c6");
  EXPECT_EQ(want.by_series[0].series, 6u + 7u + 8u);
  EXPECT_EQ(want.by_samples[0].name, "t2");
  EXPECT_EQ(want.by_samples[1].name, "t1");
  EXPECT_EQ(want.by_samples[2].name, "t0");
  for (NameHashFunction hash : {&SameHashForAll, &FirstByteHash}) {
    std::vector<SeriesReportEntry> scratch;
    const SeriesReportData got = BuildSeriesReport(s, 100, options, scratch, hash);
    EXPECT_EQ(got.names, want.names);
    EXPECT_EQ(FormatSeriesReportJson(got, 20), FormatSeriesReportJson(want, 20));
  }
  // Every name ranked, points-only and idle ones included.
  options.top_names = 20;
  std::vector<SeriesReportEntry> scratch;
  const SeriesReportData all = BuildSeriesReport(s, 100, options, scratch, &SameHashForAll);
  EXPECT_EQ(FormatSeriesReportJson(all, 20),
            FormatSeriesReportJson(BuildSeriesReport(s, 100, options), 20));
  ASSERT_EQ(all.by_samples.size(), 12u);
  bool points_only = false;
  bool one_point = false;
  for (const NameRow& row : all.by_samples) {
    if (row.name == "points_only") {
      points_only = true;
      EXPECT_EQ(row.series, 0u);
      EXPECT_EQ(row.samples, 4u);
      EXPECT_EQ(row.types, std::vector<std::string>{"gauge"});
    }
    if (row.name == "one_point") {
      one_point = true;
      EXPECT_EQ(row.samples, 1u);
      EXPECT_EQ(row.types, std::vector<std::string>{"set"});
    }
    if (row.name == "c2") {
      EXPECT_EQ(row.series, 2u + 3u + 4u);
      EXPECT_EQ(row.samples, 2u + 3u + 4u + 1u);  // and its timestamped point
    }
  }
  EXPECT_TRUE(points_only);
  EXPECT_TRUE(one_point);
}

// The entries' buffer reused across flushes of different sizes gives the same report as a fresh
// one, and is released when it is more than twice what a flush needs.
TEST(SeriesReportTest, ReusedEntriesGiveTheSameReport) {
  aggregator::Snapshot big = fixtures::BaseSnapshot();
  uint64_t id = 0;
  for (int n = 1; n <= 40; ++n) AddCounters(big, absl::StrCat("m", n), n, id);
  const aggregator::Snapshot small = MixedSnapshot();
  std::vector<SeriesReportEntry> scratch;
  for (const aggregator::Snapshot* s : {&std::as_const(big), &small, &std::as_const(big)}) {
    EXPECT_EQ(FormatSeriesReportJson(BuildSeriesReport(*s, 1000, {}, scratch), 20),
              FormatSeriesReportJson(BuildSeriesReport(*s, 1000, {}), 20));
    EXPECT_LE(scratch.capacity(), 2 * (s->series.size() + s->timestamped_points.size()));
  }
}

}  // namespace
}  // namespace tallyd::backends
