// The flush side's key -> global series index: finds by bytes (never by hash alone), and keeps
// every entry reachable through inserts, erasures (backward shift) and growth, checked against a
// std::map under heavy hash collisions.
#include "aggregator/series_index.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace tallyd::aggregator {
namespace {

using protocol::MetricType;

struct Store {
  std::vector<SeriesKeyRef> keys;
  const SeriesKey& operator()(uint32_t g) const { return *keys[g]; }
};
struct KeyOfStore {
  const Store* store;
  const SeriesKey& operator()(uint32_t g) const { return (*store)(g); }
};

TEST(SeriesIndexTest, FindsByBytesUnderCollisionsThroughEraseAndGrowth) {
  Store store;
  SeriesIndex<KeyOfStore> index{KeyOfStore{&store}};
  std::map<std::string, uint32_t> reference;  // name -> global
  std::mt19937 rng(7);
  // 16 distinct hash values for 3000 names: long probe runs, wrap-around, many shifts.
  auto make = [](const std::string& name) {
    return SeriesKey::Make(1, MetricType::kCounter, name, "t:1",
                           std::hash<std::string>{}(name) % 16, 0, 0);
  };
  for (int step = 0; step < 20'000; ++step) {
    const std::string name = absl::StrCat("n", rng() % 3000);
    auto it = reference.find(name);
    if (it == reference.end()) {
      SeriesKeyRef key = make(name);
      ASSERT_EQ(index.Find(*key), index.kAbsent) << name;
      store.keys.push_back(key);
      const auto g = static_cast<uint32_t>(store.keys.size() - 1);
      index.Insert(g);
      reference.emplace(name, g);
    } else if (rng() % 2 == 0) {
      index.Erase(it->second);
      reference.erase(it);
    }
    if (step % 1000 == 0) {
      ASSERT_EQ(index.size(), reference.size());
      for (const auto& [n, g] : reference) ASSERT_EQ(index.Find(*make(n)), g) << n;
    }
  }
  for (const auto& [n, g] : reference) EXPECT_EQ(index.Find(*make(n)), g) << n;
  // Same bytes, other type or other tags: other keys.
  const std::string some = reference.begin()->first;
  EXPECT_EQ(index.Find(*SeriesKey::Make(1, MetricType::kGauge, some, "t:1",
                                        std::hash<std::string>{}(some) % 16, 0, 0)),
            index.kAbsent);
  EXPECT_EQ(index.Find(*SeriesKey::Make(1, MetricType::kCounter, some, "t:2",
                                        std::hash<std::string>{}(some) % 16, 0, 0)),
            index.kAbsent);
}

}  // namespace
}  // namespace tallyd::aggregator
