// The shard's interning table: keys found by bytes (never by hash alone), the arena across many
// chunks and oversized keys, aliases, growth and compaction after erasure.
#include "aggregator/series_table.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "aggregator/series_key.h"

namespace tallyd::aggregator {
namespace {

using protocol::MetricType;

TEST(SeriesTableTest, FindsEveryKeyAcrossGrowthAndChunks) {
  SeriesTable table;
  std::vector<std::string> names;
  // ~200 bytes per record, 40k records: several 2 MiB chunks and many slot doublings.
  for (int i = 0; i < 40'000; ++i) names.push_back(std::string(180, 'x') + std::to_string(i));
  for (uint32_t i = 0; i < names.size(); ++i) {
    const uint64_t h = HashSeries(MetricType::kCounter, names[i], "a:1");
    ASSERT_EQ(table.Find(h, MetricType::kCounter, names[i], "a:1"), nullptr);
    table.Insert(h, MetricType::kCounter, names[i], "a:1", i, 2 * i);
  }
  EXPECT_EQ(table.size(), names.size());
  for (uint32_t i = 0; i < names.size(); ++i) {
    const uint64_t h = HashSeries(MetricType::kCounter, names[i], "a:1");
    const SeriesTable::Record* r = table.Find(h, MetricType::kCounter, names[i], "a:1");
    ASSERT_NE(r, nullptr) << i;
    EXPECT_EQ(r->series, i);
    EXPECT_EQ(r->cell, 2 * i);
    EXPECT_EQ(r->name(), names[i]);
    EXPECT_EQ(r->tags(), "a:1");
    EXPECT_EQ(r->type(), MetricType::kCounter);
    // Same bytes, other type or other split between name and tags: other keys.
    EXPECT_EQ(table.Find(h, MetricType::kGauge, names[i], "a:1"), nullptr);
  }
}

TEST(SeriesTableTest, ComparesBytesWhenHashesCollide) {
  SeriesTable table;
  // Every key with the same hash: the table must still tell them apart.
  for (uint32_t i = 0; i < 100; ++i) {
    table.Insert(42, MetricType::kGauge, "m" + std::to_string(i), "", i, i);
  }
  for (uint32_t i = 0; i < 100; ++i) {
    const SeriesTable::Record* r = table.Find(42, MetricType::kGauge, "m" + std::to_string(i), "");
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->series, i);
  }
  EXPECT_EQ(table.Find(42, MetricType::kGauge, "m100", ""), nullptr);
  EXPECT_EQ(table.Find(42, MetricType::kGauge, "m1", "x"), nullptr);
}

TEST(SeriesTableTest, KeepsOversizedKeys) {
  SeriesTable table;
  const std::string big(3 << 20, 'b');  // larger than a chunk
  table.Insert(1, MetricType::kSet, "small", "", 0, 0);
  table.Insert(2, MetricType::kSet, big, "t:1", 1, 1);
  table.Insert(3, MetricType::kSet, "after", "", 2, 2);
  ASSERT_NE(table.Find(2, MetricType::kSet, big, "t:1"), nullptr);
  EXPECT_EQ(table.Find(2, MetricType::kSet, big, "t:1")->series, 1u);
  EXPECT_EQ(table.Find(3, MetricType::kSet, "after", "")->series, 2u);
  EXPECT_EQ(table.Find(1, MetricType::kSet, "small", "")->series, 0u);
}

TEST(SeriesTableTest, EraseIfCompactsAndKeepsTheRest) {
  SeriesTable table;
  auto hash = [](const std::string& n, std::string_view t) {
    return HashSeries(MetricType::kTimer, n, t);
  };
  for (uint32_t i = 0; i < 10'000; ++i) {
    const std::string n = "timer." + std::to_string(i);
    table.Insert(hash(n, "b:2,a:1"), MetricType::kTimer, n, "b:2,a:1", i, i);  // raw alias
    table.Insert(hash(n, "a:1,b:2"), MetricType::kTimer, n, "a:1,b:2", i, i);  // canonical
  }
  EXPECT_EQ(table.EraseIf([](uint32_t series) { return series % 3 == 0; }), 2u * 3334);
  EXPECT_EQ(table.size(), 2u * 6666);
  for (uint32_t i = 0; i < 10'000; ++i) {
    const std::string n = "timer." + std::to_string(i);
    for (std::string_view tags : {"b:2,a:1", "a:1,b:2"}) {
      const SeriesTable::Record* r = table.Find(hash(n, tags), MetricType::kTimer, n, tags);
      if (i % 3 == 0) {
        EXPECT_EQ(r, nullptr);
      } else {
        ASSERT_NE(r, nullptr);
        EXPECT_EQ(r->series, i);
      }
    }
  }
  EXPECT_EQ(table.EraseIf([](uint32_t) { return true; }), 2u * 6666);
  EXPECT_EQ(table.size(), 0u);
  table.Insert(hash("x", ""), MetricType::kTimer, "x", "", 7, 7);
  EXPECT_EQ(table.Find(hash("x", ""), MetricType::kTimer, "x", "")->series, 7u);
}

}  // namespace
}  // namespace tallyd::aggregator
