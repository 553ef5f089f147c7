// Starts the real scrape endpoint on a port of its own and scrapes it over HTTP with libcurl.
#include "backends/prometheus.h"

#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "aggregator/snapshot.h"
#include "backends/series_report.h"
#include "tests/backends/snapshot_fixtures.h"

namespace tallyd::backends {
namespace {

using aggregator::MetricType;
using aggregator::SeriesKey;
using aggregator::SeriesKeyRef;
using aggregator::Snapshot;
using fixtures::Key;
using ::testing::Contains;
using ::testing::Not;

using KeyPtr = SeriesKeyRef;

struct HttpResponse {
  long status = 0;
  std::string body;
};

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

HttpResponse Get(int port, const std::string& path) {
  HttpResponse response;
  CURL* curl = curl_easy_init();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  CURLcode code = curl_easy_perform(curl);
  EXPECT_EQ(code, CURLE_OK) << curl_easy_strerror(code);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_easy_cleanup(curl);
  return response;
}

class PrometheusBackendTest : public ::testing::Test {
 protected:
  void Start(PrometheusOptions options = {}) {
    options.listen = "127.0.0.1:0";
    auto backend = PrometheusBackend::Create(std::move(options));
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(*backend);
    ASSERT_GT(backend_->port(), 0);
  }

  // Each flush 10 s after the previous one.
  Snapshot NextSnapshot() {
    Snapshot s;
    s.sequence = ++sequence_;
    s.flush_unix_seconds = 1700000000 + 10 * static_cast<int64_t>(sequence_);
    s.flush_time = absl::FromUnixSeconds(s.flush_unix_seconds);
    s.interval = absl::Seconds(10);
    return s;
  }

  void Deliver(Snapshot snapshot, std::shared_ptr<const std::vector<SelfMetric>> self = nullptr) {
    Delivery delivery =
        backend_->Deliver(Flush{std::make_shared<const Snapshot>(std::move(snapshot)), self});
    EXPECT_EQ(delivery.outcome, Delivery::Outcome::kDelivered);
  }

  std::vector<std::string> Scrape() {
    HttpResponse response = Get(backend_->port(), "/metrics");
    EXPECT_EQ(response.status, 200);
    return absl::StrSplit(response.body, '\n', absl::SkipEmpty());
  }

  static void AddCounter(Snapshot& s, KeyPtr key, double count, bool idle = false) {
    s.series.push_back({.key = std::move(key), .value = count, .idle = idle});
  }
  static void AddValue(Snapshot& s, KeyPtr key, double value, bool idle = false) {
    s.series.push_back({.key = std::move(key), .value = value, .idle = idle});
  }
  // A timer, histogram or distribution with these (unweighted) samples.
  static void AddSamples(Snapshot& s, KeyPtr key, std::vector<double> samples) {
    std::sort(samples.begin(), samples.end());
    aggregator::SampleSummary summary;
    summary.samples = samples.size();
    summary.count = static_cast<double>(samples.size());
    for (double v : samples) summary.sum += v;
    summary.lower = samples.front();
    summary.upper = samples.back();
    summary.distribution = aggregator::ValueDistribution::Exact(std::move(samples));
    s.summaries.push_back(std::move(summary));
    s.series.push_back({.key = std::move(key),
                        .value = 0,
                        .summary = static_cast<int32_t>(s.summaries.size() - 1)});
  }
  static void AddIdle(Snapshot& s, KeyPtr key) {
    s.series.push_back({.key = std::move(key), .idle = true});
  }

