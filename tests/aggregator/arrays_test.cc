// The aggregator's big per-series arrays: huge-page blocks mapped exactly (and counted, as
// malloc's statistics do not see them), and growth that stops at max_series.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "aggregator/huge_pages.h"
#include "aggregator/interval.h"

namespace tallyd::aggregator {
namespace {

TEST(HugePagesTest, LargeBlocksAreHugePageAlignedAndCountedToThePage) {
  const size_t before = HugeAwareBytesMapped();
  const size_t bytes = 3 * kHugePageSize + 100;
  auto* p = static_cast<char*>(AllocateHugeAware(bytes));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kHugePageSize, 0u);
  EXPECT_EQ(HugeAwareBytesMapped() - before, 3 * kHugePageSize + 4096);  // not 4 huge pages
  std::memset(p, 7, bytes);
  EXPECT_EQ(p[bytes - 1], 7);
  FreeHugeAware(p, bytes);
  EXPECT_EQ(HugeAwareBytesMapped(), before);
}

TEST(HugePagesTest, SmallBlocksComeFromMalloc) {
  const size_t before = HugeAwareBytesMapped();
  void* p = AllocateHugeAware(1000);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(HugeAwareBytesMapped(), before);
  FreeHugeAware(p, 1000);
}

// One slot at a time, as series are created: doubling, but the last step lands on the limit
// (resize alone ends at the next power of two: 1024 here, 2^20 for a million series).
TEST(GrowToTest, DoublesButStopsAtTheLimit) {
  std::vector<uint32_t> v;
  size_t reallocations = 0;
  for (size_t n = 1; n <= 1000; ++n) {
    const size_t capacity = v.capacity();
    GrowTo(v, n, 1000, uint32_t{5});
    reallocations += v.capacity() != capacity;
    ASSERT_EQ(v.size(), n);
    EXPECT_EQ(v[n - 1], 5u);
  }
  EXPECT_EQ(v.capacity(), 1000u);
  EXPECT_LE(reallocations, 12u);  // still geometric
  GrowTo(v, 1001, 1000);          // past the limit (a raised max_series): doubles again
  EXPECT_EQ(v.size(), 1001u);
  EXPECT_EQ(v.capacity(), 2000u);
  EXPECT_EQ(v[1000], 0u);
  GrowTo(v, 10, 1000);  // never shrinks
  EXPECT_EQ(v.size(), 1001u);
}

}  // namespace
}  // namespace tallyd::aggregator
