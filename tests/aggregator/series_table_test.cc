// The shard's interning table: keys found by bytes (never by hash alone), large keys, aliases,
// growth, erasure, and the keys' reference counts shared with the flush side.
#include "aggregator/series_table.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "aggregator/series_key.h"

namespace tallyd::aggregator {
namespace {

using protocol::MetricType;

TEST(SeriesTableTest, FindsEveryKeyAcrossGrowth) {
  SeriesTable table;
  std::vector<std::string> names;
  // 40k keys of ~200 bytes: many slot doublings.
  for (int i = 0; i < 40'000; ++i) names.push_back(std::string(180, 'x') + std::to_string(i));
  for (uint32_t i = 0; i < names.size(); ++i) {
    const uint64_t h = HashSeries(MetricType::kCounter, names[i], "a:1");
    ASSERT_EQ(table.Find(h, MetricType::kCounter, names[i], "a:1"), nullptr);
    table.Insert(h, 0, MetricType::kCounter, names[i], "a:1", SeriesOf(2, 2 * i));
  }
  EXPECT_EQ(table.size(), names.size());
  for (uint32_t i = 0; i < names.size(); ++i) {
    const uint64_t h = HashSeries(MetricType::kCounter, names[i], "a:1");
    const SeriesKey* r = table.Find(h, MetricType::kCounter, names[i], "a:1");
    ASSERT_NE(r, nullptr) << i;
    EXPECT_EQ(r->series(), SeriesOf(2, 2 * i));
    EXPECT_EQ(r->cell(), 2 * i);
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
    table.Insert(42, 0, MetricType::kGauge, "m" + std::to_string(i), "", i);
  }
  for (uint32_t i = 0; i < 100; ++i) {
    const SeriesKey* r = table.Find(42, MetricType::kGauge, "m" + std::to_string(i), "");
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->series(), i);
  }
  EXPECT_EQ(table.Find(42, MetricType::kGauge, "m100", ""), nullptr);
  EXPECT_EQ(table.Find(42, MetricType::kGauge, "m1", "x"), nullptr);
}

TEST(SeriesTableTest, KeepsLargeKeys) {
  SeriesTable table;
  const std::string big(3 << 20, 'b');
  table.Insert(1, 0, MetricType::kSet, "small", "", 0);
  table.Insert(2, 0, MetricType::kSet, big, "t:1", 1);
  table.Insert(3, 0, MetricType::kSet, "after", "", 2);
  ASSERT_NE(table.Find(2, MetricType::kSet, big, "t:1"), nullptr);
  EXPECT_EQ(table.Find(2, MetricType::kSet, big, "t:1")->series(), 1u);
  EXPECT_EQ(table.Find(3, MetricType::kSet, "after", "")->series(), 2u);
  EXPECT_EQ(table.Find(1, MetricType::kSet, "small", "")->series(), 0u);
}

TEST(SeriesTableTest, EraseIfCompactsAndKeepsTheRest) {
  SeriesTable table;
  auto hash = [](const std::string& n, std::string_view t) {
    return HashSeries(MetricType::kTimer, n, t);
  };
  for (uint32_t i = 0; i < 10'000; ++i) {
    const std::string n = "timer." + std::to_string(i);
    table.Insert(hash(n, "b:2,a:1"), 0, MetricType::kTimer, n, "b:2,a:1", i);  // raw alias
    table.Insert(hash(n, "a:1,b:2"), 0, MetricType::kTimer, n, "a:1,b:2", i);  // canonical
  }
  EXPECT_EQ(table.EraseIf([](const SeriesKey& k) { return k.series() % 3 == 0; }), 2u * 3334);
  EXPECT_EQ(table.size(), 2u * 6666);
  for (uint32_t i = 0; i < 10'000; ++i) {
    const std::string n = "timer." + std::to_string(i);
    for (std::string_view tags : {"b:2,a:1", "a:1,b:2"}) {
      const SeriesKey* r = table.Find(hash(n, tags), MetricType::kTimer, n, tags);
      if (i % 3 == 0) {
        EXPECT_EQ(r, nullptr);
      } else {
        ASSERT_NE(r, nullptr);
        EXPECT_EQ(r->series(), i);
      }
    }
  }
  // A reference held outside the table (the flush side's) outlives the key's erasure.
  const uint64_t h1 = hash("timer.1", "a:1,b:2");
  SeriesKeyRef held = SeriesKeyRef::Share(table.Find(h1, MetricType::kTimer, "timer.1", "a:1,b:2"));
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(table.EraseIf([](const SeriesKey&) { return true; }), 2u * 6666);
  EXPECT_EQ(held->name(), "timer.1");
  EXPECT_EQ(held->tags(), "a:1,b:2");
  EXPECT_EQ(held->series(), 1u);
  EXPECT_EQ(table.size(), 0u);
  table.Insert(hash("x", ""), 0, MetricType::kTimer, "x", "", 7);
  EXPECT_EQ(table.Find(hash("x", ""), MetricType::kTimer, "x", "")->series(), 7u);
}

}  // namespace
}  // namespace tallyd::aggregator

namespace tallyd::aggregator {
namespace {

TEST(SeriesTableTest, InsertReturnsTheKeyWithItsIds) {
  SeriesTable table;
  const uint64_t h = HashSeries(protocol::MetricType::kGauge, "g", "a:1");
  SeriesKeyRef key = table.Insert(h, 77, protocol::MetricType::kGauge, "g", "a:1", SeriesOf(1, 9));
  EXPECT_EQ(key->id(), 77u);
  EXPECT_EQ(key->type(), protocol::MetricType::kGauge);
  EXPECT_EQ(key->hash32(), static_cast<uint32_t>(h));
  EXPECT_EQ(key->series(), SeriesOf(1, 9));
  EXPECT_EQ(key->cell(), 9u);
  EXPECT_EQ(table.Find(h, protocol::MetricType::kGauge, "g", "a:1"), key.get());
}

// Keys that share a home slot (equal low hash bits) but differ in their high bits are told apart
// by the slot's fingerprint: a lookup reads only the key it is after, never its neighbours.
TEST(SeriesTableTest, FingerprintFiltersKeysSharingAHomeSlot) {
  SeriesTable table;
  constexpr int kKeys = 8;
  auto hash = [](int i) { return uint64_t{0x5A5} | uint64_t(i + 1) << 24; };  // low 24 bits alike
  for (int i = 0; i < kKeys; ++i) {
    table.Insert(hash(i), 0, MetricType::kCounter, "k" + std::to_string(i), "", i);
  }
  for (int i = 0; i < kKeys; ++i) {
    int candidates = 0;
    const SeriesKey* key = table.Find(hash(i), MetricType::kCounter, "k" + std::to_string(i), "",
                                      [&](const SeriesKey&) { ++candidates; });
    ASSERT_NE(key, nullptr);
    EXPECT_EQ(key->series(), static_cast<uint32_t>(i));
    EXPECT_EQ(candidates, 1) << "key " << i;
    EXPECT_EQ(table.FirstCandidate(hash(i)), key);
  }
}

}  // namespace
}  // namespace tallyd::aggregator