  uint64_t sequence_ = 0;
  std::unique_ptr<PrometheusBackend> backend_;
};

// civetweb alone takes up to 2 s to stop (its accept loop polls in 2 s rounds). The bound is
// generous on purpose: this checks the stop is not held by that poll, not how fast it is.
TEST_F(PrometheusBackendTest, StopsWithoutWaitingForTheAcceptPoll) {
  for (int round = 0; round < 3; ++round) {
    Start();
    const int port = backend_->port();
    EXPECT_EQ(Get(port, "/healthz").status, 200);
    absl::Time start = absl::Now();
    backend_.reset();
    EXPECT_LT(absl::Now() - start, absl::Milliseconds(700)) << "round " << round;
    // The port is released: a new endpoint can take it.
    PrometheusOptions options;
    options.listen = "127.0.0.1:" + std::to_string(port);
    auto again = PrometheusBackend::Create(options);
    EXPECT_TRUE(again.ok()) << again.status();
  }
}

TEST_F(PrometheusBackendTest, HealthzAnswersOk) {
  Start();
  HttpResponse response = Get(backend_->port(), "/healthz");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "ok");
}

// server/ renders the page (config/ knows the keys); the backend serves the latest one set.
TEST_F(PrometheusBackendTest, DebugConfigServesTheLatestPageSet) {
  Start();
  EXPECT_EQ(Get(backend_->port(), "/debug/config").status, 404);  // none set yet
  backend_->SetConfigPage("a: 1  # default\n", R"({"a":{"value":1}})");
  backend_->SetConfigPage("a: 2  # flag --a\n", R"({"a":{"value":2}})");  // a SIGHUP reload
  HttpResponse text = Get(backend_->port(), "/debug/config");
  EXPECT_EQ(text.status, 200);
  EXPECT_EQ(text.body, "a: 2  # flag --a\n");
  HttpResponse json = Get(backend_->port(), "/debug/config?format=json");
  EXPECT_EQ(json.status, 200);
  EXPECT_EQ(json.body, R"({"a":{"value":2}})");
}

TEST_F(PrometheusBackendTest, NamesAndLabelsAreSanitizedAndInvalidLabelsCounted) {
  Start();
  Snapshot s = NextSnapshot();
  AddCounter(s, Key(1, MetricType::kCounter, "my.app-req", "2x:y,:empty,__x:1,env,host:web-1"), 3);
  AddValue(s, Key(2, MetricType::kGauge, "5xx.rate", "path:/a\"b"), 1.5);
  Deliver(std::move(s));
  std::vector<std::string> lines = Scrape();
  EXPECT_THAT(lines, Contains("# HELP my_app_req Metric autogenerated by tallyd."));
  EXPECT_THAT(lines, Contains("# TYPE my_app_req counter"));
  EXPECT_THAT(lines, Contains("my_app_req{_2x=\"y\",env=\"true\",host=\"web-1\"} 3"));
  EXPECT_THAT(lines, Contains("# TYPE _5xx_rate gauge"));
  EXPECT_THAT(lines, Contains("_5xx_rate{path=\"/a\\\"b\"} 1.5"));
  EXPECT_THAT(lines, Contains("tallyd_prometheus_invalid_labels_total 2"));

  // The same series again: its invalid tags are not counted twice.
  s = NextSnapshot();
  AddCounter(s, Key(1, MetricType::kCounter, "my.app-req", "2x:y,:empty,__x:1,env,host:web-1"), 1);
  Deliver(std::move(s));
  lines = Scrape();
  EXPECT_THAT(lines, Contains("my_app_req{_2x=\"y\",env=\"true\",host=\"web-1\"} 4"));
  EXPECT_THAT(lines, Contains("tallyd_prometheus_invalid_labels_total 2"));
}

TEST_F(PrometheusBackendTest, CounterIsCumulativeAcrossFlushes) {
  Start();
  KeyPtr key = Key(1, MetricType::kCounter, "hits", "a:1");
  Snapshot s = NextSnapshot();
  AddCounter(s, key, 3);
  Deliver(std::move(s));
  EXPECT_THAT(Scrape(), Contains("hits{a=\"1\"} 3"));

  s = NextSnapshot();
  AddCounter(s, key, 2.5);
  Deliver(std::move(s));
  EXPECT_THAT(Scrape(), Contains("hits{a=\"1\"} 5.5"));

  s = NextSnapshot();
  AddCounter(s, key, 0, /*idle=*/true);
  AddCounter(s, Key(2, MetricType::kCounter, "neg"), -4);
  Deliver(std::move(s));
  std::vector<std::string> lines = Scrape();
  EXPECT_THAT(lines, Contains("hits{a=\"1\"} 5.5"));
  EXPECT_THAT(lines, Contains("neg 0"));  // a counter never decreases
  EXPECT_THAT(lines, Contains("tallyd_prometheus_negative_counts_total 1"));
}

// The value of the sample line that starts with `series` ("name{labels} "), NaN when missing.
double SampleValue(const std::vector<std::string>& lines, const std::string& series) {
  for (const std::string& line : lines) {
    if (line.starts_with(series)) return std::strtod(line.c_str() + series.size(), nullptr);
  }
  return std::nan("");
}

TEST_F(PrometheusBackendTest, TotalsThatWouldOverflowAreHeldAndCounted) {
  Start();
  const double max = std::numeric_limits<double>::max();
  KeyPtr counter = Key(1, MetricType::kCounter, "big");
  KeyPtr timer = Key(2, MetricType::kHistogram, "huge");
  KeyPtr point = Key(3, MetricType::kCounter, "pointed");
  for (int flush = 0; flush < 3; ++flush) {
    Snapshot s = NextSnapshot();
    AddCounter(s, counter, max / 1.5);  // the second flush would overflow
    AddSamples(s, timer, {max / 1.5});
    s.timestamped_points.push_back({point, max / 1.5, s.flush_unix_seconds});
    Deliver(std::move(s));
  }
  std::vector<std::string> lines = Scrape();
  EXPECT_DOUBLE_EQ(SampleValue(lines, "big "), max / 1.5);
  EXPECT_DOUBLE_EQ(SampleValue(lines, "pointed "), max / 1.5);
  EXPECT_DOUBLE_EQ(SampleValue(lines, "huge_sum "), max / 1.5);
  EXPECT_EQ(SampleValue(lines, "huge_count "), 1);  // held with its _sum
  EXPECT_EQ(SampleValue(lines, "tallyd_prometheus_overflows_total "), 6);
}

TEST_F(PrometheusBackendTest, GaugesAndSets) {
  Start();
  KeyPtr gauge = Key(1, MetricType::kGauge, "temp");
  KeyPtr set = Key(2, MetricType::kSet, "users");
  Snapshot s = NextSnapshot();
  AddValue(s, gauge, 42.5);
  AddValue(s, set, 7);
  Deliver(std::move(s));
  std::vector<std::string> lines = Scrape();
  EXPECT_THAT(lines, Contains("# TYPE temp gauge"));
  EXPECT_THAT(lines, Contains("temp 42.5"));
  EXPECT_THAT(lines, Contains("# TYPE users gauge"));
  EXPECT_THAT(lines, Contains("users 7"));

  // Idle: the gauge re-reports its value, the set keeps the last interval that had samples.
  s = NextSnapshot();
  AddValue(s, gauge, 42.5, /*idle=*/true);
  AddValue(s, set, 0, /*idle=*/true);
  Deliver(std::move(s));
  lines = Scrape();
  EXPECT_THAT(lines, Contains("temp 42.5"));
  EXPECT_THAT(lines, Contains("users 7"));
}

TEST_F(PrometheusBackendTest, TimerIsASummaryInSeconds) {
  Start();
  KeyPtr key = Key(1, MetricType::kTimer, "db.query", "db:main");
  Snapshot s = NextSnapshot();
  AddSamples(s, key, {1000, 900, 800, 700, 600, 500, 400, 300, 200, 100});
  Deliver(std::move(s));
  std::vector<std::string> lines = Scrape();
  EXPECT_THAT(lines, Contains("# TYPE db_query summary"));
  EXPECT_THAT(lines, Contains("db_query_count{db=\"main\"} 10"));
  EXPECT_THAT(lines, Contains("db_query_sum{db=\"main\"} 5.5"));
  EXPECT_THAT(lines, Contains("db_query{db=\"main\",quantile=\"0.5\"} 0.5"));
  EXPECT_THAT(lines, Contains("db_query{db=\"main\",quantile=\"0.9\"} 0.9"));
  EXPECT_THAT(lines, Contains("db_query{db=\"main\",quantile=\"0.99\"} 1"));

  // _sum and _count are cumulative; quantiles are the latest interval's.
  s = NextSnapshot();
  AddSamples(s, key, {50});
  Deliver(std::move(s));
  lines = Scrape();
  EXPECT_THAT(lines, Contains("db_query_count{db=\"main\"} 11"));
  EXPECT_THAT(lines, Contains("db_query_sum{db=\"main\"} 5.55"));
  EXPECT_THAT(lines, Contains("db_query{db=\"main\",quantile=\"0.5\"} 0.05"));
  EXPECT_THAT(lines, Contains("db_query{db=\"main\",quantile=\"0.99\"} 0.05"));

  // An idle interval keeps the last quantiles.
  s = NextSnapshot();
  AddIdle(s, key);
  Deliver(std::move(s));
  lines = Scrape();
  EXPECT_THAT(lines, Contains("db_query_count{db=\"main\"} 11"));
  EXPECT_THAT(lines, Contains("db_query{db=\"main\",quantile=\"0.5\"} 0.05"));
}

TEST_F(PrometheusBackendTest, HistogramAndDistributionAreNotScaled) {
  Start({.quantiles = {0.5}});
  Snapshot s = NextSnapshot();
  AddSamples(s, Key(1, MetricType::kHistogram, "payload.bytes"), {100, 300, 200});
  AddSamples(s, Key(2, MetricType::kDistribution, "latency"), {4});
  Deliver(std::move(s));
  std::vector<std::string> lines = Scrape();
  EXPECT_THAT(lines, Contains("payload_bytes_count 3"));
  EXPECT_THAT(lines, Contains("payload_bytes_sum 600"));
  EXPECT_THAT(lines, Contains("payload_bytes{quantile=\"0.5\"} 200"));
  EXPECT_THAT(lines, Contains("latency{quantile=\"0.5\"} 4"));
}

TEST_F(PrometheusBackendTest, TimerTypeHistogramHasCumulativeBuckets) {
  Start({.timer_type = PrometheusOptions::TimerType::kHistogram, .buckets = {0.1, 0.5, 1}});
  KeyPtr key = Key(1, MetricType::kTimer, "rpc", "quantile:x");  // only "le" is reserved here
  Snapshot s = NextSnapshot();
  AddSamples(s, key, {50, 100, 300, 2000});
  AddSamples(s, Key(2, MetricType::kHistogram, "size", "le:1"), {1, 2});
  Deliver(std::move(s));
  std::vector<std::string> lines = Scrape();
  EXPECT_THAT(lines, Contains("# TYPE rpc histogram"));
  EXPECT_THAT(lines, Contains("rpc_bucket{quantile=\"x\",le=\"0.1\"} 2"));
  EXPECT_THAT(lines, Contains("rpc_bucket{quantile=\"x\",le=\"0.5\"} 3"));
  EXPECT_THAT(lines, Contains("rpc_bucket{quantile=\"x\",le=\"1\"} 3"));
  EXPECT_THAT(lines, Contains("rpc_bucket{quantile=\"x\",le=\"+Inf\"} 4"));
  EXPECT_THAT(lines, Contains("rpc_count{quantile=\"x\"} 4"));
  EXPECT_THAT(lines, Contains("rpc_sum{quantile=\"x\"} 2.45"));
  EXPECT_THAT(lines, Contains("size_bucket{le=\"1\"} 1"));  // tag "le" dropped
  EXPECT_THAT(lines, Contains("tallyd_prometheus_invalid_labels_total 1"));

  s = NextSnapshot();
  AddSamples(s, key, {1000});
  Deliver(std::move(s));
  lines = Scrape();
  EXPECT_THAT(lines, Contains("rpc_bucket{quantile=\"x\",le=\"0.1\"} 2"));
  EXPECT_THAT(lines, Contains("rpc_bucket{quantile=\"x\",le=\"1\"} 4"));
  EXPECT_THAT(lines, Contains("rpc_bucket{quantile=\"x\",le=\"+Inf\"} 5"));
  EXPECT_THAT(lines, Contains("rpc_count{quantile=\"x\"} 5"));
}

TEST_F(PrometheusBackendTest, NameUsedByAnotherTypeIsRejectedAndCountedOnce) {
  Start();
  KeyPtr counter = Key(1, MetricType::kCounter, "x");
  KeyPtr gauge = Key(2, MetricType::kGauge, "x", "a:1");
  Snapshot s = NextSnapshot();
  AddCounter(s, counter, 1);
  Deliver(std::move(s));
  for (int i = 0; i < 2; ++i) {
    s = NextSnapshot();
    AddCounter(s, counter, 1);
    AddValue(s, gauge, 5);
    AddCounter(s, Key(3, MetricType::kCounter, "x_count"), 1);            // free: x is a counter
    AddValue(s, Key(4, MetricType::kGauge, "tallyd.mine"), 1);            // tallyd's own namespace
    AddValue(s, Key(7, MetricType::kGauge, "exposer_scrapes_total"), 1);  // prometheus-cpp's
    Deliver(std::move(s));
  }
  std::vector<std::string> lines = Scrape();
  EXPECT_THAT(lines, Contains("# TYPE x counter"));
  EXPECT_THAT(lines, Contains("x 3"));
  EXPECT_THAT(lines, Not(Contains("x{a=\"1\"} 5")));
  EXPECT_THAT(lines, Contains("x_count 2"));
  EXPECT_THAT(lines, Not(Contains("tallyd_mine 1")));
  EXPECT_THAT(lines, Not(Contains("# TYPE exposer_scrapes_total gauge")));
  EXPECT_THAT(lines, Contains("tallyd_prometheus_type_conflicts_total 3"));

  // A summary "y" owns y_count too.
  s = NextSnapshot();
  AddSamples(s, Key(5, MetricType::kTimer, "y"), {1});
  AddCounter(s, Key(6, MetricType::kCounter, "y_count"), 1);
  Deliver(std::move(s));
  lines = Scrape();
  EXPECT_THAT(lines, Contains("y_count 1"));  // the summary's count line
  EXPECT_THAT(lines, Not(Contains("# TYPE y_count counter")));
  EXPECT_THAT(lines, Contains("tallyd_prometheus_type_conflicts_total 4"));
}

TEST_F(PrometheusBackendTest, SeriesMissingFromTheSnapshotIsRemoved) {
  Start();
  KeyPtr a = Key(1, MetricType::kGauge, "a");
  KeyPtr b = Key(2, MetricType::kGauge, "b", "k:v");
  Snapshot s = NextSnapshot();
  AddValue(s, a, 1);
  AddValue(s, b, 2);
  Deliver(std::move(s));
  EXPECT_THAT(Scrape(), Contains("b{k=\"v\"} 2"));

  s = NextSnapshot();
  AddValue(s, a, 1, /*idle=*/true);
  Deliver(std::move(s));
  std::vector<std::string> lines = Scrape();
  EXPECT_THAT(lines, Contains("a 1"));
  EXPECT_THAT(lines, Not(Contains("b{k=\"v\"} 2")));
  EXPECT_THAT(lines, Not(Contains("# TYPE b gauge")));

  // Its name is free again, for any type.
  s = NextSnapshot();
  AddCounter(s, Key(3, MetricType::kCounter, "b"), 4);
  Deliver(std::move(s));
  EXPECT_THAT(Scrape(), Contains("b 4"));
}

TEST_F(PrometheusBackendTest, SelfMetricsAreExported) {
  Start();
  auto self = std::make_shared<std::vector<SelfMetric>>();
  self->push_back({"tallyd_packets_received_total",
                   "Datagrams and reads received.",
                   SelfMetric::Kind::kCounter,
                   {{"transport", "udp"}},
                   12});
  self->push_back({"tallyd_packets_received_total",
                   "Datagrams and reads received.",
                   SelfMetric::Kind::kCounter,
                   {{"transport", "tcp"}},
                   3});
  self->push_back({"tallyd_series_active", "", SelfMetric::Kind::kGauge, {{"type", "gauge"}}, 2});
  Deliver(NextSnapshot(), self);
  std::vector<std::string> lines = Scrape();
  EXPECT_THAT(lines,
              Contains("# HELP tallyd_packets_received_total Datagrams and reads received."));
  EXPECT_THAT(lines, Contains("# TYPE tallyd_packets_received_total counter"));
  EXPECT_THAT(lines, Contains("tallyd_packets_received_total{transport=\"udp\"} 12"));
  EXPECT_THAT(lines, Contains("tallyd_packets_received_total{transport=\"tcp\"} 3"));
  EXPECT_THAT(lines, Contains("# TYPE tallyd_series_active gauge"));
  EXPECT_THAT(lines, Contains("tallyd_series_active{type=\"gauge\"} 2"));
  EXPECT_THAT(lines, Contains("# TYPE tallyd_prometheus_type_conflicts_total counter"));
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [](const std::string& line) {
                            return line == "# TYPE tallyd_packets_received_total counter";
                          }),
            1);
}

