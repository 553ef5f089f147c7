// Loading a statsd_exporter mapping file: its YAML read as statsd_exporter's Go structs read it
// (gopkg.in/yaml.v2, not strict: unknown keys are ignored, a repeated key's last value wins, a
// null is the zero value, a wrong type or an unknown enum value is an error), then its
// InitFromYAMLString checks, in the same order, plus the values client_golang would only refuse
// (or panic on) when a series uses them, with file, line and the rule named in every message.
#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "mapping/mapping.h"
#include "mapping/mapping_internal.h"

namespace tallyd::mapping {
namespace {

// statsd_exporter's own patterns (pkg/mapper/mapper.go): a glob is `*` or a name per
// component, the first not starting with a digit; a `name` is a Prometheus name with `$n`
// references; a label name as Prometheus'.
const re2::RE2& GlobRe() {
  static const re2::RE2 re(R"(^(\*|[a-zA-Z_][a-zA-Z0-9_-]*)(\.\*|\.[a-zA-Z0-9_][a-zA-Z0-9_-]*)*$)");
  return re;
}
const re2::RE2& NameRe() {
  static const re2::RE2 re(R"(^([a-zA-Z_]|(\$\{?\d+\}?))([a-zA-Z0-9_]|(\$\{?\d+\}?))*$)");
  return re;
}
const re2::RE2& LabelRe() {
  static const re2::RE2 re(R"(^[a-zA-Z_][a-zA-Z0-9_]*$)");
  return re;
}

// Thrown inside the loader only, turned into an absl::Status at its boundary.
struct LoadError {
  int line;
  std::string message;
};

int LineOf(const YAML::Node& node) { return node.Mark().line + 1; }

[[noreturn]] void Fail(const YAML::Node& node, std::string message) {
  throw LoadError{LineOf(node), std::move(message)};
}

// `map[key]` as yaml.v2 reads a struct field or a map entry: a key given twice takes its last
// value (yaml-cpp's operator[] would answer the first). Undefined (false) when absent.
YAML::Node Field(const YAML::Node& map, std::string_view key) {
  // Copies, not YAML::Node::operator=, which would rebind the node and merge memory pools.
  std::optional<YAML::Node> found;
  if (map.IsMap()) {
    for (const auto& kv : map) {
      if (kv.first.IsScalar() && kv.first.Scalar() == key) found.emplace(kv.second);
    }
  }
  return found ? *found : YAML::Node(YAML::NodeType::Undefined);
}

// Given with a value: yaml.v2 leaves a field that is absent or null (`key:`, `key: ~`) at its
// zero value, which the checks below read as "not set".
bool Present(const YAML::Node& node) { return node.IsDefined() && !node.IsNull(); }

// The scalar readers give a null its Go zero value, as yaml.v2 does.
std::string ScalarOf(const YAML::Node& node, absl::string_view key) {
  if (node.IsNull()) return "";
  if (!node.IsScalar()) Fail(node, absl::StrCat("`", key, "` must be a string"));
  return node.Scalar();
}

bool BoolOf(const YAML::Node& node, absl::string_view key) {
  if (node.IsNull()) return false;
  const std::string s = node.IsScalar() ? node.Scalar() : "";
  // yaml.v2 reads YAML 1.1 booleans.
  for (const char* t : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"}) {
    if (s == t) return true;
  }
  for (const char* f :
       {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"}) {
    if (s == f) return false;
  }
  Fail(node, absl::StrCat("`", key, "` must be true or false, not \"", s, "\""));
}

double NumberOf(const YAML::Node& node, absl::string_view key) {
  if (node.IsNull()) return 0;
  double v;
  const std::string s = node.IsScalar() ? node.Scalar() : "";
  // YAML 1.1's spellings of infinity, which yaml.v2 reads as floats.
  const bool negative = !s.empty() && s[0] == '-';
  const std::string unsigned_s = !s.empty() && (s[0] == '-' || s[0] == '+') ? s.substr(1) : s;
  if (unsigned_s == ".inf" || unsigned_s == ".Inf" || unsigned_s == ".INF") {
    return negative ? -HUGE_VAL : HUGE_VAL;
  }
  if (!node.IsScalar() || !absl::SimpleAtod(s, &v) || std::isnan(v)) {
    Fail(node, absl::StrCat("`", key, "` must be a number"));
  }
  return v;
}

uint32_t Uint32Of(const YAML::Node& node, absl::string_view key) {
  if (node.IsNull()) return 0;
  uint32_t v;
  if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), &v)) {
    Fail(node, absl::StrCat("`", key, "` must be a non-negative integer"));
  }
  return v;
}

