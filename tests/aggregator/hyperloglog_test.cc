#include "aggregator/hyperloglog.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "aggregator/series_key.h"

namespace tallyd::aggregator {
namespace {

class HyperLogLogTest : public testing::TestWithParam<int> {};

TEST_P(HyperLogLogTest, WithinTwoPercent) {
  const int n = GetParam();
  HyperLogLog a, b;
  for (int i = 0; i < n; ++i) {
    // Real set values are strings; hash them as the shard does.
    uint64_t h = HashSetValue("user-" + std::to_string(i));
    (i % 2 ? a : b).Add(h);
    if (i % 3 == 0) a.Add(h);  // duplicates across shards
  }
  a.Merge(b);
  EXPECT_LE(std::abs(a.Estimate() - n), 0.02 * n) << a.Estimate();
}

INSTANTIATE_TEST_SUITE_P(Cardinalities, HyperLogLogTest,
                         testing::Values(100, 5'000, 10'000, 100'000, 1'000'000));

TEST(HyperLogLogSmallTest, EmptyIsZero) {
  HyperLogLog h;
  EXPECT_NEAR(h.Estimate(), 0, 0.5);
  h.Add(1);
  EXPECT_NEAR(h.Estimate(), 1, 0.5);
  h.Clear();
  EXPECT_NEAR(h.Estimate(), 0, 0.5);
}

}  // namespace
}  // namespace tallyd::aggregator
