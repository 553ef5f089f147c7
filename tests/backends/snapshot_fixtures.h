// tests/backends/snapshot_fixtures.h: hand-built snapshot pieces the backend tests share (the
// formatters and backends read a Snapshot; these tests build one without an aggregator).
#ifndef TALLYD_TESTS_BACKENDS_SNAPSHOT_FIXTURES_H_
#define TALLYD_TESTS_BACKENDS_SNAPSHOT_FIXTURES_H_

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "aggregator/series_key.h"
#include "aggregator/snapshot.h"

namespace tallyd::backends::fixtures {

inline aggregator::SeriesKeyRef Key(uint64_t id, aggregator::MetricType type, std::string_view name,
                                    std::string_view tags = "") {
  return aggregator::SeriesKey::Make(id, type, name, tags);
}

// Flush 1 at unix time `ts`, a 10 s interval, nothing in it yet.
inline aggregator::Snapshot BaseSnapshot(int64_t ts = 1700000000) {
  aggregator::Snapshot s;
  s.sequence = 1;
  s.flush_unix_seconds = ts;
  s.interval = absl::Seconds(10);
  return s;
}

// Etsy's stats of the samples 1, 2, 3, 4 received at `sample_rate` over 10 s, with the given
// per-percentile values (parallel to the snapshot's percentile specs).
inline aggregator::SampleSummary OneToFour(double sample_rate,
                                           std::vector<aggregator::PercentileValue> percentiles) {
  aggregator::SampleSummary summary;
  summary.count = 4 / sample_rate;
  summary.count_ps = summary.count / 10;
  summary.sum = 10;
  summary.sum_squares = 30;
  summary.lower = 1;
  summary.upper = 4;
  summary.mean = 2.5;
  summary.median = 2.5;
  summary.std = 1.118033988749895;
  summary.samples = 4;
  summary.percentiles = std::move(percentiles);
  return summary;
}

}  // namespace tallyd::backends::fixtures

#endif  // TALLYD_TESTS_BACKENDS_SNAPSHOT_FIXTURES_H_
