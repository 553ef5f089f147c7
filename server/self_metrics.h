// tallyd's own metrics (SPEC 5): gathered on the flush thread from the workers' counters, the
// snapshot's stats and the backends' stats, as one list every backend receives with the flush.
#ifndef TALLYD_SERVER_SELF_METRICS_H_
#define TALLYD_SERVER_SELF_METRICS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "aggregator/snapshot.h"
#include "backends/backend.h"
#include "server/ingest_counters.h"

namespace tallyd::server {

struct BackendReport {
  std::string name;
  backends::BackendStats stats;
};

class SelfMetricsCollector {
 public:
  // Flush thread only. Per-flush figures in `snapshot` are added to running totals here.
  std::shared_ptr<const std::vector<backends::SelfMetric>> Collect(
      const std::vector<const IngestCounters*>& workers, const aggregator::Snapshot& snapshot,
      absl::Duration flush_duration, const std::vector<BackendReport>& backends,
      bool events_forwarded);

  // Flush thread only. A backend's runner has stopped for good (SIGHUP restarts the backends
  // when their settings change) and reports its last stats. They are carried over to whatever
  // runner later reports under the same name, so that the tallyd_backend_* counters never go
  // down (Prometheus counters are monotonic for the life of the process). Flushes the runner
  // still held are lost with it and counted as dropped.
  void RetireBackend(const BackendReport& last);

 private:
  // Totals of the retired runners, by backend name.
  std::map<std::string, backends::BackendStats> retired_backends_;
  uint64_t series_dropped_ = 0;
  uint64_t mapping_dropped_ = 0;
  uint64_t series_dropped_per_metric_ = 0;
  uint64_t overflows_ = 0;
  uint64_t points_dropped_ = 0;
  uint64_t events_dropped_ = 0;
  uint64_t events_[2] = {0, 0};  // [forwarded]
};

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_SELF_METRICS_H_
