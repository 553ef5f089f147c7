// DDSketch: every quantile within the relative accuracy of the exact one, bounded memory, merges.
#include "aggregator/sketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

namespace tallyd::aggregator {
namespace {

void ExpectWithinAccuracy(const DDSketch& sketch, std::vector<double> values, double accuracy) {
  std::sort(values.begin(), values.end());
  ASSERT_EQ(sketch.count(), values.size());
  const size_t n = values.size();
  for (double q : {0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0}) {
    size_t rank = q == 0 ? 0 : static_cast<size_t>(std::ceil(q * n)) - 1;
    double exact = values[rank];
    EXPECT_LE(std::abs(sketch.Quantile(q) - exact), accuracy * std::abs(exact))
        << "q=" << q << " exact=" << exact;
  }
  for (size_t rank = 0; rank < n; rank += std::max<size_t>(1, n / 997)) {
    EXPECT_LE(std::abs(sketch.ValueAtRank(rank) - values[rank]), accuracy * std::abs(values[rank]));
  }
  EXPECT_EQ(sketch.min(), values.front());
  EXPECT_EQ(sketch.max(), values.back());
}

struct Distribution {
  const char* name;
  std::function<double(std::mt19937_64&)> draw;
};

class SketchAccuracyTest : public testing::TestWithParam<Distribution> {};

TEST_P(SketchAccuracyTest, QuantilesWithinAccuracyAlsoWhenMergedAcrossShards) {
  std::mt19937_64 rng(7);
  for (double accuracy : {0.01, 0.02}) {
    std::vector<double> all;
    DDSketch merged(accuracy);
    for (int shard = 0; shard < 4; ++shard) {
      DDSketch part(accuracy);
      for (int i = 0; i < 50'000; ++i) {
        double v = GetParam().draw(rng);
        part.Add(v);
        all.push_back(v);
      }
      merged.Merge(part);
    }
    ExpectWithinAccuracy(merged, all, accuracy);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Skewed, SketchAccuracyTest,
    testing::Values(
        Distribution{"lognormal",
                     [](std::mt19937_64& r) { return std::lognormal_distribution<>(2, 2)(r); }},
        Distribution{"pareto",
                     [](std::mt19937_64& r) {
                       return 1 / std::pow(std::uniform_real_distribution<>(1e-9, 1)(r), 1 / 1.2);
                     }},
        Distribution{
            "uniform",
            [](std::mt19937_64& r) { return std::uniform_real_distribution<>(0, 1000)(r); }},
        Distribution{"signed",
                     [](std::mt19937_64& r) {
                       double v = std::lognormal_distribution<>(1, 1)(r);
                       return r() % 3 == 0 ? -v : (r() % 50 == 0 ? 0 : v);
                     }}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(SketchTest, MemoryBoundedForHugeRange) {
  DDSketch sketch(0.01);
  std::mt19937_64 rng(1);
  for (int i = 0; i < 1'000'000; ++i) {
    sketch.Add(std::exp(std::uniform_real_distribution<>(-300, 300)(rng)));
  }
  EXPECT_LE(sketch.bin_count(), static_cast<size_t>(DDSketch::kMaxBins));
  EXPECT_EQ(sketch.count(), 1'000'000u);
  // The largest values stay accurate; only the collapsed low end degrades.
  EXPECT_EQ(sketch.Quantile(1), sketch.max());
}

TEST(SketchTest, CountAtOrBelowAndClear) {
  DDSketch sketch(0.01);
  for (int i = 1; i <= 1000; ++i) sketch.Add(i);
  EXPECT_EQ(sketch.CountAtOrBelow(0.5), 0u);
  EXPECT_EQ(sketch.CountAtOrBelow(1000), 1000u);
  EXPECT_NEAR(static_cast<double>(sketch.CountAtOrBelow(500)), 500, 10);
  sketch.Clear();
  EXPECT_TRUE(sketch.empty());
  EXPECT_TRUE(std::isnan(sketch.Quantile(0.5)));
  sketch.Add(-3);
  EXPECT_EQ(sketch.Quantile(0.5), -3);
}

TEST(SketchTest, MergesDifferentAccuracies) {
  DDSketch a(0.01), b(0.02);
  for (int i = 1; i <= 100; ++i) a.Add(i);
  for (int i = 101; i <= 200; ++i) b.Add(i);
  a.Merge(b);
  EXPECT_EQ(a.count(), 200u);
  EXPECT_EQ(a.max(), 200);
  EXPECT_NEAR(a.Quantile(0.75), 150, 150 * 0.03);
}

}  // namespace
}  // namespace tallyd::aggregator
