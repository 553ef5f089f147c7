// mapping/mapping.h: Prometheus statsd_exporter's mapping file (SPEC 7), loaded, validated and
// matched. A Mapping is immutable once loaded and shared by pointer between the worker threads;
// the shards consult it when a line would create a series (never per line of a known series).
//
//   absl::StatusOr<std::shared_ptr<const Mapping>> m = LoadMappingFile("statsd_mapping.yml");
//   MatchResult r;
//   (*m)->Match("test.dispatcher.Foo.send.ok", protocol::MetricType::kCounter, &r);
//   // r.action == kMap, r.name == "dispatcher_events_total", r.labels, r.options
// Glob rules are matched by a DFA over the dot-separated components (one hash lookup per
// component, whatever the number of rules); regex rules by RE2, in file order, after the globs
// (as statsd_exporter does: its FSM answers first).
#ifndef TALLYD_MAPPING_MAPPING_H_
#define TALLYD_MAPPING_MAPPING_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "protocol/parser.h"

namespace re2 {
class RE2;
}

namespace tallyd::mapping {

class GlobMatcher;

// statsd_exporter's observer_type (older: timer_type). kDefault: the backend's own timer_type.
enum class ObserverType : uint8_t { kDefault, kSummary, kHistogram };

struct Objective {
  double quantile = 0;
  double error = 0;
  bool operator==(const Objective&) const = default;
};

// What one rule (or the file's defaults, for names no rule matches) says about the series it
// creates, for the backends to use. Empty lists and zero durations mean "the backend's own".
// The loader guarantees: buckets strictly increasing (no +Inf: it is implicit; a first -Inf is
// allowed, as client_golang allows it), quantile levels and errors within [0, 1] (in file
// order, possibly repeated), ttl and summary_max_age never negative.
struct SeriesOptions {
  ObserverType observer_type = ObserverType::kDefault;
  std::vector<Objective> quantiles;           // summary_options.quantiles / quantiles
  absl::Duration summary_max_age;             // summary_options.max_age
  uint32_t summary_age_buckets = 0;           // summary_options.age_buckets
  uint32_t summary_buf_cap = 0;               // summary_options.buf_cap
  std::vector<double> buckets;                // histogram_options.buckets / buckets
  double native_histogram_bucket_factor = 0;  // accepted, not used by tallyd
  uint32_t native_histogram_max_buckets = 0;  // accepted, not used by tallyd
  absl::Duration ttl;                         // 0: the server's series_ttl; never negative
  std::string help;
  bool honor_labels = false;    // a line's own tag wins over a mapped label of the same name
  std::optional<double> scale;  // observers' values are multiplied by it (statsd_exporter)
  // For logs: the rule's index in `mappings:` (-1 for the defaults) and its match.
  int rule_index = -1;
  std::string match;
};

enum class Action : uint8_t { kNoMatch, kMap, kDrop };

// One name's fate. Reused between calls: Match() overwrites every field.
struct MatchResult {
  Action action = Action::kNoMatch;
  std::string name;                                         // kMap: expanded; may be empty
  std::vector<std::pair<std::string, std::string>> labels;  // kMap: sorted by name
  // kMap: the rule's options; kNoMatch: the defaults'. Keeps the Mapping alive.
  std::shared_ptr<const SeriesOptions> options;
};

class Mapping : public std::enable_shared_from_this<Mapping> {
 public:
  ~Mapping();
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  // Parses and validates a statsd_exporter mapping file's text; `filename` names it in errors,
  // which also give the line and the rule (index and match).
  static absl::StatusOr<std::shared_ptr<const Mapping>> Parse(std::string_view yaml,
                                                              std::string_view filename);

  // The first rule (as statsd_exporter orders them) matching `name` of `type`. Thread-safe.
  void Match(std::string_view name, protocol::MetricType type, MatchResult* out) const;

  size_t rule_count() const;
  bool glob_disable_ordering() const { return glob_disable_ordering_; }
  // Whether the glob rules are matched through a DFA (false: the DFA would have been too large
  // for this file and the trie is walked state set by state set, still linear in the name).
  bool glob_uses_dfa() const;

 private:
  struct Template;
  struct Rule;
  Mapping();
  friend class MappingLoader;

  std::vector<Rule> rules_;
  std::vector<uint32_t> regex_rules_;  // indexes into rules_, file order
  std::unique_ptr<GlobMatcher> globs_;
  std::shared_ptr<const SeriesOptions> defaults_;
  bool glob_disable_ordering_ = false;
};

// Reads and parses `path`.
absl::StatusOr<std::shared_ptr<const Mapping>> LoadMappingFile(const std::string& path);

}  // namespace tallyd::mapping

#endif  // TALLYD_MAPPING_MAPPING_H_