TEST_F(PrometheusBackendTest, TimestampedPointsShowTheLatestValue) {
  Start({.series_ttl = absl::Seconds(25)});
  Snapshot s = NextSnapshot();
  s.timestamped_points.push_back({Key(1, MetricType::kCounter, "late.hits"), 2, 1699999990});
  s.timestamped_points.push_back({Key(1, MetricType::kCounter, "late.hits"), 3, 1699999980});
  s.timestamped_points.push_back({Key(2, MetricType::kGauge, "late.temp"), 20, 1699999990});
  s.timestamped_points.push_back({Key(2, MetricType::kGauge, "late.temp"), 10, 1699999980});
  s.timestamped_points.push_back({Key(3, MetricType::kTimer, "late.rpc"), 300, 1699999990});
  s.timestamped_points.push_back({Key(3, MetricType::kTimer, "late.rpc"), 100, 1699999991});
  Deliver(std::move(s));
  std::vector<std::string> lines = Scrape();
  EXPECT_THAT(lines, Contains("late_hits 5"));
  EXPECT_THAT(lines, Contains("late_temp 20"));  // the newest timestamp wins
  EXPECT_THAT(lines, Contains("late_rpc_count 2"));
  EXPECT_THAT(lines, Contains("late_rpc_sum 0.4"));
  EXPECT_THAT(lines, Contains("late_rpc{quantile=\"0.5\"} 0.1"));

  // Kept for series_ttl after the last point, then removed.
  Deliver(NextSnapshot());
  Deliver(NextSnapshot());
  EXPECT_THAT(Scrape(), Contains("late_temp 20"));
  Deliver(NextSnapshot());
  EXPECT_THAT(Scrape(), Not(Contains("late_temp 20")));
}

