// A large scrape (50k series in several families, counters, gauges, and summaries or
// histograms with labels) read by its real reader: promtool must parse it, and every sample
// must carry the value computed here from the flushes delivered, plain and gzip alike. And the
// batched walk of PrometheusState (a scrape's lock holds) across flushes that add and forget
// series: no series twice, no family announced twice; and a walk is not held up by a large
// flush being folded in.
#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "aggregator/snapshot.h"
#include "backends/prometheus.h"
#include "backends/prometheus_state.h"
#include "backends/prometheus_text.h"
#include "tests/backends/output_readers.h"
#include "tests/backends/snapshot_fixtures.h"

namespace tallyd::backends {
namespace {

using aggregator::MetricType;
using aggregator::SeriesKeyRef;
using aggregator::Snapshot;
using fixtures::Key;

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// `gzip`: ask for it and let libcurl decode it (so the bytes compared are the text). `http10`:
// an HTTP/1.0 request, which cannot take a chunked body.
std::string Scrape(int port, bool gzip, std::string* encoding, bool http10 = false) {
  std::string body, headers;
  CURL* curl = curl_easy_init();
  std::string url = absl::StrCat("http://127.0.0.1:", port, "/metrics");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  if (gzip) curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "gzip");
  if (http10) curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_0);
  CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  EXPECT_EQ(code, CURLE_OK) << curl_easy_strerror(code);
  EXPECT_EQ(status, 200);
  *encoding = headers.find("Content-Encoding: gzip") != std::string::npos ? "gzip" : "identity";
  return body;
}

// "name{a="1",b="2"}" -> value text, for every sample line.
std::map<std::string, std::string> Samples(const std::string& scrape) {
  std::map<std::string, std::string> samples;
  for (const std::string& line :
       std::vector<std::string>(absl::StrSplit(scrape, '\n', absl::SkipEmpty()))) {
    if (line.starts_with("#")) continue;
    size_t space = line.rfind(' ');
    EXPECT_TRUE(samples.emplace(line.substr(0, space), line.substr(space + 1)).second)
        << "twice: " << line;
  }
  return samples;
}

std::string Number(double value) {
  char buffer[32];
  snprintf(buffer, sizeof(buffer), "%.16g", value);
  return buffer;
}

constexpr int kCounters = 20000;  // untagged: one family each
constexpr int kLabeled = 20000;   // one family "requests", two labels
constexpr int kGauges = 5000;     // one family "temperature"
constexpr int kTimers = 5000;     // one family "latency": summaries or histograms

class PrometheusLargeScrapeTest : public ::testing::TestWithParam<PrometheusOptions::TimerType> {
 protected:
  // Flush `sequence` (1 or 2): counters count i+sequence, gauges i/2, timers samples
  // {i, 2i, 1000} ms.
  Snapshot MakeSnapshot(int sequence) {
    Snapshot s;
    s.sequence = sequence;
    s.flush_unix_seconds = 1700000000 + 10 * sequence;
    s.flush_time = absl::FromUnixSeconds(s.flush_unix_seconds);
    s.interval = absl::Seconds(10);
    uint64_t id = 0;
    for (int i = 0; i < kCounters; ++i) {
      s.series.push_back({.key = Key(++id, MetricType::kCounter, absl::StrCat("app.hits.", i)),
                          .value = static_cast<double>(i + sequence)});
    }
    for (int i = 0; i < kLabeled; ++i) {
      s.series.push_back({.key = Key(++id, MetricType::kCounter, "requests",
                                     absl::StrCat("host:h", i % 100, ",path:/p\"", i / 100)),
                          .value = static_cast<double>(i + sequence)});
    }
    for (int i = 0; i < kGauges; ++i) {
      s.series.push_back(
          {.key = Key(++id, MetricType::kGauge, "temperature", absl::StrCat("room:", i)),
           .value = i / 2.0});
    }
    for (int i = 0; i < kTimers; ++i) {
      std::vector<double> samples = {static_cast<double>(i), 2.0 * i, 1000};
      std::sort(samples.begin(), samples.end());
      aggregator::SampleSummary summary;
      summary.samples = 3;
      summary.count = 3;
      for (double v : samples) summary.sum += v;
      summary.distribution = aggregator::ValueDistribution::Exact(std::move(samples));
      s.summaries.push_back(std::move(summary));
      s.series.push_back({.key = Key(++id, MetricType::kTimer, "latency", absl::StrCat("op:o", i)),
                          .value = 0,
                          .summary = static_cast<int32_t>(s.summaries.size() - 1)});
    }
    return s;
  }

