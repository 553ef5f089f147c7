// A gauge set on several shards in one interval (one sender's datagrams spread over the workers)
// ends at the value received last, whatever the order the flush side merges the shards in.
#include "gtest/gtest.h"
#include "tests/aggregator/harness.h"

namespace tallyd::aggregator {
namespace {

using protocol::MetricType;

double GaugeAfter(Harness& h) { return Find(*h.Flush(), "g", MetricType::kGauge)->value; }

TEST(GaugeMergeTest, TheValueReceivedLastWinsAcrossShards) {
  Harness h({}, 2);
  // Shard 1 is merged after shard 0, but shard 0's value came later.
  h.shard(0)->set_receive_time(200);
  h.Send("g:2|g", 0);
  h.shard(1)->set_receive_time(100);
  h.Send("g:1|g", 1);
  EXPECT_EQ(GaugeAfter(h), 2);
  // The other way round, and a shard's later line of the same batch wins within it.
  h.shard(0)->set_receive_time(300);
  h.Send("g:3|g\ng:4|g", 0);
  h.shard(1)->set_receive_time(400);
  h.Send("g:5|g", 1);
  EXPECT_EQ(GaugeAfter(h), 5);
  // An idle interval re-reports the last value.
  EXPECT_EQ(GaugeAfter(h), 5);
}

TEST(GaugeMergeTest, EtsyDeltasOfAShardWithoutValueApplyOnTheNewestValue) {
  Options o;
  o.gauge_mode = GaugeMode::kEtsy;
  Harness h(o, 3);
  h.shard(0)->set_receive_time(100);
  h.Send("g:+4|g", 0);  // merged before the value it applies to
  h.shard(1)->set_receive_time(300);
  h.Send("g:10|g\ng:+1|g", 1);
  h.shard(2)->set_receive_time(200);
  h.Send("g:50|g", 2);  // older than shard 1's value: superseded
  EXPECT_EQ(GaugeAfter(h), 15);
  h.Send("g:-5|g", 2);
  EXPECT_EQ(GaugeAfter(h), 10);
}

}  // namespace
}  // namespace tallyd::aggregator