TEST_F(PrometheusBackendTest, ScrapesWhileFlushesArrive) {
  Start();
  std::atomic<bool> done = false;
  std::thread scraper([&] {
    while (!done) Scrape();
  });
  for (int i = 0; i < 200; ++i) {
    Snapshot s = NextSnapshot();
    AddCounter(s, Key(1, MetricType::kCounter, "c"), 1);
    AddSamples(
        s, Key(static_cast<uint64_t>(2 + i % 3), MetricType::kTimer, "t" + std::to_string(i % 3)),
        {1, 2, 3});
    Deliver(std::move(s));
  }
  done = true;
  scraper.join();
  EXPECT_THAT(Scrape(), Contains("c 200"));
}

TEST(PrometheusBackendCreateTest, RejectsBadOptions) {
  EXPECT_FALSE(PrometheusBackend::Create({.listen = "nonsense"}).ok());
  EXPECT_FALSE(PrometheusBackend::Create({.listen = "127.0.0.1:70000"}).ok());
  EXPECT_FALSE(PrometheusBackend::Create({.listen = "127.0.0.1:0", .quantiles = {1.5}}).ok());
  EXPECT_FALSE(PrometheusBackend::Create({.listen = "127.0.0.1:0", .buckets = {1, 0.5}}).ok());
}