// A Go time.Duration as yaml.v2 reads one: an integer is nanoseconds, a string is
// time.ParseDuration's ("1m20s", "1.5h", "300ms", "2us", "0").
absl::Duration DurationOf(const YAML::Node& node, absl::string_view key) {
  if (node.IsNull()) return absl::ZeroDuration();
  const std::string bad = absl::StrCat("`", key, "` must be a duration like 1m20s");
  if (!node.IsScalar()) Fail(node, bad);
  std::string_view s = node.Scalar();
  int64_t ns;
  if (absl::SimpleAtoi(absl::string_view(s.data(), s.size()), &ns)) return absl::Nanoseconds(ns);
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) Fail(node, bad);
  absl::Duration total;
  while (!s.empty()) {
    size_t n = 0;
    while (n < s.size() && (absl::ascii_isdigit(static_cast<unsigned char>(s[n])) || s[n] == '.')) {
      ++n;
    }
    double value;
    if (n == 0 || !absl::SimpleAtod(absl::string_view(s.data(), n), &value)) Fail(node, bad);
    s.remove_prefix(n);
    size_t u = 0;
    while (u < s.size() && !absl::ascii_isdigit(static_cast<unsigned char>(s[u])) && s[u] != '.') {
      ++u;
    }
    const std::string_view unit = s.substr(0, u);
    s.remove_prefix(u);
    absl::Duration scale;
    if (unit == "ns") {
      scale = absl::Nanoseconds(1);
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {
      scale = absl::Microseconds(1);
    } else if (unit == "ms") {
      scale = absl::Milliseconds(1);
    } else if (unit == "s") {
      scale = absl::Seconds(1);
    } else if (unit == "m") {
      scale = absl::Minutes(1);
    } else if (unit == "h") {
      scale = absl::Hours(1);
    } else {
      Fail(node, bad);
    }
    total += value * scale;
  }
  return negative ? -total : total;
}

// Histogram bounds as client_golang takes them (statsd_exporter panics on the first series
// that uses a bad list; tallyd refuses the file): strictly increasing, a last +Inf being the
// implicit +Inf bucket, so dropped.
std::vector<double> BucketsOf(const YAML::Node& node, absl::string_view key) {
  if (!node.IsSequence() && !node.IsNull()) Fail(node, absl::StrCat("`", key, "` must be a list"));
  std::vector<double> out;
  for (const YAML::Node& v : node) {
    const double bound = NumberOf(v, key);
    if (!out.empty() && !(bound > out.back())) {
      Fail(v,
           absl::StrCat("`", key, "` must be strictly increasing: ", bound, " after ", out.back()));
    }
    out.push_back(bound);
  }
  if (!out.empty() && out.back() == HUGE_VAL) out.pop_back();
  return out;
}

// Summary objectives {quantile, error}: a quantile is a fraction of the samples and its error
// an allowed rank error, so both lie in [0, 1] (client_golang does not check, and a level
// outside it would be exposed as such).
std::vector<Objective> ObjectivesOf(const YAML::Node& node, absl::string_view key) {
  if (!node.IsSequence() && !node.IsNull()) Fail(node, absl::StrCat("`", key, "` must be a list"));
  std::vector<Objective> out;
  for (const YAML::Node& q : node) {
    if (!q.IsMap()) Fail(q, absl::StrCat("`", key, "` entries are {quantile: q, error: e}"));
    Objective& o = out.emplace_back();
    for (auto [field, value] : {std::pair{"quantile", &o.quantile}, std::pair{"error", &o.error}}) {
      const YAML::Node v = Field(q, field);
      if (!v) continue;
      *value = NumberOf(v, field);
      if (!(*value >= 0 && *value <= 1)) {
        Fail(v, absl::StrCat("`", key, "` ", field, " ", *value, " is outside [0, 1]"));
      }
    }
  }
  return out;
}

