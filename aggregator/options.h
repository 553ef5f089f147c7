// aggregator/options.h: the knobs of SPEC section 3 ("aggregation:" in the config file).
//
// The server's config module fills one Options and hands it to Aggregator; shards get their copy
// from the aggregator. Every limit here has a counter in FlushStats for when it bites.
#ifndef TALLYD_AGGREGATOR_OPTIONS_H_
#define TALLYD_AGGREGATOR_OPTIONS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "mapping/mapping.h"

namespace tallyd::aggregator {

enum class GaugeMode {
  kDogStatsd,  // every value is absolute
  kEtsy,       // a leading '+'/'-' changes an existing gauge (Etsy statsd)
};

struct Options {
  // Percentiles reported for timers, histograms and distributions. A negative p is Etsy's "top"
  // percentile (lower_topP over the largest samples); fractional values are allowed (99.9).
  std::vector<double> percentiles = {50, 90, 95, 99};
  // Samples kept exactly per series per interval (and per shard) before switching to a sketch.
  size_t exact_samples = 8192;
  // Relative accuracy of the DDSketch used beyond exact_samples.
  double sketch_accuracy = 0.01;
  // Distinct set values kept exactly per series per interval before switching to HyperLogLog.
  size_t exact_set_size = 4096;
  GaugeMode gauge_mode = GaugeMode::kDogStatsd;
  // A series idle this long is forgotten (counters stop reporting 0, gauges their last value).
  absl::Duration series_ttl = absl::Minutes(5);
  // Live series at most, for the whole process whatever the number of workers (SeriesRegistry):
  // a line that would create one more is dropped and counted (series_dropped).
  size_t max_series = 1'000'000;
  // Live series of one metric name at most (whatever their types and tags), process-wide; 0 = no
  // limit. Samples for a new series of a name at its limit are dropped and
  // counted by name; the name's existing series keep working, and its budget frees as they expire.
  size_t max_series_per_metric = 0;
  // Added to every series and event: "key:value" or a bare "key". A line's own tag with the same
  // key wins.
  std::vector<std::string> global_tags;
  // Client-timestamped points (|T) kept per shard per interval; the rest are dropped and counted.
  size_t max_timestamped_points = 100'000;
  // Events and service checks kept per shard per interval (each); the rest are dropped, counted.
  size_t max_events = 10'000;
  // statsd_exporter's mapping rules (SPEC 7), null without a mapping file. Consulted when a line
  // would create a series; a new pointer (SIGHUP) applies to series created from then on.
  std::shared_ptr<const mapping::Mapping> mapping;
};

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_OPTIONS_H_
