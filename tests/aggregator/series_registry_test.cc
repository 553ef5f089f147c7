// The process-wide table of series identities: every shard shares one key block per series,
// max_series holds for the whole process whatever the number of shards, and a series is forgotten
// (its slot reused) only once it is idle and no shard refers to it.
#include "aggregator/series_registry.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "aggregator/aggregator.h"
#include "tests/aggregator/harness.h"

namespace tallyd::aggregator {
namespace {

using protocol::MetricType;

SeriesKeyRef Acquire(SeriesRegistry& r, std::string_view name,
                     SeriesRegistry::Refusal* why = nullptr) {
  SeriesRegistry::Refusal ignored;
  return r.Acquire(MetricType::kCounter, name, "a:1", HashSeries(MetricType::kCounter, name, "a:1"),
                   nullptr, why != nullptr ? why : &ignored);
}

TEST(SeriesRegistryTest, AcquireSharesOneKeyAndForgetWaitsForEveryShard) {
  SeriesRegistry r;
  r.SetLimits(10, 0);
  SeriesKeyRef a = Acquire(r, "m");
  SeriesKeyRef b = Acquire(r, "m");  // a second shard meets it
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(r.size(), 1u);
  EXPECT_FALSE(r.TryForget(*a));  // two shards refer to it
  r.Release(*a);
  EXPECT_FALSE(r.TryForget(*a));  // one still does
  r.Release(*a);
  const uint32_t series = a->series();
  EXPECT_TRUE(r.TryForget(*a));
  EXPECT_EQ(r.size(), 0u);
  // The block outlives the registry's reference (here a and b; in tallyd snapshots, tables).
  EXPECT_EQ(a->name(), "m");
  // A new series reuses the forgotten slot, with a new id and a new block.
  SeriesKeyRef c = Acquire(r, "n");
  EXPECT_EQ(c->series(), series);
  EXPECT_NE(c->id(), a->id());
  SeriesKeyRef again = Acquire(r, "m");
  EXPECT_NE(again.get(), a.get());
  EXPECT_NE(again->series(), series);
}

TEST(SeriesRegistryTest, MaxSeriesAndPerMetricLimitsAreExact) {
  SeriesRegistry r;
  r.SetLimits(3, 0);
  std::vector<SeriesKeyRef> held;
  for (int i = 0; i < 3; ++i) held.push_back(Acquire(r, "m" + std::to_string(i)));
  SeriesRegistry::Refusal why;
  EXPECT_EQ(Acquire(r, "m3", &why), nullptr);
  EXPECT_EQ(why, SeriesRegistry::Refusal::kMaxSeries);
  EXPECT_NE(Acquire(r, "m1", &why), nullptr);  // an existing series is no new series
  r.Release(*held[0]);
  EXPECT_TRUE(r.TryForget(*held[0]));
  EXPECT_NE(Acquire(r, "m3", &why), nullptr);
  // Turned on live, the per-name limit counts the series that exist.
  r.SetLimits(10, 1);
  EXPECT_EQ(r.Acquire(MetricType::kGauge, "m1", "", HashSeries(MetricType::kGauge, "m1", ""),
                      nullptr, &why),
            nullptr);
  EXPECT_EQ(why, SeriesRegistry::Refusal::kPerMetric);
}

// Many threads meet the same new series at once: one key each, the limit exact.
TEST(SeriesRegistryTest, ConcurrentCreationMakesOneKeyPerSeries) {
  SeriesRegistry r;
  constexpr int kThreads = 4, kSeries = 2000, kLimit = 1500;
  r.SetLimits(kLimit, 0);
  std::vector<std::vector<const SeriesKey*>> got(kThreads);
  std::vector<std::vector<SeriesKeyRef>> refs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSeries; ++i) {
        SeriesKeyRef k = Acquire(r, "s" + std::to_string((i * 7 + t * 13) % kSeries));
        got[t].push_back(k.get());
        if (k != nullptr) refs[t].push_back(std::move(k));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<const SeriesKey*> distinct;
  for (const auto& v : got) {
    for (const SeriesKey* k : v) {
      if (k != nullptr) distinct.insert(k);
    }
  }
  EXPECT_EQ(distinct.size(), size_t{kLimit});
  EXPECT_EQ(r.size(), size_t{kLimit});
  std::set<uint32_t> slots;
  for (const SeriesKey* k : distinct) slots.insert(k->series());
  EXPECT_EQ(slots.size(), size_t{kLimit});  // no slot handed out twice
}

std::string Counters(int from, int to) {
  std::string d;
  for (int i = from; i < to; ++i) d += "s." + std::to_string(i) + ":1|c\n";
  return d;
}

// One sender spread over two workers: every series lands in both shards. They share its key
// block, and the process holds each series once.
TEST(SharedSeriesTest, TwoShardsFedTheSameSeriesShareKeyBlocks) {
  constexpr int kSeries = 500;
  Harness h({}, 2);
  h.Send(Counters(0, kSeries), 0);
  h.Send(Counters(0, kSeries), 1);
  auto s = h.Flush();
  ASSERT_EQ(s->series.size(), size_t{kSeries});
  EXPECT_EQ(h.aggregator().series_count(), size_t{kSeries});
  for (int i = 0; i < kSeries; ++i) {
    const std::string name = "s." + std::to_string(i);
    const SeriesValue* v = Find(*s, name, MetricType::kCounter);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->value, 2);
    EXPECT_EQ(h.shard(0)->FindSeries(MetricType::kCounter, name, ""), v->key.get());
    EXPECT_EQ(h.shard(1)->FindSeries(MetricType::kCounter, name, ""), v->key.get());
  }
}

// max_series counts distinct series of the whole process: a second shard cannot add its own.
TEST(SharedSeriesTest, MaxSeriesRefusesExactlyBeyondKDistinctSeriesOverTwoShards) {
  constexpr int kMax = 100;
  Options o;
  o.max_series = kMax;
  Harness h(o, 2);
  h.Send(Counters(0, 60), 0);
  h.Send(Counters(30, 130), 1);  // 30..59 exist; 60..99 fit; 100..129 are past the cap
  h.Send(Counters(0, 130), 0);   // shard 0 meets 60..99 through the registry; 100..129 refused
  auto s = h.Flush();
  EXPECT_EQ(s->series.size(), size_t{kMax});
  EXPECT_EQ(h.aggregator().series_count(), size_t{kMax});
  EXPECT_EQ(h.shard(0)->series_count(), size_t{kMax});
  EXPECT_EQ(h.shard(1)->series_count(), 70u);
  EXPECT_EQ(s->stats.series_dropped, 60u);  // lines: 30 in each shard
  for (int i = 0; i < 130; ++i) {
    const SeriesValue* v = Find(*s, "s." + std::to_string(i), MetricType::kCounter);
    if (i >= kMax) {
      EXPECT_EQ(v, nullptr) << i;
      continue;
    }
    ASSERT_NE(v, nullptr) << i;
    EXPECT_EQ(v->value, (i < 30 ? 2 : i < 60 ? 3 : 2)) << i;
  }
}

// A series idle past its ttl in every shard is forgotten; one shard still sending keeps it (and
// its id) alive; the freed room and slots serve new series, whose values land on their own.
TEST(SharedSeriesTest, EvictionThenRecreationOverTwoShards) {
  Options o;
  o.max_series = 4;
  o.series_ttl = absl::Seconds(20);
  Harness h(o, 2);  // 10 s flushes
  h.Send("a:1|c\nb:1|c\nc:1|c\nd:1|c", 0);
  h.Send("a:1|c\nb:1|c", 1);
  auto s = h.Flush();
  ASSERT_EQ(s->series.size(), 4u);
  const uint64_t a_id = Find(*s, "a", MetricType::kCounter)->key->id();
  const uint64_t c_id = Find(*s, "c", MetricType::kCounter)->key->id();
  // Only shard 1 keeps sending a; shard 0 sends nothing more.
  for (int i = 0; i < 3; ++i) {
    h.Send("a:1|c", 1);
    s = h.Flush();
  }
  // Shard 0 evicted everything; shard 1 evicted b. a lives on, under its id.
  EXPECT_EQ(h.shard(0)->series_count(), 0u);
  EXPECT_EQ(h.shard(1)->series_count(), 1u);
  EXPECT_EQ(h.aggregator().series_count(), 1u);
  ASSERT_EQ(s->series.size(), 1u);
  EXPECT_EQ(s->series[0].key->id(), a_id);
  // Room for three new series again, in either shard; c comes back as a new series.
  h.Send("a:5|c\nc:2|c\nx:3|c", 0);
  h.Send("y:4|c\nz:9|c", 1);
  s = h.Flush();
  EXPECT_EQ(s->series.size(), 4u);
  EXPECT_EQ(s->stats.series_dropped, 1u);  // the last of c, x, y, z to be created
  EXPECT_EQ(Find(*s, "a", MetricType::kCounter)->value, 5);
  EXPECT_EQ(Find(*s, "a", MetricType::kCounter)->key->id(), a_id);
  EXPECT_EQ(Find(*s, "c", MetricType::kCounter)->value, 2);
  EXPECT_NE(Find(*s, "c", MetricType::kCounter)->key->id(), c_id);
  EXPECT_EQ(Find(*s, "x", MetricType::kCounter)->value, 3);
  EXPECT_EQ(Find(*s, "y", MetricType::kCounter)->value, 4);
  EXPECT_EQ(Find(*s, "z", MetricType::kCounter), nullptr);
  EXPECT_EQ(h.shard(0)->FindSeries(MetricType::kCounter, "a", ""),
            h.shard(1)->FindSeries(MetricType::kCounter, "a", ""));
}

}  // namespace
}  // namespace tallyd::aggregator