// Reads one enum value; "" (or absent) is the type's default.
template <typename E>
E EnumOf(const YAML::Node& node, absl::string_view key,
         std::initializer_list<std::pair<std::string_view, E>> names, absl::string_view what) {
  const std::string s = ScalarOf(node, key);
  for (const auto& [name, value] : names) {
    if (s == name) return value;
  }
  Fail(node, absl::StrCat("invalid ", what, " \"", s, "\""));
}

ObserverType ObserverTypeOf(const YAML::Node& node, absl::string_view key) {
  return EnumOf<ObserverType>(node, key,
                              {{"", ObserverType::kDefault},
                               {"summary", ObserverType::kSummary},
                               {"histogram", ObserverType::kHistogram}},
                              "observer type");
}

bool IsRegex(const YAML::Node& node) {
  return EnumOf<bool>(node, "match_type", {{"", false}, {"glob", false}, {"regex", true}},
                      "match type");
}

// The keys statsd_exporter's structs read (the rest are ignored, as yaml.v2 ignores them).
struct SummaryBlock {
  std::vector<Objective> quantiles;
  bool has_quantiles = false;
  absl::Duration max_age;
  uint32_t age_buckets = 0;
  uint32_t buf_cap = 0;
};
SummaryBlock SummaryOf(const YAML::Node& node) {
  SummaryBlock b;
  if (!node.IsMap() && !node.IsNull()) Fail(node, "`summary_options` must be a map");
  if (const YAML::Node q = Field(node, "quantiles")) {
    b.quantiles = ObjectivesOf(q, "summary_options.quantiles");
    b.has_quantiles = Present(q);
  }
  if (const YAML::Node v = Field(node, "max_age")) {
    b.max_age = DurationOf(v, "summary_options.max_age");
    // client_golang panics on a negative MaxAge when the first series is created.
    if (b.max_age < absl::ZeroDuration()) Fail(v, "`summary_options.max_age` must not be negative");
  }
  if (const YAML::Node v = Field(node, "age_buckets")) b.age_buckets = Uint32Of(v, "age_buckets");
  if (const YAML::Node v = Field(node, "buf_cap")) b.buf_cap = Uint32Of(v, "buf_cap");
  return b;
}
struct HistogramBlock {
  std::vector<double> buckets;
  bool has_buckets = false;
  double factor = 0;
  uint32_t max_buckets = 0;
};
HistogramBlock HistogramOf(const YAML::Node& node) {
  HistogramBlock b;
  if (!node.IsMap() && !node.IsNull()) Fail(node, "`histogram_options` must be a map");
  if (const YAML::Node v = Field(node, "buckets")) {
    b.buckets = BucketsOf(v, "histogram_options.buckets");
    b.has_buckets = Present(v);
  }
  if (const YAML::Node v = Field(node, "native_histogram_bucket_factor")) {
    b.factor = NumberOf(v, "native_histogram_bucket_factor");
  }
  if (const YAML::Node v = Field(node, "native_histogram_max_buckets")) {
    b.max_buckets = Uint32Of(v, "native_histogram_max_buckets");
  }
  return b;
}

}  // namespace

class MappingLoader {
 public:
  static absl::StatusOr<std::shared_ptr<const Mapping>> Load(std::string_view text,
                                                             std::string_view filename);

 private:
  static void LoadDefaults(const YAML::Node& node, Mapping& m, bool* regex_default);
  static void LoadRule(const YAML::Node& node, int index, bool regex_default,
                       const SeriesOptions& defaults, Mapping& m);
};