  // What two flushes must show, computed from the inputs above.
  std::map<std::string, std::string> Expected(PrometheusOptions::TimerType type,
                                              const PrometheusOptions& options) {
    std::map<std::string, std::string> expected;
    for (int i = 0; i < kCounters; ++i) {
      expected[absl::StrCat("app_hits_", i)] = Number(2.0 * i + 3);
    }
    for (int i = 0; i < kLabeled; ++i) {
      expected[absl::StrCat("requests{host=\"h", i % 100, "\",path=\"/p\\\"", i / 100, "\"}")] =
          Number(2.0 * i + 3);
    }
    for (int i = 0; i < kGauges; ++i) {
      expected[absl::StrCat("temperature{room=\"", i, "\"}")] = Number(i / 2.0);
    }
    for (int i = 0; i < kTimers; ++i) {
      const std::string labels = absl::StrCat("op=\"o", i, "\"");
      std::vector<double> seconds = {i / 1000.0, 2.0 * i / 1000.0, 1.0};
      std::sort(seconds.begin(), seconds.end());
      expected[absl::StrCat("latency_count{", labels, "}")] = "6";
      expected[absl::StrCat("latency_sum{", labels, "}")] =
          Number(2 * ((i + 2.0 * i + 1000) * 0.001));
      if (type == PrometheusOptions::TimerType::kSummary) {
        // The quantiles of the latest interval, as the state computes them from its samples.
        std::vector<double> ms = {static_cast<double>(i), 2.0 * i, 1000};
        std::sort(ms.begin(), ms.end());
        auto exact = aggregator::ValueDistribution::Exact(std::move(ms));
        for (double q : options.quantiles) {
          expected[absl::StrCat("latency{", labels, ",quantile=\"", Number(q), "\"}")] =
              Number(exact.Quantile(q) * 0.001);
        }
      } else {
        for (double bound : options.buckets) {
          int below = 0;
          for (double v : seconds) below += v <= bound ? 1 : 0;
          expected[absl::StrCat("latency_bucket{", labels, ",le=\"", Number(bound), "\"}")] =
              absl::StrCat(2 * below);
        }
        expected[absl::StrCat("latency_bucket{", labels, ",le=\"+Inf\"}")] = "6";
      }
    }
    return expected;
  }
};

TEST_P(PrometheusLargeScrapeTest, ParsesWithPromtoolAndCarriesEveryValue) {
  PrometheusOptions options;
  options.listen = "127.0.0.1:0";
  options.timer_type = GetParam();
  auto backend = PrometheusBackend::Create(options);
  ASSERT_TRUE(backend.ok()) << backend.status();
  for (int sequence = 1; sequence <= 2; ++sequence) {
    ASSERT_EQ(
        (*backend)
            ->Deliver(Flush{std::make_shared<const Snapshot>(MakeSnapshot(sequence)), nullptr})
            .outcome,
        Delivery::Outcome::kDelivered);
  }
  std::string encoding;
  const std::string plain = Scrape((*backend)->port(), /*gzip=*/false, &encoding);
  EXPECT_EQ(encoding, "identity");
  const std::string gzip = Scrape((*backend)->port(), /*gzip=*/true, &encoding);
  EXPECT_EQ(encoding, "gzip");
  EXPECT_EQ(gzip, plain);
  EXPECT_EQ(Scrape((*backend)->port(), /*gzip=*/false, &encoding, /*http10=*/true), plain);
  if (testing::PromtoolInstalled()) {
    std::vector<std::string> problems = testing::PrometheusProblems(plain);
    EXPECT_TRUE(problems.empty()) << problems.front();
  }

  std::map<std::string, std::string> samples = Samples(plain);
  const std::map<std::string, std::string> expected = Expected(GetParam(), options);
  size_t missing = 0, wrong = 0;
  for (const auto& [series, value] : expected) {
    auto it = samples.find(series);
    if (it == samples.end()) {
      if (++missing <= 3) ADD_FAILURE() << "missing " << series;
    } else if (it->second != value) {
      if (++wrong <= 3) ADD_FAILURE() << series << " is " << it->second << ", want " << value;
    }
  }
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(wrong, 0u);
  // Nothing else but the conversion counts.
  size_t others = 0;
  for (const auto& [series, value] : samples) {
    if (!expected.contains(series) && !series.starts_with("tallyd_prometheus_")) ++others;
  }
  EXPECT_EQ(others, 0u);
}

INSTANTIATE_TEST_SUITE_P(TimerTypes, PrometheusLargeScrapeTest,
                         ::testing::Values(PrometheusOptions::TimerType::kSummary,
                                           PrometheusOptions::TimerType::kHistogram),
                         [](const auto& info) {
                           return info.param == PrometheusOptions::TimerType::kSummary
                                      ? "Summary"
                                      : "Histogram";
                         });

// Records a walk: families announced and series given (family + labels).
struct Recorder : PrometheusVisitor {
  void Family(const PrometheusFamilyView& family) override {
    current = std::string(family.name);
    families.push_back(current);
  }
  void Series(const PrometheusSeriesView& series) override {
    std::string key = current;
    for (const PrometheusLabel& label : series.labels) {
      key.append(",").append(label.name).append("=").append(label.value);
    }
    keys.push_back(key);
    ++since_check;
  }
  std::string current;
  std::vector<std::string> families;
  std::vector<std::string> keys;
  size_t since_check = 0;
};

