// Shard::AddBatch must equal Shard::Add per line in order: same series (and creation order, which
// the flush side's series ids reflect), values, timestamped points, caps and counters. Random
// mixed input (all types, multi-value lines, sample rates, timestamps, Etsy gauge deltas, raw tag
// spellings that alias one series, new series in the middle of a batch) is fed to two shards, one
// line at a time and in random-sized batches, and every flush's snapshot is compared.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "aggregator/aggregator.h"
#include "aggregator/shard.h"
#include "protocol/parser.h"

namespace tallyd::aggregator {
namespace {

using protocol::MetricLine;

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

// Everything the flush reports, as sorted text (series are unordered in a snapshot).
std::string Render(const Snapshot& s) {
  std::vector<std::string> rows;
  for (const SeriesValue& v : s.series) {
    std::string row = std::to_string(v.key->id()) + " " +
                      std::to_string(static_cast<int>(v.key->type())) + " " +
                      std::string(v.key->name()) + " #" + std::string(v.key->tags()) +
                      (v.idle ? " idle " : " ") + Num(v.value) + " " + Num(s.RateOf(v));
    if (const SampleSummary* m = s.SummaryOf(v)) {
      row += " n=" + std::to_string(m->samples) + " count=" + Num(m->count) +
             " sum=" + Num(m->sum) + " sq=" + Num(m->sum_squares) + " lo=" + Num(m->lower) +
             " hi=" + Num(m->upper) + " med=" + Num(m->median);
    }
    rows.push_back(std::move(row));
  }
  std::sort(rows.begin(), rows.end());
  std::string out;
  for (const std::string& r : rows) out += r + "\n";
  for (const TimedPoint& p : s.timestamped_points) {
    out += "point " + std::to_string(p.key->id()) + " " + std::string(p.key->name()) + " #" +
           std::string(p.key->tags()) + " " + Num(p.value) + " @" + std::to_string(p.timestamp) +
           "\n";
  }
  const FlushStats& st = s.stats;
  for (uint64_t a : st.series_active) out += "active " + std::to_string(a) + "\n";
  out += "created " + std::to_string(st.series_created) + " expired " +
         std::to_string(st.series_expired) + " dropped " + std::to_string(st.series_dropped) +
         " points_dropped " + std::to_string(st.timestamped_points_dropped) + " per_metric " +
         std::to_string(st.series_dropped_per_metric) + " overflows " +
         std::to_string(st.overflows) + "\n";
  for (const NameDrops& d : st.series_dropped_top_names) {
    out += "top " + d.name + " " + std::to_string(d.dropped) + "\n";
  }
  return out;
}

std::string RandomLine(std::mt19937_64& rng, int names) {
  static const char* kTypes[] = {"c", "c", "c", "g", "g", "ms", "h", "d", "s"};
  static const char* kTags[] = {"", "a:1", "a:1,b:2", "b:2,a:1", "a:1,b:2,b:2", "host:x,env:dev"};
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  const std::string type = kTypes[pick(9)];
  // A few names are not UTF-8 (refused as invalid_utf8).
  std::string line = (pick(40) == 0 ? "m\xff." : "m.") + std::to_string(pick(names)) + ":";
  const int values = pick(5) == 0 ? 1 + pick(4) : 1;
  for (int i = 0; i < values; ++i) {
    if (i > 0) line += ":";
    if (type == "s") {
      line += "u" + std::to_string(pick(20));
    } else {
      if (type == "g" && pick(3) == 0) line += pick(2) ? "+" : "-";
      if (pick(100) == 0) {
        line += "4e307";  // a few of these overflow sums (even weighted by 1/0.25)
      } else {
        line += std::to_string(pick(1000)) + "." + std::to_string(pick(10));
      }
    }
  }
  line += "|" + type;
  if (type != "s" && type != "g" && pick(8) == 0) line += "|@0.25";
  const char* tags = kTags[pick(6)];
  if (*tags != '\0') line += std::string("|#") + tags;
  if (pick(10) == 0) line += "|T" + std::to_string(1'700'000'000 + pick(100));
  return line;
}

struct Case {
  Options options;
  int names = 200;
  int rounds = 4;
  size_t lines_per_round = 5000;
  int fillers = 10'000;  // more than Shard::kBatchMinKeys
};

void ExpectBatchEqualsSequential(const Case& c, uint64_t seed) {
  Aggregator seq_aggregator(c.options, absl::Seconds(10));
  Aggregator batch_aggregator(c.options, absl::Seconds(10));
  Shard* seq = seq_aggregator.AddShard();
  Shard* batch = batch_aggregator.AddShard();
  std::mt19937_64 rng(seed);
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  // AddBatch only groups lookups once the table is large (Shard::kBatchMinKeys): fill it first,
  // with series that stay live (a long ttl) or that are refreshed every round.
  std::vector<std::string> filler_text;
  for (int i = 0; i < c.fillers; ++i) filler_text.push_back("filler." + std::to_string(i) + ":1|c");
  std::vector<MetricLine> fillers;
  for (const std::string& t : filler_text) fillers.push_back(protocol::ParseLine(t).metric);
  for (int round = 0; round < c.rounds; ++round) {
    for (const MetricLine& line : fillers) seq->Add(line);
    for (const MetricLine& line : fillers) batch->Add(line);
    std::vector<std::string> text;
    for (size_t i = 0; i < c.lines_per_round; ++i) text.push_back(RandomLine(rng, c.names));
    std::vector<MetricLine> lines;
    for (const std::string& t : text) {
      const protocol::ParsedLine parsed = protocol::ParseLine(t);
      ASSERT_EQ(parsed.kind, protocol::LineKind::kMetric) << t;
      lines.push_back(parsed.metric);
    }
    size_t seq_invalid = 0, batch_invalid = 0, batch_reported = 0;
    for (const MetricLine& line : lines) seq_invalid += !seq->Add(line);
    for (size_t at = 0; at < lines.size();) {
      const size_t n = std::min<size_t>(lines.size() - at, rng() % 150);  // 0 too; > 64 too
      batch_invalid +=
          batch->AddBatch(lines.data() + at, n, [&](const MetricLine&) { ++batch_reported; });
      at += n;
    }
    ASSERT_EQ(seq->series_count(), batch->series_count());
    ASSERT_GT(seq_invalid, 0u);
    ASSERT_EQ(seq_invalid, batch_invalid);
    ASSERT_EQ(batch_reported, batch_invalid);
    now += absl::Seconds(10);
    ASSERT_TRUE(seq->Rotate(now));
    ASSERT_TRUE(batch->Rotate(now));
    const std::string a = Render(*seq_aggregator.Flush(now, now));
    const std::string b = Render(*batch_aggregator.Flush(now, now));
    ASSERT_EQ(a, b) << "round " << round << " seed " << seed;
  }
}

TEST(ShardBatchTest, EqualsSequentialAdd) {
  for (uint64_t seed = 1; seed <= 5; ++seed) ExpectBatchEqualsSequential(Case{}, seed);
}

TEST(ShardBatchTest, EqualsSequentialAddEtsyGauges) {
  Case c;
  c.options.gauge_mode = GaugeMode::kEtsy;
  for (uint64_t seed = 10; seed <= 12; ++seed) ExpectBatchEqualsSequential(c, seed);
}

TEST(ShardBatchTest, EqualsSequentialAddAtCaps) {
  Case c;
  c.options.max_series = 10'150;  // fillers + 150, fewer than the keys: lines dropped
  c.options.max_timestamped_points = 100;
  c.options.exact_samples = 4;  // sketches
  c.options.exact_set_size = 3;
  for (uint64_t seed = 20; seed <= 22; ++seed) ExpectBatchEqualsSequential(c, seed);
}

TEST(ShardBatchTest, EqualsSequentialAddAtPerMetricCap) {
  Case c;
  c.options.max_series_per_metric = 2;  // of a name's 4 tag sets (and types), 2 get in
  c.options.series_ttl = absl::Seconds(10);
  c.rounds = 6;
  for (uint64_t seed = 25; seed <= 26; ++seed) ExpectBatchEqualsSequential(c, seed);
}

TEST(ShardBatchTest, EqualsSequentialAddWithIdleEviction) {
  Case c;
  c.options.series_ttl = absl::Seconds(10);
  c.names = 2000;  // most series idle next round: evicted, ids and slots reused
  c.rounds = 6;
  c.lines_per_round = 3000;
  for (uint64_t seed = 30; seed <= 31; ++seed) ExpectBatchEqualsSequential(c, seed);
}

TEST(ShardBatchTest, EqualsSequentialAddSmallTable) {
  Case c;
  c.fillers = 0;  // plain Add() per line at first, grouped lookups once the table grew
  c.names = 2000;
  for (uint64_t seed = 40; seed <= 41; ++seed) ExpectBatchEqualsSequential(c, seed);
}

TEST(ShardBatchTest, EmptyAndSingle) {
  Aggregator aggregator({}, absl::Seconds(10));
  Shard* shard = aggregator.AddShard();
  shard->AddBatch(nullptr, 0);
  const protocol::ParsedLine parsed = protocol::ParseLine("x:2|c|#a:1");
  shard->AddBatch(&parsed.metric, 1);
  shard->AddBatch(&parsed.metric, 1);
  EXPECT_EQ(shard->series_count(), 1u);
  const absl::Time now = absl::FromUnixSeconds(100);
  ASSERT_TRUE(shard->Rotate(now));
  auto s = aggregator.Flush(now, now);
  ASSERT_EQ(s->series.size(), 1u);
  EXPECT_EQ(s->series[0].value, 4);
}

}  // namespace
}  // namespace tallyd::aggregator
