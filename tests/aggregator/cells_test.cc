// Etsy statsd 0.9.0's timer numbers (test/process_metrics_tests.js) and the exact/sketch switch.
#include "aggregator/cells.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

namespace tallyd::aggregator {
namespace {

std::vector<PercentileSpec> Specs(std::vector<double> ps) {
  std::vector<PercentileSpec> specs;
  for (double p : ps) specs.push_back(MakePercentileSpec(p));
  return specs;
}

SampleSummary Summarize(const std::vector<double>& values, std::vector<double> ps,
                        double weight = 1, absl::Duration interval = absl::Milliseconds(100)) {
  SampleCell cell;
  for (double v : values) cell.Add(v, weight, 8192, 0.01);
  return SummarizeSamples(cell, Specs(ps), interval, false, 0.01);
}

struct EtsyCase {
  const char* name;
  std::vector<double> values;
  std::vector<double> percentiles;
  double std, upper, lower, count, count_ps, sum, mean, median;
};

class EtsyTimerTest : public testing::TestWithParam<EtsyCase> {};

TEST_P(EtsyTimerTest, MatchesEtsyStats) {
  const EtsyCase& c = GetParam();
  SampleSummary s = Summarize(c.values, c.percentiles);
  EXPECT_DOUBLE_EQ(s.std, c.std);
  EXPECT_EQ(s.upper, c.upper);
  EXPECT_EQ(s.lower, c.lower);
  EXPECT_EQ(s.count, c.count);
  EXPECT_DOUBLE_EQ(s.count_ps, c.count_ps);
  EXPECT_EQ(s.sum, c.sum);
  EXPECT_EQ(s.mean, c.mean);
  EXPECT_EQ(s.median, c.median);
}

INSTANTIATE_TEST_SUITE_P(
    ProcessMetrics, EtsyTimerTest,
    testing::Values(
        EtsyCase{"single", {100}, {}, 0, 100, 100, 1, 10, 100, 100, 100},
        EtsyCase{
            "multiple", {100, 200, 300}, {}, 81.64965809277261, 300, 100, 3, 30, 600, 200, 200},
        EtsyCase{
            "even", {300, 200, 400, 100}, {}, std::sqrt(12500.0), 400, 100, 4, 40, 1000, 250, 250}),
    [](const auto& info) { return std::string(info.param.name); });

struct PercentileCase {
  const char* name;
  std::vector<double> values;
  double p;
  bool present;
  double count, mean, bound, sum;
};

class EtsyPercentileTest : public testing::TestWithParam<PercentileCase> {};

TEST_P(EtsyPercentileTest, MatchesEtsyPercentiles) {
  const PercentileCase& c = GetParam();
  SampleSummary s = Summarize(c.values, {c.p});
  ASSERT_EQ(s.percentiles.size(), 1u);
  const PercentileValue& pv = s.percentiles[0];
  ASSERT_EQ(pv.present, c.present);
  if (!c.present) return;
  EXPECT_EQ(pv.count, c.count);
  EXPECT_EQ(pv.mean, c.mean);
  EXPECT_EQ(pv.bound, c.bound);
  EXPECT_EQ(pv.sum, c.sum);
}

INSTANTIATE_TEST_SUITE_P(
    ProcessMetrics, EtsyPercentileTest,
    testing::Values(PercentileCase{"single90", {100}, 90, true, 1, 100, 100, 100},
                    PercentileCase{"single80", {100}, 80, true, 1, 100, 100, 100},
                    PercentileCase{"multiple90", {100, 200, 300}, 90, true, 3, 200, 300, 600},
                    PercentileCase{"multiple80", {100, 200, 300}, 80, true, 2, 150, 200, 300},
                    PercentileCase{"singleTop10", {100}, -10, true, 1, 100, 100, 100},
                    PercentileCase{"multipleTop20",
                                   {10, 10, 10, 10, 10, 10, 10, 10, 100, 200},
                                   -20,
                                   true,
                                   2,
                                   150,
                                   100,
                                   300},
                    // k = round(0.1 * 4) = 0: Etsy leaves the percentile out.
                    PercentileCase{"roundsToZero", {1, 2, 3, 4}, 10, false, 0, 0, 0, 0},
                    // k = round(0.5 * 5) = round(2.5) = 3 (halves round up, as Math.round).
                    PercentileCase{"halfRoundsUp", {5, 4, 3, 2, 1}, 50, true, 3, 2, 3, 6},
                    PercentileCase{
                        "fractional", {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99.9, true, 10, 5.5, 10, 55},
                    PercentileCase{"top100", {1, 2, 3}, -100, true, 3, 2, 1, 6}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(SampleCellTest, SampleRateWeightsCountOnly) {
  // Etsy timers_sampled_times: three samples sent at a rate that makes count 50.
  SampleSummary s = Summarize({100, 200, 300}, {90, 80}, 50.0 / 3);
  EXPECT_DOUBLE_EQ(s.count, 50);
  EXPECT_DOUBLE_EQ(s.count_ps, 500);
  EXPECT_EQ(s.samples, 3u);
  EXPECT_EQ(s.percentiles[0].mean, 200);
  EXPECT_EQ(s.percentiles[0].bound, 300);
  EXPECT_EQ(s.percentiles[1].sum, 300);
  EXPECT_EQ(s.mean, 200);
}

TEST(SampleCellTest, SumSquaresAndStd) {
  SampleSummary s = Summarize({1, 2, 3, 4}, {50});
  EXPECT_EQ(s.sum_squares, 30);
  EXPECT_EQ(s.percentiles[0].sum_squares, 5);
  EXPECT_DOUBLE_EQ(s.std, std::sqrt(1.25));
}

TEST(PercentileSuffixTest, EtsyNames) {
  EXPECT_EQ(PercentileSuffix(90), "90");
  EXPECT_EQ(PercentileSuffix(99.9), "99_9");
  EXPECT_EQ(PercentileSuffix(-10), "top10");
  EXPECT_EQ(PercentileSuffix(0.5), "0_5");
  PercentileSpec top = MakePercentileSpec(-10);
  EXPECT_EQ(top.bound_name, "lower_top10");
  EXPECT_EQ(top.sum_squares_name, "sum_squares_top10");
  EXPECT_EQ(MakePercentileSpec(99.9).bound_name, "upper_99_9");
}

// Property: in exact mode every stat equals a sort-based reference.
TEST(SampleCellTest, ExactPercentilesEqualSortReference) {
  std::mt19937_64 rng(42);
  std::vector<double> ps = {50, 90, 95, 99, 99.9, -10, 12.5};
  for (int round = 0; round < 200; ++round) {
    size_t n = 1 + rng() % 3000;
    std::vector<double> values(n);
    std::lognormal_distribution<double> dist(3, 1.5);
    for (double& v : values) v = std::round(dist(rng) * 100) / 100;
    SampleSummary s = Summarize(values, ps);
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(s.lower, sorted.front());
    EXPECT_EQ(s.upper, sorted.back());
    EXPECT_EQ(s.median, n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2);
    EXPECT_TRUE(s.distribution.exact());
    EXPECT_EQ(s.distribution.sorted_samples(), sorted);
    for (size_t i = 0; i < ps.size(); ++i) {
      size_t k = static_cast<size_t>(std::floor(std::abs(ps[i]) / 100 * n + 0.5));
      if (n == 1) k = 1;
      ASSERT_EQ(s.percentiles[i].present, k != 0);
      if (k == 0) continue;
      EXPECT_EQ(s.percentiles[i].count, k);
      EXPECT_EQ(s.percentiles[i].bound, ps[i] > 0 ? sorted[k - 1] : sorted[n - k]);
      double sum = 0;
      for (size_t j = 0; j < k; ++j) sum += ps[i] > 0 ? sorted[j] : sorted[n - 1 - j];
      EXPECT_NEAR(s.percentiles[i].sum, sum, 1e-9 * std::abs(sum));
    }
  }
}

TEST(SampleCellTest, SwitchesToSketchPastExactLimitKeepingExactAggregates) {
  SampleCell cell;
  double sum = 0;
  for (int i = 1; i <= 100; ++i) {
    cell.Add(i, 1, 10, 0.01);
    sum += i;
  }
  EXPECT_TRUE(cell.sketched);
  EXPECT_TRUE(cell.samples.empty());
  SampleSummary s = SummarizeSamples(cell, Specs({90}), absl::Seconds(1), true, 0.01);
  EXPECT_EQ(s.samples, 100u);
  EXPECT_EQ(s.sum, sum);
  EXPECT_EQ(s.lower, 1);
  EXPECT_EQ(s.upper, 100);
  EXPECT_FALSE(s.distribution.exact());
  ASSERT_NE(s.sketch, nullptr);
  EXPECT_NEAR(s.percentiles[0].bound, 90, 0.9);
  EXPECT_NEAR(s.median, 50.5, 0.51);
}

TEST(SampleCellTest, MergeBeyondExactLimitConvertsToSketch) {
  SampleCell a, b;
  for (int i = 0; i < 8; ++i) a.Add(i + 1, 1, 10, 0.01);
  for (int i = 0; i < 8; ++i) b.Add(i + 9, 1, 10, 0.01);
  EXPECT_FALSE(a.sketched);
  a.MergeFrom(b, 10, 0.01);
  EXPECT_TRUE(a.sketched);
  EXPECT_EQ(a.n, 16u);
  EXPECT_EQ(a.sketch->count(), 16u);
  EXPECT_EQ(a.max, 16);
}

TEST(SetCellTest, ExactThenHyperLogLog) {
  SetCell cell;
  for (uint64_t i = 0; i < 100; ++i) cell.Add(i * 7919, 1000);
  for (uint64_t i = 0; i < 100; ++i) cell.Add(i * 7919, 1000);
  EXPECT_EQ(cell.Count(), 100);
  EXPECT_FALSE(cell.sketched);
  for (uint64_t i = 0; i < 5000; ++i) cell.Add(i * 7919, 1000);
  EXPECT_TRUE(cell.sketched);
  EXPECT_NEAR(cell.Count(), 5000, 100);
  SetCell other;
  for (uint64_t i = 5000; i < 5100; ++i) other.Add(i * 7919, 1000);
  cell.MergeFrom(other, 1000);
  EXPECT_NEAR(cell.Count(), 5100, 102);
  cell.Reset();
  EXPECT_EQ(cell.Count(), 0);
}

// A busy set keeps its exact table across intervals (Reset) and across the switch to HyperLogLog,
// so it does not re-grow, allocating, every interval.
TEST(SetCellTest, ResetKeepsTheExactTable) {
  SetCell cell;
  for (uint64_t i = 0; i < 3000; ++i) cell.Add(i * 7919, 4096);
  const size_t capacity = cell.exact.capacity();
  ASSERT_GT(capacity, 127u);  // above the size where Abseil's clear() frees the table
  cell.Reset();
  EXPECT_EQ(cell.Count(), 0);
  EXPECT_EQ(cell.exact.capacity(), capacity);
  // The next interval's values fit without growing, and counting stays exact.
  for (uint64_t i = 0; i < 3000; ++i) cell.Add(i * 104729 + 1, 4096);
  EXPECT_EQ(cell.Count(), 3000);
  EXPECT_EQ(cell.exact.capacity(), capacity);
  for (uint64_t i = 0; i < 2000; ++i) cell.Add(i * 31 + 7, 4096);  // past the limit: HLL
  EXPECT_TRUE(cell.sketched);
  EXPECT_TRUE(cell.exact.empty());
  EXPECT_GE(cell.exact.capacity(), capacity);
  cell.Reset();
  EXPECT_FALSE(cell.sketched);
  cell.Add(5, 4096);
  EXPECT_EQ(cell.Count(), 1);
}

// Property: over many intervals, ValueHashSet holds exactly what a std::set of the same hashes
// holds (duplicates, the 0 hash and hashes sharing their low bits included).
TEST(ValueHashSetTest, MatchesStdSetAcrossIntervals) {
  std::mt19937_64 rng(11);
  ValueHashSet set;
  for (int interval = 0; interval < 20; ++interval) {
    std::set<uint64_t> reference;
    const int adds = static_cast<int>(rng() % 3000);
    for (int i = 0; i < adds; ++i) {
      uint64_t h = rng() % 4 == 0 ? (rng() % 64) << 40 : rng();  // low bits shared by some
      if (rng() % 50 == 0) h = 0;
      if (rng() % 3 == 0 && !reference.empty()) h = *reference.begin();  // a duplicate
      EXPECT_EQ(set.insert(h), reference.insert(h).second);
    }
    EXPECT_EQ(set.size(), reference.size());
    std::set<uint64_t> seen;
    set.ForEach([&](uint64_t h) { EXPECT_TRUE(seen.insert(h).second) << h; });
    EXPECT_EQ(seen, reference);
    set.clear();
    EXPECT_TRUE(set.empty());
  }
}

}  // namespace
}  // namespace tallyd::aggregator