TEST(PrometheusBackendCreateTest, PortInUseIsAnErrorNamingTheAddress) {
  auto first = PrometheusBackend::Create({.listen = "127.0.0.1:0"});
  ASSERT_TRUE(first.ok()) << first.status();
  std::string address = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = PrometheusBackend::Create({.listen = address});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), ::testing::HasSubstr(address));
}

// With newer flushes queued behind it (BackendRunner says so before Deliver), a flush is folded
// into the scrape but /debug/series' report, which the next delivery replaces, is left to the
// newest; its drops still count in the report's totals.
TEST_F(PrometheusBackendTest, SeriesReportIsBuiltForTheNewestQueuedFlushOnly) {
  Start();
  Snapshot first = NextSnapshot();
  AddCounter(first, Key(1, MetricType::kCounter, "hits"), 2);
  first.stats.series_dropped = 4;
  backend_->SetNewerQueued(1);
  Deliver(std::move(first));
  EXPECT_EQ(backend_->series_report().Latest()->flush_sequence, 0u);  // none built yet
  EXPECT_THAT(Scrape(), Contains("hits 2"));

  Snapshot second = NextSnapshot();
  AddCounter(second, Key(1, MetricType::kCounter, "hits"), 3);
  second.stats.series_dropped = 5;
  backend_->SetNewerQueued(0);
  Deliver(std::move(second));
  std::shared_ptr<const SeriesReportData> report = backend_->series_report().Latest();
  ASSERT_NE(report, nullptr);
  EXPECT_EQ(report->flush_sequence, 2u);
  EXPECT_EQ(report->dropped_max_series_total, 9u);
  EXPECT_THAT(Scrape(), Contains("hits 5"));
}

