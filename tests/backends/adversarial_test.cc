// The adversarial corpus (adversarial_corpus.h) through every formatter, each output checked by
// its real reader (output_readers.h): promtool for the Prometheus scrape, nlohmann::json for the
// Datadog bodies and console lines, carbon's own line receiver for Graphite.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "aggregator/snapshot.h"
#include "backends/console.h"
#include "backends/datadog_format.h"
#include "backends/graphite_format.h"
#include "backends/prometheus.h"
#include "tests/backends/adversarial_corpus.h"
#include "tests/backends/output_readers.h"

namespace tallyd::backends {
namespace {

using testing::corpus::AdversarialSnapshot;

std::shared_ptr<const std::vector<SelfMetric>> SelfMetrics() {
  auto metrics = std::make_shared<std::vector<SelfMetric>>();
  metrics->push_back({"tallyd_packets_received_total",
                      "",
                      SelfMetric::Kind::kCounter,
                      {{"transport", "udp"}},
                      12});
  metrics->push_back(
      {"tallyd_lines_received_total", "", SelfMetric::Kind::kCounter, {{"type", "counter"}}, 40});
  metrics->push_back(
      {"tallyd_series_active", "", SelfMetric::Kind::kGauge, {{"type", "gauge"}}, 9});
  return metrics;
}

Flush AdversarialFlush(uint64_t sequence) {
  return Flush{std::make_shared<const aggregator::Snapshot>(AdversarialSnapshot(sequence)),
               SelfMetrics()};
}

std::string Problems(const std::vector<std::string>& problems) {
  return absl::StrJoin(problems, "\n");
}

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

std::string Scrape(int port) {
  std::string body;
  CURL* curl = curl_easy_init();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  EXPECT_EQ(code, CURLE_OK) << curl_easy_strerror(code);
  EXPECT_EQ(status, 200);
  return body;
}

// For a failure's message: the scrape is too long to print.
std::string DumpScrape(const std::string& scrape) {
  std::string path = ::testing::TempDir() + "/adversarial_scrape.txt";
  std::ofstream(path) << scrape;
  return path;
}

class AdversarialPrometheusTest : public ::testing::TestWithParam<PrometheusOptions::TimerType> {};

TEST_P(AdversarialPrometheusTest, ScrapeParsesWithoutConflicts) {
  if (!testing::PromtoolInstalled()) GTEST_SKIP() << "promtool (Debian `prometheus`) missing";
  PrometheusOptions options;
  options.listen = "127.0.0.1:0";
  options.timer_type = GetParam();
  auto backend = PrometheusBackend::Create(options);
  ASSERT_TRUE(backend.ok()) << backend.status();
  for (uint64_t sequence = 1; sequence <= 2; ++sequence) {
    ASSERT_EQ((*backend)->Deliver(AdversarialFlush(sequence)).outcome,
              Delivery::Outcome::kDelivered);
  }
  std::string scrape = Scrape((*backend)->port());
  EXPECT_EQ(Problems(testing::PrometheusProblems(scrape)), "")
      << "scrape written to " << DumpScrape(scrape);
  // The newcomers were refused, their labels dropped, and both counted.
  EXPECT_NE(scrape.find("tallyd_prometheus_type_conflicts_total "), std::string::npos);
  EXPECT_EQ(scrape.find("tallyd_prometheus_type_conflicts_total 0\n"), std::string::npos);
  EXPECT_EQ(scrape.find("tallyd_prometheus_invalid_labels_total 0\n"), std::string::npos);
  // The first family of a colliding name is kept.
  EXPECT_NE(scrape.find("\na_b 60\n"), std::string::npos) << "a.b, a_b and a-b add up";
  EXPECT_NE(scrape.find("\ntallyd_packets_received_total{transport=\"udp\"} 12\n"),
            std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(TimerTypes, AdversarialPrometheusTest,
                         ::testing::Values(PrometheusOptions::TimerType::kSummary,
                                           PrometheusOptions::TimerType::kHistogram),
                         [](const auto& info) {
                           return info.param == PrometheusOptions::TimerType::kSummary
                                      ? "Summary"
                                      : "Histogram";
                         });

TEST(AdversarialJsonTest, ConsoleLinesAreJson) {
  std::string lines = FormatConsole(AdversarialFlush(1), ConsoleOptions{.self_metrics = true});
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(Problems(testing::JsonLinesProblems(lines)), "");
}

TEST(AdversarialJsonTest, DatadogBodiesAreJson) {
  DatadogFormatOptions options;
  options.host = "host\"\x01\n";
  options.self_metrics = true;
  options.aggregates = {DatadogAggregate::kMax, DatadogAggregate::kMin, DatadogAggregate::kMedian,
                        DatadogAggregate::kAvg, DatadogAggregate::kSum, DatadogAggregate::kCount};
  SelfMetricTotals totals;
  std::vector<DatadogPayload> payloads = FormatDatadog(AdversarialFlush(1), options, &totals);
  ASSERT_GE(payloads.size(), 4u);  // series, distribution points, check_run, events
  for (const DatadogPayload& payload : payloads) {
    EXPECT_EQ(Problems(testing::JsonProblems(payload.Body())), "") << DatadogPath(payload.endpoint);
  }
}

// What the aggregator never reports (it refuses non-finite samples), still kept out of JSON.
TEST(AdversarialJsonTest, DatadogSkipsAndCountsNonFiniteValues) {
  const double inf = std::numeric_limits<double>::infinity();
  aggregator::Snapshot s = AdversarialSnapshot(1);
  s.series.clear();
  s.summaries.clear();
  s.events.clear();
  s.service_checks.clear();
  s.timestamped_points.clear();
  using aggregator::MetricType;
  using aggregator::SeriesKey;
  s.series.push_back(
      {.key = SeriesKey::Make(1, MetricType::kGauge, "g", ""), .value = std::nan("")});
  s.series.push_back({.key = SeriesKey::Make(2, MetricType::kCounter, "c", ""), .value = inf});
  aggregator::SampleSummary summary;
  summary.samples = 2;
  summary.count = 2;
  summary.count_ps = 0.2;
  summary.upper = inf;
  summary.mean = inf;
  summary.median = 1;
  summary.distribution = aggregator::ValueDistribution::Exact({1, inf});
  s.summaries.push_back(summary);
  s.summaries.push_back(summary);
  s.series.push_back(
      {.key = SeriesKey::Make(3, MetricType::kTimer, "t", ""), .value = 0, .summary = 0});
  s.series.push_back(
      {.key = SeriesKey::Make(4, MetricType::kDistribution, "d", ""), .value = 0, .summary = 1});
  s.timestamped_points.push_back(
      {SeriesKey::Make(5, MetricType::kDistribution, "dp", ""), -inf, s.flush_unix_seconds});
  DatadogFormatStats stats;
  std::vector<DatadogPayload> payloads =
      FormatDatadog({std::make_shared<const aggregator::Snapshot>(std::move(s)), nullptr},
                    DatadogFormatOptions{}, nullptr, &stats);
  for (const DatadogPayload& payload : payloads) {
    EXPECT_EQ(Problems(testing::JsonProblems(payload.Body())), "") << DatadogPath(payload.endpoint);
  }
  // g, c, t.max, t.avg, t.95percentile, d's inf sample, dp.
  EXPECT_EQ(stats.values_skipped, 7u);
}

struct GraphiteCase {
  bool legacy_namespace;
  bool tags;
};

class AdversarialGraphiteTest : public ::testing::TestWithParam<GraphiteCase> {};

TEST_P(AdversarialGraphiteTest, CarbonReceivesEveryLine) {
  if (!testing::CarbonInstalled()) GTEST_SKIP() << "carbon (Debian `graphite-carbon`) missing";
  GraphiteFormatOptions options;
  options.legacy_namespace = GetParam().legacy_namespace;
  options.tags = GetParam().tags;
  options.global_suffix = "suf fix;k=v";
  GraphiteFormatStats stats;
  std::string text = FormatGraphite(AdversarialFlush(1), options, &stats);
  size_t received = 0;
  EXPECT_EQ(Problems(testing::CarbonProblems(text, &received)), "");
  EXPECT_EQ(received, stats.lines);
  EXPECT_GT(stats.lines, 100u);
  EXPECT_GT(stats.invalid_names, 0u);  // "!!!"
  if (options.tags) {
    EXPECT_GT(stats.long_lines, 0u);  // the 10 kB timer with its 10 kB tag
  }
}

INSTANTIATE_TEST_SUITE_P(Namespaces, AdversarialGraphiteTest,
                         ::testing::Values(GraphiteCase{true, true}, GraphiteCase{false, true},
                                           GraphiteCase{true, false}),
                         [](const auto& info) {
                           return std::string(info.param.legacy_namespace ? "Legacy" : "Prefixed") +
                                  (info.param.tags ? "Tags" : "NoTags");
                         });

}  // namespace
}  // namespace tallyd::backends