void MappingLoader::LoadDefaults(const YAML::Node& node, Mapping& m, bool* regex_default) {
  auto d = std::make_shared<SeriesOptions>();
  if (!Present(node)) {
    m.defaults_ = std::move(d);
    return;
  }
  if (!node.IsMap()) Fail(node, "`defaults` must be a map");
  if (const YAML::Node v = Field(node, "match_type")) *regex_default = IsRegex(v);
  if (const YAML::Node v = Field(node, "glob_disable_ordering")) {
    m.glob_disable_ordering_ = BoolOf(v, "glob_disable_ordering");
  }
  if (const YAML::Node v = Field(node, "observer_type")) {
    d->observer_type = ObserverTypeOf(v, "observer_type");
  }
  if (const YAML::Node v = Field(node, "timer_type");
      v && d->observer_type == ObserverType::kDefault) {
    d->observer_type = ObserverTypeOf(v, "timer_type");
  }
  // A negative ttl never expires in statsd_exporter, as 0 does: here both mean series_ttl.
  if (const YAML::Node v = Field(node, "ttl")) {
    d->ttl = std::max(DurationOf(v, "ttl"), absl::ZeroDuration());
  }
  // The older top-level spellings, then the option blocks (the blocks win, as statsd_exporter's
  // defaults unmarshaling lets them).
  if (const YAML::Node v = Field(node, "buckets")) d->buckets = BucketsOf(v, "buckets");
  if (const YAML::Node v = Field(node, "quantiles")) d->quantiles = ObjectivesOf(v, "quantiles");
  if (const YAML::Node v = Field(node, "summary_options")) {
    SummaryBlock s = SummaryOf(v);
    if (s.has_quantiles && !s.quantiles.empty()) d->quantiles = std::move(s.quantiles);
    d->summary_max_age = s.max_age;
    d->summary_age_buckets = s.age_buckets;
    d->summary_buf_cap = s.buf_cap;
  }
  if (const YAML::Node v = Field(node, "histogram_options")) {
    HistogramBlock h = HistogramOf(v);
    if (h.has_buckets && !h.buckets.empty()) d->buckets = std::move(h.buckets);
    d->native_histogram_bucket_factor = h.factor;
    d->native_histogram_max_buckets = h.max_buckets;
  }
  m.defaults_ = std::move(d);
}

