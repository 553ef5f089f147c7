// SelfMetricsCollector: tallyd's own metrics as every backend receives them (SPEC 5).
#include "server/self_metrics.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tallyd::server {
namespace {

// The value of `name` with label backend=`backend`; -1 when absent.
double BackendValue(const std::vector<backends::SelfMetric>& metrics, const std::string& name,
                    const std::string& backend) {
  for (const backends::SelfMetric& m : metrics) {
    if (m.name == name && m.labels.size() == 1 && m.labels[0].second == backend) return m.value;
  }
  return -1;
}

backends::BackendStats Stats(uint64_t sent, uint64_t errors, uint64_t dropped, uint64_t queued) {
  backends::BackendStats stats;
  stats.sent = sent;
  stats.errors = errors;
  stats.dropped_flushes = dropped;
  stats.queued = queued;
  return stats;
}

TEST(SelfMetricsTest, BackendCountersGoOnFromARestartedRunnersTotals) {
  SelfMetricsCollector collector;
  aggregator::Snapshot snapshot;
  auto collect = [&](const std::vector<BackendReport>& reports) {
    return *collector.Collect({}, snapshot, absl::ZeroDuration(), reports, false);
  };
  auto before = collect({{"graphite", Stats(5, 2, 1, 0)}, {"console", Stats(7, 0, 0, 0)}});
  EXPECT_EQ(BackendValue(before, "tallyd_backend_sent_total", "graphite"), 5);

  // A reload restarts both; graphite's runner still held 2 undelivered flushes, lost with it.
  collector.RetireBackend({"graphite", Stats(6, 3, 1, 2)});
  collector.RetireBackend({"console", Stats(8, 0, 0, 0)});
  auto after = collect({{"graphite", Stats(1, 0, 0, 0)}, {"console", Stats(0, 0, 0, 0)}});
  EXPECT_EQ(BackendValue(after, "tallyd_backend_sent_total", "graphite"), 7);
  EXPECT_EQ(BackendValue(after, "tallyd_backend_errors_total", "graphite"), 3);
  EXPECT_EQ(BackendValue(after, "tallyd_backend_dropped_flushes_total", "graphite"), 3);
  EXPECT_EQ(BackendValue(after, "tallyd_backend_sent_total", "console"), 8);

  // A second restart adds up again; a backend turned off is not reported.
  collector.RetireBackend({"graphite", Stats(4, 1, 0, 0)});
  collector.RetireBackend({"console", Stats(2, 0, 0, 0)});
  auto again = collect({{"graphite", Stats(0, 0, 0, 0)}});
  EXPECT_EQ(BackendValue(again, "tallyd_backend_sent_total", "graphite"), 10);
  EXPECT_EQ(BackendValue(again, "tallyd_backend_errors_total", "graphite"), 4);
  EXPECT_EQ(BackendValue(again, "tallyd_backend_sent_total", "console"), -1);
  // Turned on again later, it goes on from its totals.
  auto back = collect({{"graphite", Stats(0, 0, 0, 0)}, {"console", Stats(1, 0, 0, 0)}});
  EXPECT_EQ(BackendValue(back, "tallyd_backend_sent_total", "console"), 11);
}

// Per-metric cap drops and held overflows add up across flushes; the per-name offenders are
// those of the last flush only (a bounded label set).
TEST(SelfMetricsTest, PerMetricDropsAndOverflowsAddUpTopNamesAreTheLastFlushs) {
  SelfMetricsCollector collector;
  aggregator::Snapshot snapshot;
  snapshot.stats.series_dropped_per_metric = 5;
  snapshot.stats.overflows = 2;
  snapshot.stats.series_dropped_top_names = {{"req", 4}, {"db", 1}};
  collector.Collect({}, snapshot, absl::ZeroDuration(), {}, false);
  snapshot.stats.series_dropped_per_metric = 3;
  snapshot.stats.overflows = 1;
  snapshot.stats.series_dropped_top_names = {{"db", 3}};
  auto metrics = *collector.Collect({}, snapshot, absl::ZeroDuration(), {}, false);
  auto value = [&](const std::string& name, const std::string& label) {
    for (const backends::SelfMetric& m : metrics) {
      if (m.name != name) continue;
      if (label.empty() ? m.labels.empty() : m.labels.size() == 1 && m.labels[0].second == label) {
        return m.value;
      }
    }
    return -1.0;
  };
  EXPECT_EQ(value("tallyd_series_dropped_per_metric_total", ""), 8);
  EXPECT_EQ(value("tallyd_overflows_total", ""), 3);
  EXPECT_EQ(value("tallyd_series_dropped_per_metric_top", "db"), 3);
  EXPECT_EQ(value("tallyd_series_dropped_per_metric_top", "req"), -1);
}

// Each worker's share: its own datagrams (UDP and Unix, not TCP reads) and accepted lines, by
// worker index, so that a dashboard shows how the input spreads.
TEST(SelfMetricsTest, EachWorkersDatagramsAndLinesAreItsOwn) {
  IngestCounters first, second;
  first.packets[static_cast<int>(Transport::kUdp)].Add(5);
  first.packets[static_cast<int>(Transport::kUnix)].Add(2);
  first.packets[static_cast<int>(Transport::kTcp)].Add(100);
  first.lines[static_cast<int>(protocol::MetricType::kCounter)].Add(30);
  first.lines[static_cast<int>(protocol::MetricType::kGauge)].Add(4);
  second.packets[static_cast<int>(Transport::kUdp)].Add(11);
  second.lines[static_cast<int>(protocol::MetricType::kTimer)].Add(9);
  SelfMetricsCollector collector;
  aggregator::Snapshot snapshot;
  auto metrics = *collector.Collect({&first, &second}, snapshot, absl::ZeroDuration(), {}, false);
  auto value = [&](const std::string& name, const std::string& worker) {
    for (const backends::SelfMetric& m : metrics) {
      if (m.name == name && m.labels.size() == 1 && m.labels[0].first == "worker" &&
          m.labels[0].second == worker) {
        return m.value;
      }
    }
    return -1.0;
  };
  EXPECT_EQ(value("tallyd_worker_datagrams_total", "0"), 7);
  EXPECT_EQ(value("tallyd_worker_datagrams_total", "1"), 11);
  EXPECT_EQ(value("tallyd_worker_lines_total", "0"), 34);
  EXPECT_EQ(value("tallyd_worker_lines_total", "1"), 9);
  EXPECT_EQ(value("tallyd_worker_datagrams_total", "2"), -1);
}

}  // namespace
}  // namespace tallyd::server
