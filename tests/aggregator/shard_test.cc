// The worker side: interning (raw spellings alias one series), no allocation for known series,
// the shard's own cap and idle eviction.
#include "aggregator/shard.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "aggregator/aggregator.h"

namespace {
// Counts allocations made by this thread while `counting` is set.
thread_local bool counting = false;
thread_local size_t allocations = 0;
}  // namespace

void* operator new(size_t size) {
  if (counting) ++allocations;
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace tallyd::aggregator {
namespace {

using protocol::MetricLine;
using protocol::MetricType;

MetricLine Line(std::string_view name, MetricType type, double value, std::string_view tags = "",
                std::string_view raw = "1") {
  MetricLine line;
  line.name = name;
  line.type = type;
  line.values = raw;
  line.value_count = 1;
  line.first_value = value;
  line.tags = tags;
  return line;
}

TEST(ShardTest, KnownSeriesAllocateNothing) {
  Options o;
  o.global_tags = {"env:prod"};
  Aggregator aggregator(o, absl::Seconds(10));
  Shard* shard = aggregator.AddShard();
  std::vector<std::string> names;
  for (int i = 0; i < 1000; ++i) names.push_back("metric.name." + std::to_string(i));
  auto send_all = [&] {
    for (const std::string& n : names) {
      shard->Add(Line(n, MetricType::kCounter, 1, "b:2,a:1"));
      shard->Add(Line(n, MetricType::kGauge, 2, "host:x"));
      shard->Add(Line(n, MetricType::kTimer, 3));
      shard->Add(Line(n, MetricType::kSet, 0, "", "v"));
    }
  };
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  for (int round = 0; round < 3; ++round) {  // warm up both recycled intervals
    send_all();
    now += absl::Seconds(10);
    ASSERT_TRUE(shard->Rotate(now));
    aggregator.Flush(now, now);
  }
  counting = true;
  allocations = 0;
  send_all();
  counting = false;
  EXPECT_EQ(allocations, 0u);
  EXPECT_EQ(shard->series_count(), 4000u);
}

// With a mapping file, a known mapped series is found by its raw spelling (an alias of the mapped
// identity) and a dropped name by the shard's memo: neither is matched again nor allocates.
TEST(ShardTest, MappedAndDroppedLinesAllocateNothingOnceKnown) {
  Options o;
  o.mapping = *mapping::Mapping::Parse(
      "mappings:\n- match: app.*.hits\n  name: hits\n  labels: {app: $1}\n"
      "- match: noise.*\n  name: x\n  action: drop\n",
      "test.yml");
  Aggregator aggregator(o, absl::Seconds(10));
  Shard* shard = aggregator.AddShard();
  std::vector<std::string> names;
  for (int i = 0; i < 100; ++i) {
    names.push_back("app.a" + std::to_string(i) + ".hits");
    names.push_back("noise.n" + std::to_string(i));
  }
  auto send_all = [&] {
    for (const std::string& n : names) shard->Add(Line(n, MetricType::kCounter, 1, "b:2,a:1"));
  };
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  for (int round = 0; round < 3; ++round) {
    send_all();
    now += absl::Seconds(10);
    ASSERT_TRUE(shard->Rotate(now));
    aggregator.Flush(now, now);
  }
  counting = true;
  allocations = 0;
  send_all();
  counting = false;
  EXPECT_EQ(allocations, 0u);
  EXPECT_EQ(shard->series_count(), 100u);
}

TEST(ShardTest, KnownSeriesAllocateNothingInBatches) {
  Options o;
  o.global_tags = {"env:prod"};
  Aggregator aggregator(o, absl::Seconds(10));
  Shard* shard = aggregator.AddShard();
  std::vector<std::string> names;
  // 12.5k table keys: more than Shard::kBatchMinKeys, so the lookups are grouped.
  for (int i = 0; i < 2500; ++i) names.push_back("metric.name." + std::to_string(i));
  std::vector<MetricLine> lines;
  for (const std::string& n : names) {
    lines.push_back(Line(n, MetricType::kCounter, 1, "b:2,a:1"));
    lines.push_back(Line(n, MetricType::kGauge, 2, "host:x"));
    lines.push_back(Line(n, MetricType::kTimer, 3));
    lines.push_back(Line(n, MetricType::kSet, 0, "", "v"));
  }
  auto send_all = [&] {
    for (size_t at = 0; at < lines.size(); at += 50) {
      shard->AddBatch(lines.data() + at, std::min<size_t>(50, lines.size() - at));
    }
  };
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  for (int round = 0; round < 3; ++round) {  // warm up both recycled intervals
    send_all();
    now += absl::Seconds(10);
    ASSERT_TRUE(shard->Rotate(now));
    aggregator.Flush(now, now);
  }
  counting = true;
  allocations = 0;
  send_all();
  counting = false;
  EXPECT_EQ(allocations, 0u);
  EXPECT_EQ(shard->series_count(), 10000u);
}

TEST(ShardTest, RawSpellingsAliasOneSeries) {
  Aggregator aggregator({}, absl::Seconds(10));
  Shard* shard = aggregator.AddShard();
  shard->Add(Line("m", MetricType::kCounter, 1, "b:2,a:1"));
  shard->Add(Line("m", MetricType::kCounter, 1, "a:1,b:2"));
  shard->Add(Line("m", MetricType::kCounter, 1, "a:1,b:2,b:2"));
  shard->Add(Line("m", MetricType::kCounter, 1, "b:2,a:1"));
  EXPECT_EQ(shard->series_count(), 1u);
  absl::Time now = absl::FromUnixSeconds(100);
  ASSERT_TRUE(shard->Rotate(now));
  auto s = aggregator.Flush(now, now);
  ASSERT_EQ(s->series.size(), 1u);
  EXPECT_EQ(s->series[0].value, 4);
}

TEST(ShardTest, OwnTableCappedAtMaxSeries) {
  Options o;
  o.max_series = 3;
  Aggregator aggregator(o, absl::Seconds(10));
  Shard* shard = aggregator.AddShard();
  for (int i = 0; i < 10; ++i) {
    std::string name = "m" + std::to_string(i);
    shard->Add(Line(name, MetricType::kCounter, 1));
  }
  shard->Add(Line("m0", MetricType::kCounter, 1));
  EXPECT_EQ(shard->series_count(), 3u);
  absl::Time now = absl::FromUnixSeconds(100);
  ASSERT_TRUE(shard->Rotate(now));
  auto s = aggregator.Flush(now, now);
  EXPECT_EQ(s->stats.series_dropped, 7u);
  EXPECT_EQ(s->series.size(), 3u);
}

TEST(ShardTest, EvictsIdleSeriesAndReusesIds) {
  Options o;
  o.series_ttl = absl::Seconds(20);
  Aggregator aggregator(o, absl::Seconds(10));
  Shard* shard = aggregator.AddShard();
  absl::Time now = absl::FromUnixSeconds(100);
  auto flush = [&] {
    now += absl::Seconds(10);
    EXPECT_TRUE(shard->Rotate(now));
    return aggregator.Flush(now, now);
  };
  for (int i = 0; i < 100; ++i) shard->Add(Line("old" + std::to_string(i), MetricType::kGauge, i));
  flush();
  flush();
  EXPECT_EQ(shard->series_count(), 100u);
  flush();  // idle 20 s at this rotation
  EXPECT_EQ(shard->series_count(), 0u);
  EXPECT_EQ(aggregator.series_count(), 0u);
  // Reused local ids must map to the new series, not the forgotten ones.
  for (int i = 0; i < 50; ++i) shard->Add(Line("new" + std::to_string(i), MetricType::kGauge, -i));
  auto s = flush();
  ASSERT_EQ(s->series.size(), 50u);
  for (const SeriesValue& v : s->series) {
    EXPECT_EQ(v.key->name(), "new" + std::to_string(static_cast<int>(-v.value)));
  }
}

// Cells are indexed by slot and each of the two recycled intervals maps slots back to series on
// its own: series created in either interval, and slots reused after eviction, must keep landing
// on their own series in every later interval.
TEST(ShardTest, CellSlotsMapToTheirSeriesInEveryInterval) {
  Options o;
  o.series_ttl = absl::Seconds(30);
  Aggregator aggregator(o, absl::Seconds(10));
  Shard* shard = aggregator.AddShard();
  absl::Time now = absl::FromUnixSeconds(1000);
  std::vector<std::string> live;  // series sent to every interval
  for (int interval = 0; interval < 12; ++interval) {
    // Two new series per interval; from interval 6 on the first ones stop and later expire, so
    // their slots and local ids are reused by the newer ones.
    for (int k = 0; k < 2; ++k) live.push_back("s" + std::to_string(interval * 2 + k));
    if (interval >= 6) live.erase(live.begin(), live.begin() + 2);
    for (size_t i = 0; i < live.size(); ++i) {
      // The value names the series: s<n> counts n + 1.
      const int n = std::stoi(live[i].substr(1));
      shard->Add(Line(live[i], MetricType::kCounter, n + 1));
    }
    now += absl::Seconds(10);
    ASSERT_TRUE(shard->Rotate(now));
    auto s = aggregator.Flush(now, now);
    size_t reported = 0;
    for (const SeriesValue& v : s->series) {
      if (v.idle) continue;
      ++reported;
      const int n = std::stoi(std::string(v.key->name().substr(1)));
      EXPECT_EQ(v.value, n + 1) << v.key->name() << " in interval " << interval;
    }
    EXPECT_EQ(reported, live.size()) << "interval " << interval;
  }
  EXPECT_LT(shard->series_count(), 24u);  // the stopped ones expired
}

}  // namespace
}  // namespace tallyd::aggregator