void MappingLoader::LoadRule(const YAML::Node& node, int index, bool regex_default,
                             const SeriesOptions& defaults, Mapping& m) {
  if (!node.IsMap()) Fail(node, "a mapping must be a map with `match` and `name`");
  Mapping::Rule& rule = m.rules_.emplace_back();
  rule.index = index;
  rule.line = LineOf(node);
  const YAML::Node match_node = Field(node, "match");
  const std::string match = match_node ? ScalarOf(match_node, "match") : "";
  rule.options.rule_index = index;
  rule.options.match = match;

  // statsd_exporter's checks, in its order.
  std::vector<std::pair<std::string, std::string>> labels;
  if (const YAML::Node l = Field(node, "labels"); Present(l)) {
    if (!l.IsMap()) Fail(l, "`labels` must be a map of label name to value");
    for (const auto& kv : l) {
      const std::string key = ScalarOf(kv.first, "labels");
      if (!re2::RE2::FullMatch(key, LabelRe())) Fail(kv.first, "invalid label key: " + key);
      // Prometheus keeps `__` names for itself; client_golang refuses a metric that has one,
      // so statsd_exporter would never export the rule's series.
      if (absl::StartsWith(key, "__")) {
        Fail(kv.first, "invalid label key: " + key + " (names starting with __ are reserved)");
      }
      // A key given twice is one label, its last value (yaml.v2 reads labels into a Go map).
      const std::string value = ScalarOf(kv.second, key);
      auto same = std::find_if(labels.begin(), labels.end(),
                               [&](const auto& label) { return label.first == key; });
      if (same != labels.end()) {
        same->second = value;
      } else {
        labels.emplace_back(key, value);
      }
    }
  }
  const YAML::Node name_node = Field(node, "name");
  const std::string name = name_node ? ScalarOf(name_node, "name") : "";
  if (name.empty()) Fail(node, "metric mapping didn't set a metric name");
  if (!re2::RE2::FullMatch(name, NameRe())) {
    Fail(name_node, "metric name '" + name +
                        "' is not a valid metric name (letters, digits, "
                        "'_', $n references; not starting with a digit)");
  }
  const YAML::Node match_type = Field(node, "match_type");
  rule.regex = match_type ? IsRegex(match_type) : regex_default;
  if (const YAML::Node v = Field(node, "action")) {
    rule.action = EnumOf<Action>(
        v, "action", {{"", Action::kMap}, {"map", Action::kMap}, {"drop", Action::kDrop}},
        "action type");
  }
  if (const YAML::Node v = Field(node, "match_metric_type")) {
    rule.type_mask = EnumOf<uint8_t>(v, "match_metric_type",
                                     {{"", 0xff},
                                      {"counter", 1u << kCounterClass},
                                      {"gauge", 1u << kGaugeClass},
                                      {"observer", 1u << kObserverClass},
                                      {"timer", 1u << kObserverClass}},
                                     "metric type");
  }
  int captures = 0;
  if (!rule.regex) {
    if (!re2::RE2::FullMatch(match, GlobRe())) {
      Fail(match_node ? match_node : node, "invalid match: " + match);
    }
    int component = 0;
    for (absl::string_view c : absl::StrSplit(match, '.')) {
      if (c == "*") rule.star_components.push_back(component);
      ++component;
    }
    captures = static_cast<int>(rule.star_components.size());
    rule.name = Mapping::Template::ForGlob(name, captures);
    for (auto& [k, v] : labels)
      rule.labels.emplace_back(k, Mapping::Template::ForGlob(v, captures));
  } else {
    re2::RE2::Options options;
    options.set_log_errors(false);
    rule.re = std::make_unique<re2::RE2>(match, options);
    if (!rule.re->ok()) {
      Fail(match_node ? match_node : node,
           "invalid regex " + match + " in mapping: " + rule.re->error());
    }
    rule.name = Mapping::Template::ForRegex(name, *rule.re);
    for (auto& [k, v] : labels)
      rule.labels.emplace_back(k, Mapping::Template::ForRegex(v, *rule.re));
  }
  std::sort(rule.labels.begin(), rule.labels.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });

  SeriesOptions& o = rule.options;
  o.observer_type = ObserverType::kDefault;
  if (const YAML::Node v = Field(node, "observer_type")) {
    o.observer_type = ObserverTypeOf(v, "observer_type");
  }
  if (const YAML::Node v = Field(node, "timer_type");
      v && o.observer_type == ObserverType::kDefault) {
    o.observer_type = ObserverTypeOf(v, "timer_type");
  }
  if (o.observer_type == ObserverType::kDefault) o.observer_type = defaults.observer_type;
  const YAML::Node legacy_quantiles_node = Field(node, "quantiles");
  const YAML::Node legacy_buckets_node = Field(node, "buckets");
  const YAML::Node summary_node = Field(node, "summary_options");
  const YAML::Node histogram_node = Field(node, "histogram_options");
  std::vector<Objective> legacy_quantiles;
  std::vector<double> legacy_buckets;
  if (legacy_quantiles_node) legacy_quantiles = ObjectivesOf(legacy_quantiles_node, "quantiles");
  if (legacy_buckets_node) legacy_buckets = BucketsOf(legacy_buckets_node, "buckets");
  const bool has_summary = Present(summary_node);
  const bool has_histogram = Present(histogram_node);
  SummaryBlock summary = has_summary ? SummaryOf(summary_node) : SummaryBlock{};
  HistogramBlock histogram = has_histogram ? HistogramOf(histogram_node) : HistogramBlock{};
  if (has_summary && Present(legacy_quantiles_node) && summary.has_quantiles) {
    Fail(node, "cannot use quantiles in both the top level and summary options at the same time");
  }
  if (has_histogram && Present(legacy_buckets_node) && histogram.has_buckets) {
    Fail(node, "cannot use buckets in both the top level and histogram options at the same time");
  }
  if (o.observer_type == ObserverType::kHistogram && has_summary) {
    Fail(node, "cannot use histogram observer and summary options at the same time");
  }
  if (o.observer_type == ObserverType::kSummary && has_histogram) {
    Fail(node, "cannot use summary observer and histogram options at the same time");
  }
  o.quantiles = !legacy_quantiles.empty()    ? std::move(legacy_quantiles)
                : !summary.quantiles.empty() ? std::move(summary.quantiles)
                                             : defaults.quantiles;
  o.buckets = !legacy_buckets.empty()      ? std::move(legacy_buckets)
              : !histogram.buckets.empty() ? std::move(histogram.buckets)
                                           : defaults.buckets;
  o.summary_max_age =
      summary.max_age != absl::ZeroDuration() ? summary.max_age : defaults.summary_max_age;
  o.summary_age_buckets =
      summary.age_buckets != 0 ? summary.age_buckets : defaults.summary_age_buckets;
  o.summary_buf_cap = summary.buf_cap != 0 ? summary.buf_cap : defaults.summary_buf_cap;
  o.native_histogram_bucket_factor =
      histogram.factor != 0 ? histogram.factor : defaults.native_histogram_bucket_factor;
  o.native_histogram_max_buckets =
      histogram.max_buckets != 0 ? histogram.max_buckets : defaults.native_histogram_max_buckets;
  const YAML::Node ttl = Field(node, "ttl");
  o.ttl = ttl ? DurationOf(ttl, "ttl") : absl::ZeroDuration();
  if (o.ttl == absl::ZeroDuration()) o.ttl = defaults.ttl;  // Go's zero: "not set"
  // A negative ttl is statsd_exporter's "never expires", as 0 is: here, series_ttl. Only after
  // the defaults' fallback, which a negative ttl does not take.
  o.ttl = std::max(o.ttl, absl::ZeroDuration());
  if (const YAML::Node v = Field(node, "help")) o.help = ScalarOf(v, "help");
  if (const YAML::Node v = Field(node, "honor_labels")) o.honor_labels = BoolOf(v, "honor_labels");
  if (const YAML::Node v = Field(node, "scale"); Present(v)) o.scale = NumberOf(v, "scale");
}