// The exposed counters are totals: a flush the runner's full queue dropped reaches the backend
// through Observe only, and must count; one observed and then delivered counts once; one
// delivered without Observe (a caller driving Deliver alone) counts too.
TEST_F(PrometheusBackendTest, EveryObservedFlushCountsOnceInTheCounterTotals) {
  Start();
  EXPECT_TRUE(backend_->observes_flushes());
  auto flush_of = [](Snapshot s) {
    return Flush{std::make_shared<const Snapshot>(std::move(s)), nullptr};
  };
  for (double count : {2.0, 3.0}) {  // dropped by the runner: observed, never delivered
    Snapshot s = NextSnapshot();
    AddCounter(s, Key(1, MetricType::kCounter, "hits"), count);
    backend_->Observe(flush_of(std::move(s)));
  }
  Snapshot third = NextSnapshot();
  AddCounter(third, Key(1, MetricType::kCounter, "hits"), 4);
  const Flush delivered = flush_of(std::move(third));
  backend_->Observe(delivered);
  EXPECT_EQ(backend_->Deliver(delivered).outcome, Delivery::Outcome::kDelivered);
  backend_->Observe(delivered);  // again: still once
  Snapshot fourth = NextSnapshot();
  AddCounter(fourth, Key(1, MetricType::kCounter, "hits"), 5);
  Deliver(std::move(fourth));
  EXPECT_THAT(Scrape(), Contains("hits 14"));
}

}  // namespace
}  // namespace tallyd::backends
