// Golden bodies for every Datadog endpoint, and the splitting of large flushes.
#include "backends/datadog_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "aggregator/snapshot.h"
#include "tests/backends/test_json.h"

namespace tallyd::backends {
namespace {

using aggregator::MetricType;
using aggregator::SampleSummary;
using aggregator::SeriesKey;
using aggregator::SeriesKeyRef;
using aggregator::SeriesValue;
using aggregator::Snapshot;
using aggregator::ValueDistribution;
using ::testing::ElementsAre;
using testing::Json;
using testing::ParseJson;

using KeyPtr = SeriesKeyRef;

constexpr int64_t kTs = 1700000000;

KeyPtr Key(MetricType type, std::string name, std::string tags = "") {
  static uint64_t next_id = 1;
  return SeriesKey::Make(next_id++, type, name, tags);
}

std::shared_ptr<Snapshot> NewSnapshot() {
  auto s = std::make_shared<Snapshot>();
  s->sequence = 1;
  s->flush_unix_seconds = kTs;
  s->flush_time = absl::FromUnixSeconds(kTs);
  s->interval = absl::Seconds(10);
  return s;
}

void AddValue(Snapshot& s, MetricType type, std::string name, std::string tags, double value,
              bool idle = false) {
  SeriesValue v;
  v.key = Key(type, std::move(name), std::move(tags));
  v.value = value;
  v.idle = idle;
  s.series.push_back(v);
}

// A timer/histogram/distribution summary of `samples` (sample rate `rate` for all).
void AddSamples(Snapshot& s, MetricType type, std::string name, std::string tags,
                std::vector<double> samples, double rate = 1) {
  std::sort(samples.begin(), samples.end());
  SampleSummary summary;
  double n = static_cast<double>(samples.size());
  summary.samples = samples.size();
  summary.count = n / rate;
  summary.count_ps = summary.count / 10;
  for (double x : samples) summary.sum += x;
  summary.lower = samples.front();
  summary.upper = samples.back();
  summary.mean = summary.sum / n;
  size_t mid = samples.size() / 2;
  summary.median = samples.size() % 2 ? samples[mid] : (samples[mid - 1] + samples[mid]) / 2;
  summary.distribution = ValueDistribution::Exact(samples);
  s.summaries.push_back(std::move(summary));
  SeriesValue v;
  v.key = Key(type, std::move(name), std::move(tags));
  v.summary = static_cast<int32_t>(s.summaries.size() - 1);
  s.series.push_back(v);
}

DatadogFormatOptions Options() {
  DatadogFormatOptions options;
  options.host = "h1";
  return options;
}

std::vector<std::string> Bodies(const Flush& flush, const DatadogFormatOptions& options,
                                SelfMetricTotals* totals = nullptr,
                                DatadogFormatStats* stats = nullptr) {
  std::vector<std::string> out;
  for (const DatadogPayload& payload : FormatDatadog(flush, options, totals, stats)) {
    out.push_back(std::string(DatadogPath(payload.endpoint)) + " " + payload.Body());
  }
  return out;
}

TEST(DatadogFormatTest, CounterIsARatePerSecondOverTheInterval) {
  auto s = NewSnapshot();
  AddValue(*s, MetricType::kCounter, "req", "a:1,b", 30);  // rate 3 over 10 s
  EXPECT_THAT(Bodies({s, nullptr}, Options()),
              ElementsAre("/api/v2/series "
                          "{\"series\":[{\"metric\":\"req\",\"type\":2,\"interval\":10,"
                          "\"points\":[{\"timestamp\":1700000000,\"value\":3}],"
                          "\"resources\":[{\"name\":\"h1\",\"type\":\"host\"}],"
                          "\"tags\":[\"a:1\",\"b\"]}]}"));
}

TEST(DatadogFormatTest, GaugeAndSetAreGauges) {
  auto s = NewSnapshot();
  AddValue(*s, MetricType::kGauge, "temp", "", -1.5);
  AddValue(*s, MetricType::kSet, "users", "", 42);
  EXPECT_THAT(Bodies({s, nullptr}, Options()),
              ElementsAre("/api/v2/series "
                          "{\"series\":[{\"metric\":\"temp\",\"type\":3,"
                          "\"points\":[{\"timestamp\":1700000000,\"value\":-1.5}],"
                          "\"resources\":[{\"name\":\"h1\",\"type\":\"host\"}],\"tags\":[]},"
                          "{\"metric\":\"users\",\"type\":3,"
                          "\"points\":[{\"timestamp\":1700000000,\"value\":42}],"
                          "\"resources\":[{\"name\":\"h1\",\"type\":\"host\"}],\"tags\":[]}]}"));
}

TEST(DatadogFormatTest, IdleSeriesReportCountersAndGaugesOnly) {
  auto s = NewSnapshot();
  AddValue(*s, MetricType::kCounter, "idle.counter", "", 0, /*idle=*/true);
  AddValue(*s, MetricType::kGauge, "idle.gauge", "", 7, /*idle=*/true);
  AddValue(*s, MetricType::kSet, "idle.set", "", 0, /*idle=*/true);
  SeriesValue timer;
  timer.key = Key(MetricType::kTimer, "idle.timer");
  timer.idle = true;
  s->series.push_back(timer);
  // SPEC 3 (the default): an idle counter sends 0 and an idle gauge its last value until they
  // expire; idle timers and sets send nothing.
  std::vector<std::string> bodies = Bodies({s, nullptr}, Options());
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_THAT(bodies[0], ::testing::HasSubstr("\"metric\":\"idle.counter\",\"type\":2"));
  EXPECT_THAT(bodies[0],
              ::testing::HasSubstr("\"metric\":\"idle.gauge\",\"type\":3,"
                                   "\"points\":[{\"timestamp\":1700000000,\"value\":7}]"));
  EXPECT_THAT(bodies[0], ::testing::Not(::testing::HasSubstr("idle.set")));
  EXPECT_THAT(bodies[0], ::testing::Not(::testing::HasSubstr("idle.timer")));
  // As the Agent: 0 for an idle counter until it expires, nothing for the others.
  DatadogFormatOptions options = Options();
  options.resend_idle_gauges = false;
  EXPECT_THAT(Bodies({s, nullptr}, options),
              ElementsAre("/api/v2/series "
                          "{\"series\":[{\"metric\":\"idle.counter\",\"type\":2,\"interval\":10,"
                          "\"points\":[{\"timestamp\":1700000000,\"value\":0}],"
                          "\"resources\":[{\"name\":\"h1\",\"type\":\"host\"}],\"tags\":[]}]}"));
}

TEST(DatadogFormatTest, TimerAsTheAgentsHistogram) {
  auto s = NewSnapshot();
  AddSamples(*s, MetricType::kTimer, "lat", "svc:a", {10, 9, 8, 7, 6, 5, 4, 3, 2, 1});
  auto point = [](std::string metric, int type, double value) {
    std::string interval = type == 2 ? ",\"interval\":10" : "";
    char number[32];
    std::snprintf(number, sizeof(number), "%g", value);
    return "{\"metric\":\"" + metric + "\",\"type\":" + std::to_string(type) + interval +
           ",\"points\":[{\"timestamp\":1700000000,\"value\":" + number +
           "}],\"resources\":[{\"name\":\"h1\",\"type\":\"host\"}],\"tags\":[\"svc:a\"]}";
  };
  // median: rank (10-1)/2 = 4 -> 5 (the Agent's lower middle, not Etsy's 5.5);
  // 95th: rank (95*10-1)/100 = 9 -> 10; count: 10 samples / 10 s.
  EXPECT_THAT(
      Bodies({s, nullptr}, Options()),
      ElementsAre("/api/v2/series {\"series\":[" + point("lat.max", 3, 10) + "," +
                  point("lat.median", 3, 5) + "," + point("lat.avg", 3, 5.5) + "," +
                  point("lat.count", 2, 1) + "," + point("lat.95percentile", 3, 10) + "]}"));
}

TEST(DatadogFormatTest, HistogramAggregatesAndPercentilesAreConfigurable) {
  auto s = NewSnapshot();
  // Sampled at 0.5: count and sum are weighted, ranks are not.
  AddSamples(*s, MetricType::kHistogram, "size", "", {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.5);
  DatadogFormatOptions options = Options();
  options.aggregates = {DatadogAggregate::kMin, DatadogAggregate::kSum, DatadogAggregate::kCount};
  options.percentiles = {0.5, 0.99};
  std::vector<DatadogPayload> payloads = FormatDatadog({s, nullptr}, options, nullptr);
  ASSERT_EQ(payloads.size(), 1u);
  std::optional<Json> body = ParseJson(payloads[0].Body());
  ASSERT_TRUE(body.has_value());
  const Json& series = (*body)["series"];
  ASSERT_EQ(series.size(), 5u);
  std::vector<std::pair<std::string, double>> got;
  for (const Json& one : series) {
    got.emplace_back(one["metric"].get<std::string>(), one["points"][0]["value"].get<double>());
  }
  EXPECT_THAT(got, ElementsAre(std::pair<std::string, double>("size.min", 1),
                               std::pair<std::string, double>("size.sum", 110),
                               std::pair<std::string, double>("size.count", 2),
                               std::pair<std::string, double>("size.50percentile", 5),
                               std::pair<std::string, double>("size.99percentile", 10)));
  EXPECT_EQ(series[2]["type"].get<double>(), 2);
  EXPECT_EQ(series[2]["interval"].get<double>(), 10);
}

TEST(DatadogFormatTest, PercentileNamesAsTheAgent) {
  EXPECT_EQ(DatadogPercentileSuffix(0.95), ".95percentile");
  EXPECT_EQ(DatadogPercentileSuffix(0.5), ".50percentile");
  EXPECT_EQ(DatadogPercentileSuffix(0.29), ".29percentile");  // not 28: the Agent adds 0.5
  EXPECT_EQ(DatadogPercentileSuffix(0.999), ".100percentile");
}

TEST(DatadogFormatTest, HostTagSetsTheHostAndIsNotATag) {
  auto s = NewSnapshot();
  AddValue(*s, MetricType::kGauge, "g", "env:prod,host:web1", 1);
  std::vector<std::string> bodies = Bodies({s, nullptr}, Options());
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_THAT(bodies[0], ::testing::HasSubstr("\"resources\":[{\"name\":\"web1\",\"type\":"
                                              "\"host\"}],\"tags\":[\"env:prod\"]}"));
}

TEST(DatadogFormatTest, NoHostMeansNoResources) {
  auto s = NewSnapshot();
  AddValue(*s, MetricType::kGauge, "g", "", 1);
  DatadogFormatOptions options = Options();
  options.host = "";
  EXPECT_THAT(Bodies({s, nullptr}, options),
              ElementsAre("/api/v2/series {\"series\":[{\"metric\":\"g\",\"type\":3,"
                          "\"points\":[{\"timestamp\":1700000000,\"value\":1}],\"tags\":[]}]}"));
}

TEST(DatadogFormatTest, StringsAreEscaped) {
  auto s = NewSnapshot();
  AddValue(*s, MetricType::kGauge, "we\"ird\\name", "k:v\tw", 1);
  std::vector<std::string> bodies = Bodies({s, nullptr}, Options());
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_THAT(bodies[0], ::testing::HasSubstr("\"metric\":\"we\\\"ird\\\\name\""));
  EXPECT_THAT(bodies[0], ::testing::HasSubstr("\"tags\":[\"k:v\\tw\"]"));
  std::optional<Json> json = ParseJson(bodies[0].substr(bodies[0].find(' ') + 1));
  ASSERT_TRUE(json.has_value());
  EXPECT_EQ((*json)["series"][0]["metric"].get<std::string>(), "we\"ird\\name");
}

TEST(DatadogFormatTest, ExactDistributionSendsItsSamples) {
  auto s = NewSnapshot();
  AddSamples(*s, MetricType::kDistribution, "lat", "a:1", {3, 1, 2.5});
  EXPECT_THAT(Bodies({s, nullptr}, Options()),
              ElementsAre("/api/v1/distribution_points "
                          "{\"series\":[{\"metric\":\"lat\",\"points\":[[1700000000,[1,2.5,3]]],"
                          "\"tags\":[\"a:1\"],\"host\":\"h1\",\"type\":\"distribution\"}]}"));
}

TEST(DatadogFormatTest, SketchedDistributionSendsBucketValuesBoundedByTheCap) {
  auto sketch = std::make_shared<aggregator::DDSketch>(0.01);
  sketch->Add(100, 1000);
  sketch->Add(200, 3000);
  auto s = NewSnapshot();
  SampleSummary summary;
  summary.samples = 4000;
  summary.count = 4000;
  summary.distribution = ValueDistribution::Sketched(sketch);
  summary.sketch = sketch;
  s->summaries.push_back(summary);
  SeriesValue v;
  v.key = Key(MetricType::kDistribution, "d");
  v.summary = 0;
  s->series.push_back(v);

  auto values_of = [&](const DatadogFormatOptions& options, DatadogFormatStats* stats) {
    std::vector<DatadogPayload> payloads = FormatDatadog({s, nullptr}, options, nullptr, stats);
    EXPECT_EQ(payloads.size(), 1u);
    std::optional<Json> body = ParseJson(payloads.at(0).Body());
    EXPECT_TRUE(body.has_value());
    std::vector<double> values;
    for (const Json& x : (*body)["series"][0]["points"][0][1]) values.push_back(x.get<double>());
    return values;
  };
  DatadogFormatStats stats;
  std::vector<double> all = values_of(Options(), &stats);
  EXPECT_EQ(all.size(), 4000u);  // below the cap: one value per sample
  EXPECT_EQ(stats.distributions_scaled, 0u);
  EXPECT_EQ(std::count_if(all.begin(), all.end(), [](double x) { return x < 150; }), 1000);
  for (double x : all) {
    double exact = x < 150 ? 100 : 200;
    EXPECT_LE(std::abs(x - exact), 0.01 * exact);
  }

  DatadogFormatOptions capped = Options();
  capped.max_distribution_values = 400;
  std::vector<double> scaled = values_of(capped, &stats);
  EXPECT_EQ(scaled.size(), 400u);  // multiplicities scaled by 400/4000, proportions kept
  EXPECT_EQ(std::count_if(scaled.begin(), scaled.end(), [](double x) { return x < 150; }), 100);
  EXPECT_EQ(stats.distributions_scaled, 1u);
}

TEST(DatadogFormatTest, TimestampedPointsKeepTheirTime) {
  auto s = NewSnapshot();
  s->timestamped_points.push_back({Key(MetricType::kCounter, "c"), 5, 1600000000});
  s->timestamped_points.push_back({Key(MetricType::kGauge, "g"), 2.5, 1600000001});
  s->timestamped_points.push_back({Key(MetricType::kDistribution, "d", "x:y"), 7, 1600000002});
  EXPECT_THAT(Bodies({s, nullptr}, Options()),
              ElementsAre("/api/v2/series {\"series\":[{\"metric\":\"c\",\"type\":1,"
                          "\"points\":[{\"timestamp\":1600000000,\"value\":5}],"
                          "\"resources\":[{\"name\":\"h1\",\"type\":\"host\"}],\"tags\":[]},"
                          "{\"metric\":\"g\",\"type\":3,"
                          "\"points\":[{\"timestamp\":1600000001,\"value\":2.5}],"
                          "\"resources\":[{\"name\":\"h1\",\"type\":\"host\"}],\"tags\":[]}]}",
                          "/api/v1/distribution_points {\"series\":[{\"metric\":\"d\","
                          "\"points\":[[1600000002,[7]]],\"tags\":[\"x:y\"],\"host\":\"h1\","
                          "\"type\":\"distribution\"}]}"));
}

TEST(DatadogFormatTest, EventsOnePerRequestAndServiceChecksInOne) {
  auto s = NewSnapshot();
  aggregator::EventRecord deploy;
  deploy.title = "deploy";
  deploy.text = "line1\nline2";
  deploy.priority = "low";
  deploy.alert_type = "info";
  deploy.aggregation_key = "k1";
  deploy.source_type = "jenkins";
  deploy.tags = "env:prod";
  aggregator::EventRecord other;
  other.title = "t";
  other.text = "x";
  other.timestamp = 1600000000;
  other.hostname = "h2";
  s->events = {deploy, other};
  aggregator::ServiceCheckRecord ok;
  ok.name = "db.up";
  ok.status = 0;
  ok.tags = "db:main";
  aggregator::ServiceCheckRecord bad;
  bad.name = "disk";
  bad.status = 2;
  bad.timestamp = 1600000005;
  bad.hostname = "h3";
  bad.message = "full";
  s->service_checks = {ok, bad};
  EXPECT_THAT(
      Bodies({s, nullptr}, Options()),
      ElementsAre("/api/v1/check_run [{\"check\":\"db.up\",\"host_name\":\"h1\",\"status\":0,"
                  "\"timestamp\":1700000000,\"tags\":[\"db:main\"]},"
                  "{\"check\":\"disk\",\"host_name\":\"h3\",\"status\":2,"
                  "\"timestamp\":1600000005,\"message\":\"full\",\"tags\":[]}]",
                  "/api/v1/events {\"title\":\"deploy\",\"text\":\"line1\\nline2\","
                  "\"date_happened\":1700000000,\"host\":\"h1\",\"aggregation_key\":\"k1\","
                  "\"priority\":\"low\",\"source_type_name\":\"jenkins\",\"alert_type\":\"info\","
                  "\"tags\":[\"env:prod\"]}",
                  "/api/v1/events {\"title\":\"t\",\"text\":\"x\",\"date_happened\":1600000000,"
                  "\"host\":\"h2\",\"tags\":[]}"));
}

TEST(DatadogFormatTest, SelfMetricsSendIncreasesAndGauges) {
  auto s = NewSnapshot();
  auto metrics = std::make_shared<std::vector<SelfMetric>>();
  metrics->push_back({"tallyd_packets_received_total",
                      "",
                      SelfMetric::Kind::kCounter,
                      {{"transport", "udp"}},
                      100});
  metrics->push_back(
      {"tallyd_series_active", "", SelfMetric::Kind::kGauge, {{"type", "counter"}}, 7});
  DatadogFormatOptions options = Options();
  options.self_metrics = true;
  SelfMetricTotals totals;
  std::string first =
      "/api/v2/series {\"series\":[{\"metric\":\"tallyd.packets_received_total\",\"type\":1,"
      "\"interval\":10,\"points\":[{\"timestamp\":1700000000,\"value\":100}],"
      "\"resources\":[{\"name\":\"h1\",\"type\":\"host\"}],\"tags\":[\"transport:udp\"]},"
      "{\"metric\":\"tallyd.series_active\",\"type\":3,"
      "\"points\":[{\"timestamp\":1700000000,\"value\":7}],"
      "\"resources\":[{\"name\":\"h1\",\"type\":\"host\"}],\"tags\":[\"type:counter\"]}]}";
  EXPECT_THAT(Bodies({s, metrics}, options, &totals), ElementsAre(first));
  (*metrics)[0].value = 130;
  std::vector<std::string> second = Bodies({s, metrics}, options, &totals);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_THAT(second[0], ::testing::HasSubstr("\"points\":[{\"timestamp\":1700000000,"
                                              "\"value\":30}]"));
  // Off by default.
  EXPECT_TRUE(Bodies({s, metrics}, Options(), &totals).empty());
}

TEST(DatadogFormatTest, SplitsOnWholeSeriesWithinTheLimits) {
  auto s = NewSnapshot();
  for (int i = 0; i < 500; ++i) {
    AddValue(*s, MetricType::kGauge, "metric." + std::to_string(i), "tag:" + std::to_string(i), i);
  }
  DatadogFormatOptions options = Options();
  options.series_limits.max_uncompressed = 4000;
  std::vector<DatadogPayload> payloads = FormatDatadog({s, nullptr}, options, nullptr);
  ASSERT_GT(payloads.size(), 10u);
  int next = 0;
  for (const DatadogPayload& payload : payloads) {
    std::string body = payload.Body();
    EXPECT_LE(body.size(), 4000u);
    std::optional<Json> json = ParseJson(body);
    ASSERT_TRUE(json.has_value()) << body;
    for (const Json& one : (*json)["series"]) {
      EXPECT_EQ(one["metric"].get<std::string>(),
                "metric." + std::to_string(next++));  // in order, once
    }
  }
  EXPECT_EQ(next, 500);

  options = Options();
  options.series_limits.max_items = 64;
  payloads = FormatDatadog({s, nullptr}, options, nullptr);
  ASSERT_EQ(payloads.size(), 8u);  // 7 * 64 + 52
  EXPECT_EQ(payloads[0].items.size(), 64u);
  EXPECT_EQ(payloads[7].items.size(), 52u);
}

TEST(DatadogFormatTest, SplitPayloadHalvesOnItemBoundaries) {
  DatadogPayload payload;
  payload.endpoint = DatadogEndpoint::kCheckRun;
  for (int i = 0; i < 5; ++i) {
    payload.items.push_back("{\"check\":\"c" + std::to_string(i) + "\"}");
    payload.item_bytes += payload.items.back().size();
  }
  auto [first, second] = SplitDatadogPayload(payload);
  EXPECT_EQ(first.items.size() + second.items.size(), 5u);
  EXPECT_GE(first.items.size(), 1u);
  EXPECT_GE(second.items.size(), 1u);
  EXPECT_EQ(first.Body() + "|" + second.Body(),
            "[{\"check\":\"c0\"},{\"check\":\"c1\"}]|"
            "[{\"check\":\"c2\"},{\"check\":\"c3\"},{\"check\":\"c4\"}]");
  EXPECT_EQ(first.item_bytes + second.item_bytes, payload.item_bytes);
}

TEST(DatadogFormatTest, EmptyFlushSendsNothing) {
  EXPECT_TRUE(FormatDatadog({NewSnapshot(), nullptr}, Options(), nullptr).empty());
}

}  // namespace
}  // namespace tallyd::backends