absl::StatusOr<std::shared_ptr<const Mapping>> MappingLoader::Load(std::string_view text,
                                                                   std::string_view filename_view) {
  const absl::string_view filename(filename_view.data(), filename_view.size());
  std::shared_ptr<Mapping> m(new Mapping());
  int index = -1;
  std::string match;
  try {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(filename, ":", e.mark.line + 1, ": ", e.msg));
    }
    if (root && !root.IsNull() && !root.IsMap()) Fail(root, "a mapping file is a map");
    bool regex_default = false;
    LoadDefaults(Field(root, "defaults"), *m, &regex_default);
    const YAML::Node mappings = Field(root, "mappings");
    if (Present(mappings) && !mappings.IsSequence()) Fail(mappings, "`mappings` must be a list");
    if (Present(mappings)) {
      for (const YAML::Node& rule : mappings) {
        ++index;
        const YAML::Node rule_match = Field(rule, "match");
        match = rule_match.IsScalar() ? rule_match.Scalar() : "";
        LoadRule(rule, index, regex_default, *m->defaults_, *m);
      }
    }
    index = -1;
  } catch (const LoadError& e) {
    std::string where = absl::StrCat(filename, ":", e.line, ": ");
    if (index >= 0) absl::StrAppend(&where, "mappings[", index, "] (match \"", match, "\"): ");
    return absl::InvalidArgumentError(where + e.message);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(filename, ":", e.mark.line + 1, ": ", e.msg));
  }
  bool any_glob = false;
  for (const Mapping::Rule& r : m->rules_) any_glob |= !r.regex;
  if (any_glob) {
    m->globs_ = std::make_unique<GlobMatcher>();
    for (const Mapping::Rule& r : m->rules_) {
      if (!r.regex) m->globs_->Add(r.options.match, r.index, r.type_mask);
    }
    m->globs_->Build(!m->glob_disable_ordering_);
  }
  for (const Mapping::Rule& r : m->rules_) {
    if (r.regex) m->regex_rules_.push_back(static_cast<uint32_t>(r.index));
  }
  return std::shared_ptr<const Mapping>(std::move(m));
}

absl::StatusOr<std::shared_ptr<const Mapping>> Mapping::Parse(std::string_view yaml,
                                                              std::string_view filename) {
  return MappingLoader::Load(yaml, filename);
}

absl::StatusOr<std::shared_ptr<const Mapping>> LoadMappingFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(path + ": cannot read the mapping file");
  std::stringstream text;
  text << in.rdbuf();
  return Mapping::Parse(text.str(), path);
}

}  // namespace tallyd::mapping