Flush CountersFlush(int sequence, int first, int last) {
  auto s = std::make_shared<Snapshot>();
  s->sequence = sequence;
  s->flush_time = absl::FromUnixSeconds(1700000000 + sequence);
  for (int i = first; i < last; ++i) {
    // Ten families of many labeled series, so batches end inside families.
    s->series.push_back({.key = Key(static_cast<uint64_t>(i + 1), MetricType::kCounter,
                                    absl::StrCat("f", i % 10), absl::StrCat("k:", i)),
                         .value = 1});
  }
  return Flush{std::move(s), nullptr};
}

TEST(PrometheusStateBatchTest, BatchesAcrossFlushesGiveEachSeriesOnceAndEachFamilyOnce) {
  PrometheusState state({});
  state.Update(CountersFlush(1, 0, 1000));
  Recorder recorder;
  PrometheusState::Cursor cursor;
  int flush = 1;
  while (!cursor.done()) {
    state.VisitBatch(cursor, 37, recorder);
    // Between batches: series 0..499 go (missing), 1000..1499 come, in steps.
    ++flush;
    const int shift = std::min(500, 50 * (flush - 1));
    state.Update(CountersFlush(flush, shift, 1000 + shift));
  }
  std::set<std::string> unique_keys(recorder.keys.begin(), recorder.keys.end());
  EXPECT_EQ(unique_keys.size(), recorder.keys.size()) << "a series given twice";
  std::set<std::string> unique_families(recorder.families.begin(), recorder.families.end());
  EXPECT_EQ(unique_families.size(), recorder.families.size()) << "a family announced twice";
  EXPECT_EQ(recorder.families.size(), 10u);
  // Series present for the whole walk (500..999) are all given.
  for (int i = 500; i < 1000; ++i) {
    EXPECT_TRUE(unique_keys.contains(absl::StrCat("f", i % 10, ",k=", i))) << i;
  }
  // The order is the full walk's: families by name, series by labels.
  EXPECT_TRUE(std::is_sorted(recorder.families.begin(), recorder.families.end()));
}

TEST(PrometheusStateBatchTest, WholeVisitMatchesBatchedVisit) {
  PrometheusState state({});
  state.Update(CountersFlush(1, 0, 3000));
  Recorder whole, batched;
  state.Visit(whole);
  PrometheusState::Cursor cursor;
  while (!cursor.done()) state.VisitBatch(cursor, 100, batched);
  EXPECT_EQ(whole.keys.size(), 3000u);
  EXPECT_EQ(whole.keys, batched.keys);
  EXPECT_EQ(whole.families, batched.families);
}

// A scrape as the backend renders it: batches of 1024 series, then the text checked by promtool.
std::string RenderInBatches(const PrometheusState& state) {
  std::string text;
  PrometheusTextWriter writer(&text);
  PrometheusState::Cursor cursor;
  while (!cursor.done()) state.VisitBatch(cursor, 1024, writer);
  if (testing::PromtoolInstalled()) {
    EXPECT_THAT(testing::PromtoolParseErrors(text), ::testing::IsEmpty());
  }
  return text;
}

TEST(PrometheusStateFoldTest, AScrapeCompletesWhileALargeFlushIsFoldedIn) {
  PrometheusState state({});
  state.Update(CountersFlush(1, 0, 1000));
  // Flush 2: the same 1000 series and 200k new ones. Update pauses (the first time) once it
  // has published part of them, the rest still to be resolved, until the scrape below has
  // finished or given up.
  absl::Notification paused, resume;
  state.SetPauseForTesting([&] {
    if (paused.HasBeenNotified()) return;
    paused.Notify();
    resume.WaitForNotification();
  });
  std::thread fold([&] { state.Update(CountersFlush(2, 0, 201000)); });
  ASSERT_TRUE(paused.WaitForNotificationWithTimeout(absl::Seconds(120)));
  std::string during;
  absl::Notification scraped;
  std::thread scrape([&] {
    during = RenderInBatches(state);
    scraped.Notify();
  });
  // Bounded: a fold holding the state's lock would hold the scrape until `resume`.
  const bool answered = scraped.WaitForNotificationWithTimeout(absl::Seconds(60));
  resume.Notify();
  scrape.join();
  fold.join();
  ASSERT_TRUE(answered) << "the scrape waited for the fold";
  // The old series and part of the new ones, each with a value of flush 1 or 2.
  std::map<std::string, std::string> samples = Samples(during);
  EXPECT_GT(samples.size(), 1000u);
  EXPECT_LT(samples.size(), 201000u);
  EXPECT_EQ(samples["f7{k=\"7\"}"], "2");
  EXPECT_EQ(samples["f0{k=\"1000\"}"], "1");
  EXPECT_FALSE(samples.contains("f0{k=\"200990\"}"));

  samples = Samples(RenderInBatches(state));
  EXPECT_EQ(samples.size(), 201000u);
  EXPECT_EQ(samples["f7{k=\"7\"}"], "2");
  EXPECT_EQ(samples["f0{k=\"200990\"}"], "1");
}

}  // namespace
}  // namespace tallyd::backends
