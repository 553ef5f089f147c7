#include "backends/console.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "aggregator/snapshot.h"
#include "tests/backends/snapshot_fixtures.h"

namespace tallyd::backends {
namespace {

using aggregator::MetricType;
using aggregator::SeriesKey;
using aggregator::SeriesKeyRef;
using aggregator::Snapshot;
using fixtures::BaseSnapshot;
using fixtures::Key;
using fixtures::OneToFour;

Flush MakeFlush(Snapshot snapshot) {
  return Flush{std::make_shared<const Snapshot>(std::move(snapshot)), nullptr};
}

TEST(ConsoleFormatTest, CounterGaugeAndSet) {
  Snapshot s = BaseSnapshot();
  s.series.push_back({.key = Key(1, MetricType::kCounter, "req.count", "a:1,env"), .value = 3});
  s.series.push_back({.key = Key(2, MetricType::kGauge, "temp"), .value = -1.5});
  s.series.push_back({.key = Key(3, MetricType::kSet, "users", "k:v:w"), .value = 4});
  s.series.push_back({.key = Key(4, MetricType::kSet, "idle.users"), .value = 0, .idle = true});
  s.series.push_back({.key = Key(5, MetricType::kCounter, "idle.count"), .value = 0, .idle = true});
  EXPECT_EQ(
      FormatConsole(MakeFlush(std::move(s))),
      R"({"name":"req.count","type":"counter","tags":["a:1","env"],"ts":1700000000,"values":{"count":3,"rate":0.3}}
{"name":"temp","type":"gauge","tags":[],"ts":1700000000,"values":{"value":-1.5}}
{"name":"users","type":"set","tags":["k:v:w"],"ts":1700000000,"values":{"count":4}}
{"name":"idle.count","type":"counter","tags":[],"ts":1700000000,"values":{"count":0,"rate":0}}
)");
}

TEST(ConsoleFormatTest, TimerHasEtsyStatsAndPresentPercentilesOnly) {
  Snapshot s = BaseSnapshot();
  s.percentiles = {aggregator::MakePercentileSpec(90), aggregator::MakePercentileSpec(10),
                   aggregator::MakePercentileSpec(-50)};
  s.summaries.push_back(
      OneToFour(0.5, {{true, 4, 2.5, 4, 10, 30}, {false}, {true, 2, 3.5, 3, 7, 25}}));
  s.series.push_back(
      {.key = Key(1, MetricType::kTimer, "db.query", "db:main"), .value = 0, .summary = 0});
  s.series.push_back({.key = Key(2, MetricType::kHistogram, "idle.hist"),
                      .value = 0,
                      .summary = -1,
                      .idle = true});
  EXPECT_EQ(
      FormatConsole(MakeFlush(std::move(s))),
      R"({"name":"db.query","type":"timer","tags":["db:main"],"ts":1700000000,"values":{"count":8,"count_ps":0.8,"sum":10,"sum_squares":30,"lower":1,"upper":4,"mean":2.5,"median":2.5,"std":1.118033988749895,"count_90":4,"mean_90":2.5,"upper_90":4,"sum_90":10,"sum_squares_90":30,"count_top50":2,"mean_top50":3.5,"lower_top50":3,"sum_top50":7,"sum_squares_top50":25}}
)");
}

TEST(ConsoleFormatTest, EscapesStrings) {
  Snapshot s = BaseSnapshot();
  s.series.push_back(
      {.key = Key(1, MetricType::kGauge, "we\"ird\\name\n\x01", "caf\xc3\xa9:\t"), .value = 1e21});
  EXPECT_EQ(FormatConsole(MakeFlush(std::move(s))),
            "{\"name\":\"we\\\"ird\\\\name\\n\\u0001\",\"type\":\"gauge\",\"tags\":[\"caf\xc3\xa9:"
            "\\t\"],\"ts\":1700000000,\"values\":{\"value\":1e+21}}\n");
}

TEST(ConsoleFormatTest, TimestampedPointsEventsAndServiceChecks) {
  Snapshot s = BaseSnapshot();
  s.timestamped_points.push_back({Key(7, MetricType::kCounter, "late.count"), 2, 1699999990});
  s.timestamped_points.push_back(
      {Key(8, MetricType::kGauge, "late.gauge", "x:y"), 0.25, 1699999991});
  s.timestamped_points.push_back({Key(9, MetricType::kTimer, "late.timer"), 12, 1699999992});
  aggregator::EventRecord event;
  event.title = "Deploy";
  event.text = "line1\nline2";
  event.tags = "env:prod";
  event.alert_type = "info";
  s.events.push_back(event);
  aggregator::ServiceCheckRecord check;
  check.name = "db.up";
  check.status = 2;
  check.timestamp = 1699999000;
  check.message = "down";
  s.service_checks.push_back(check);
  EXPECT_EQ(FormatConsole(MakeFlush(std::move(s))),
            R"({"name":"late.count","type":"counter","tags":[],"ts":1699999990,"values":{"count":2}}
{"name":"late.gauge","type":"gauge","tags":["x:y"],"ts":1699999991,"values":{"value":0.25}}
{"name":"late.timer","type":"timer","tags":[],"ts":1699999992,"values":{"value":12}}
{"type":"event","title":"Deploy","text":"line1\nline2","tags":["env:prod"],"ts":1700000000,"alert_type":"info"}
{"type":"service_check","name":"db.up","status":2,"tags":[],"ts":1699999000,"message":"down"}
)");
}

TEST(ConsoleFormatTest, SelfMetricsOnlyWhenAsked) {
  auto self = std::make_shared<std::vector<SelfMetric>>();
  self->push_back({"tallyd_packets_received_total",
                   "",
                   SelfMetric::Kind::kCounter,
                   {{"transport", "udp"}},
                   12});
  Flush flush{std::make_shared<const Snapshot>(BaseSnapshot()), self};
  EXPECT_EQ(FormatConsole(flush), "");
  EXPECT_EQ(
      FormatConsole(flush, {.self_metrics = true}),
      R"({"name":"tallyd_packets_received_total","type":"counter","tags":["transport:udp"],"ts":1700000000,"values":{"value":12}}
)");
}

TEST(ConsoleBackendTest, WritesToItsStreamAndForwardsEvents) {
  std::ostringstream out;
  ConsoleBackend backend({}, &out);
  EXPECT_TRUE(backend.forwards_events());
  EXPECT_EQ(backend.name(), "console");
  Snapshot s = BaseSnapshot();
  s.series.push_back({.key = Key(1, MetricType::kGauge, "g"), .value = 2});
  Delivery delivery = backend.Deliver(MakeFlush(std::move(s)));
  EXPECT_EQ(delivery.outcome, Delivery::Outcome::kDelivered);
  EXPECT_EQ(out.str(),
            R"({"name":"g","type":"gauge","tags":[],"ts":1700000000,"values":{"value":2}}
)");
}

// JSON has no NaN or infinity: such a value is left out of "values" and counted.
TEST(ConsoleBackendTest, NonFiniteValuesAreLeftOutAndCounted) {
  std::ostringstream out;
  ConsoleBackend backend({}, &out);
  Snapshot s = BaseSnapshot();
  const double inf = std::numeric_limits<double>::infinity();
  s.series.push_back({.key = Key(1, MetricType::kGauge, "g"), .value = std::nan("")});
  s.series.push_back({.key = Key(2, MetricType::kCounter, "c"), .value = inf});
  s.timestamped_points.push_back({Key(3, MetricType::kGauge, "p"), -inf, 1699999990});
  EXPECT_EQ(backend.Deliver(MakeFlush(std::move(s))).outcome, Delivery::Outcome::kDelivered);
  EXPECT_EQ(out.str(),
            R"({"name":"g","type":"gauge","tags":[],"ts":1700000000,"values":{}}
{"name":"c","type":"counter","tags":[],"ts":1700000000,"values":{}}
{"name":"p","type":"gauge","tags":[],"ts":1699999990,"values":{}}
)");
  EXPECT_EQ(backend.non_finite_values(), 4u);  // g's value, c's count and rate, p's value
}

TEST(ConsoleBackendTest, FailedStreamIsRejected) {
  std::ostringstream out;
  out.setstate(std::ios::badbit);
  ConsoleBackend backend({}, &out);
  Snapshot s = BaseSnapshot();
  s.series.push_back({.key = Key(1, MetricType::kGauge, "g"), .value = 2});
  EXPECT_EQ(backend.Deliver(MakeFlush(std::move(s))).outcome, Delivery::Outcome::kRejected);
}

}  // namespace
}  // namespace tallyd::backends
