// statsd_exporter's mapping behaviour, from its README and pkg/mapper tests: ordering, $n and
// ${n} expansion, regex groups, match_metric_type, drop, ttl, option precedence, invalid files.
#include "mapping/mapping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/common/temp_dir.h"

namespace tallyd::mapping {
namespace {

using protocol::MetricType;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

std::shared_ptr<const Mapping> MustParse(std::string_view yaml) {
  absl::StatusOr<std::shared_ptr<const Mapping>> m = Mapping::Parse(yaml, "test.yml");
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : nullptr;
}

MatchResult MatchOf(const Mapping& m, std::string_view name,
                    MetricType type = MetricType::kCounter) {
  MatchResult r;
  m.Match(name, type, &r);
  return r;
}

std::string ErrorOf(std::string_view yaml) {
  absl::StatusOr<std::shared_ptr<const Mapping>> m = Mapping::Parse(yaml, "bad.yml");
  EXPECT_FALSE(m.ok());
  return m.ok() ? "" : std::string(m.status().message());
}

constexpr std::string_view kReadmeExample = R"(
mappings:
- match: test.dispatcher.*.*.*
  name: "dispatcher_events_total"
  labels:
    processor: "$1"
    action: "$2"
    outcome: "$3"
    job: "test_dispatcher"
- match: "*.signup.*.*"
  name: "signup_events_total"
  labels:
    provider: "$2"
    outcome: "$3"
    job: "${1}_server"
)";

TEST(MappingTest, ReadmeGlobExample) {
  auto m = MustParse(kReadmeExample);
  MatchResult r = MatchOf(*m, "test.dispatcher.FooProcessor.send.success");
  EXPECT_EQ(r.action, Action::kMap);
  EXPECT_EQ(r.name, "dispatcher_events_total");
  EXPECT_THAT(r.labels, ElementsAre(Pair("action", "send"), Pair("job", "test_dispatcher"),
                                    Pair("outcome", "success"), Pair("processor", "FooProcessor")));
  r = MatchOf(*m, "foo_product.signup.facebook.failure");
  EXPECT_EQ(r.name, "signup_events_total");
  EXPECT_THAT(r.labels, ElementsAre(Pair("job", "foo_product_server"), Pair("outcome", "failure"),
                                    Pair("provider", "facebook")));
  EXPECT_EQ(MatchOf(*m, "test.web-server.foo.bar").action, Action::kNoMatch);
}

TEST(MappingTest, NameTakesReferencesToo) {
  auto m = MustParse(R"(
mappings:
- match: test.*.*.counter
  name: "${2}_total"
  labels:
    provider: "$1"
)");
  MatchResult r = MatchOf(*m, "test.myprovider.mycounter.counter");
  EXPECT_EQ(r.name, "mycounter_total");
  EXPECT_THAT(r.labels, ElementsAre(Pair("provider", "myprovider")));
}

// statsd_exporter's glob formatter reads `$1_server` as the reference "1_server", which is not
// a number: it becomes "". `${1}_server` is the way to write it.
TEST(MappingTest, GlobReferenceRunsToTheLongestName) {
  auto m = MustParse(R"(
mappings:
- match: a.*
  name: "x"
  labels:
    bare: "$1_server"
    braced: "${1}_server"
    out_of_range: "[$2]"
    dollar: "$ and $"
)");
  MatchResult r = MatchOf(*m, "a.web");
  EXPECT_THAT(r.labels, ElementsAre(Pair("bare", ""), Pair("braced", "web_server"),
                                    Pair("dollar", "$ and $"), Pair("out_of_range", "[]")));
}

TEST(MappingTest, RegexGroupsNamedGroupsAndWholeMatch) {
  auto m = MustParse(R"(
mappings:
- match: (.*)\.(.*)--(.*)\.status\.(.*)\.count
  match_type: regex
  name: "request_total"
  labels:
    hostname: "$1"
    exec: "$2"
    protocol: "$3"
    code: "$4"
- match: ^test\.(?P<provider>\w+)\.(\w+)\.counter$
  match_type: regex
  name: "${2}_total"
  labels:
    provider: "$provider"
    whole: "$0"
    price: "$$1"
)");
  MatchResult r = MatchOf(*m, "host1.exec1--https.status.200.count");
  EXPECT_EQ(r.name, "request_total");
  EXPECT_THAT(r.labels, ElementsAre(Pair("code", "200"), Pair("exec", "exec1"),
                                    Pair("hostname", "host1"), Pair("protocol", "https")));
  r = MatchOf(*m, "test.aws.hits.counter");
  EXPECT_EQ(r.name, "hits_total");
  EXPECT_THAT(r.labels, ElementsAre(Pair("price", "$1"), Pair("provider", "aws"),
                                    Pair("whole", "test.aws.hits.counter")));
}

// A regex is searched for anywhere in the name (Go's FindStringSubmatchIndex): `.` matches all.
TEST(MappingTest, RegexIsUnanchoredAndDropsAsTheReadmeShows) {
  auto m = MustParse(R"(
mappings:
- match: test.timing.*.*.*
  name: "my_timer"
  labels:
    provider: "$2"
    outcome: "$3"
    job: "${1}_server"
- match: .
  match_type: regex
  action: drop
  name: "dropped"
)");
  EXPECT_EQ(MatchOf(*m, "test.timing.a.b.c", MetricType::kTimer).action, Action::kMap);
  EXPECT_EQ(MatchOf(*m, "anything.else").action, Action::kDrop);
  EXPECT_EQ(MatchOf(*m, "x").action, Action::kDrop);
}

// Three globs that all match a.b.c, the most specific in the middle.
constexpr std::string_view kOverlappingGlobs = R"(
mappings:
- match: a.*.c
  name: first
- match: a.b.c
  name: second
- match: a.b.*
  name: third
)";

TEST(MappingTest, FirstMatchingRuleWinsInFileOrder) {
  auto m = MustParse(kOverlappingGlobs);
  EXPECT_EQ(MatchOf(*m, "a.b.c").name, "first");
  EXPECT_EQ(MatchOf(*m, "a.b.d").name, "third");
}

TEST(MappingTest, GlobDisableOrderingPrefersTheMostSpecific) {
  auto m = MustParse("defaults:\n  glob_disable_ordering: true\n" + std::string(kOverlappingGlobs));
  EXPECT_TRUE(m->glob_disable_ordering());
  EXPECT_EQ(MatchOf(*m, "a.b.c").name, "second");
  EXPECT_EQ(MatchOf(*m, "a.x.c").name, "first");
  EXPECT_EQ(MatchOf(*m, "a.b.x").name, "third");
}

// statsd_exporter's FSM answers before any regex rule is tried, wherever the regex sits.
TEST(MappingTest, GlobRulesAreTriedBeforeRegexRules) {
  auto m = MustParse(R"(
mappings:
- match: ^a\.
  match_type: regex
  name: by_regex
- match: a.*
  name: by_glob
)");
  EXPECT_EQ(MatchOf(*m, "a.b").name, "by_glob");
  EXPECT_EQ(MatchOf(*m, "a.b.c").name, "by_regex");
}

TEST(MappingTest, MatchMetricType) {
  auto m = MustParse(R"(
mappings:
- match: test.foo.*
  name: "test_foo_gauge"
  match_metric_type: gauge
- match: test.foo.*
  name: "test_foo_timer"
  match_metric_type: timer
- match: test.foo.*
  name: "test_foo"
  match_metric_type: counter
  labels:
    provider: "$1"
- match: x\.(.*)
  match_type: regex
  name: "x_observer"
  match_metric_type: observer
- match: x\.(.*)
  match_type: regex
  name: "x_other"
)");
  EXPECT_EQ(MatchOf(*m, "test.foo.bar", MetricType::kGauge).name, "test_foo_gauge");
  EXPECT_EQ(MatchOf(*m, "test.foo.bar", MetricType::kTimer).name, "test_foo_timer");
  EXPECT_EQ(MatchOf(*m, "test.foo.bar", MetricType::kHistogram).name, "test_foo_timer");
  EXPECT_EQ(MatchOf(*m, "test.foo.bar", MetricType::kDistribution).name, "test_foo_timer");
  EXPECT_EQ(MatchOf(*m, "test.foo.bar", MetricType::kCounter).name, "test_foo");
  // A set has no statsd_exporter type: only rules without match_metric_type apply to it.
  EXPECT_EQ(MatchOf(*m, "test.foo.bar", MetricType::kSet).action, Action::kNoMatch);
  EXPECT_EQ(MatchOf(*m, "x.y", MetricType::kTimer).name, "x_observer");
  EXPECT_EQ(MatchOf(*m, "x.y", MetricType::kCounter).name, "x_other");
}

TEST(MappingTest, TtlFromTheRuleElseTheDefaults) {
  auto m = MustParse(R"(
defaults:
  ttl: 1m20s
mappings:
- match: a.*
  name: a
  ttl: 30s
- match: b.*
  name: b
- match: c.*
  name: c
  ttl: 0
- match: d.*
  name: d
  ttl: 1500000000
)");
  EXPECT_EQ(MatchOf(*m, "a.x").options->ttl, absl::Seconds(30));
  EXPECT_EQ(MatchOf(*m, "b.x").options->ttl, absl::Seconds(80));
  EXPECT_EQ(MatchOf(*m, "c.x").options->ttl, absl::Seconds(80));         // 0 is Go's "unset"
  EXPECT_EQ(MatchOf(*m, "d.x").options->ttl, absl::Milliseconds(1500));  // an int: nanoseconds
  EXPECT_EQ(MatchOf(*m, "unmatched").options->ttl, absl::Seconds(80));
}

TEST(MappingTest, ObserverOptionsAndTheirOlderSpellings) {
  auto m = MustParse(R"(
defaults:
  timer_type: histogram
  buckets: [0.5, 1]
  quantiles:
    - quantile: 0.9
      error: 0.01
mappings:
- match: h.*
  name: h
- match: s.*
  name: s
  observer_type: summary
  summary_options:
    quantiles:
      - quantile: 0.99
        error: 0.001
    max_age: 30s
    age_buckets: 3
    buf_cap: 1000
- match: old.*
  name: old
  timer_type: histogram
  buckets: [1, 2, 3]
- match: new.*
  name: new
  observer_type: histogram
  histogram_options:
    buckets: [5]
    native_histogram_bucket_factor: 1.1
    native_histogram_max_buckets: 256
- match: l.*
  name: l
  help: "Legacy quantiles"
  observer_type: summary
  quantiles:
    - quantile: 0.5
      error: 0.05
  scale: 0.001
  honor_labels: true
)");
  auto h = MatchOf(*m, "h.x", MetricType::kTimer).options;
  EXPECT_EQ(h->observer_type, ObserverType::kHistogram);
  EXPECT_THAT(h->buckets, ElementsAre(0.5, 1));
  auto s = MatchOf(*m, "s.x", MetricType::kTimer).options;
  EXPECT_EQ(s->observer_type, ObserverType::kSummary);
  EXPECT_THAT(s->quantiles, ElementsAre(Objective{0.99, 0.001}));
  EXPECT_EQ(s->summary_max_age, absl::Seconds(30));
  EXPECT_EQ(s->summary_age_buckets, 3u);
  EXPECT_EQ(s->summary_buf_cap, 1000u);
  EXPECT_THAT(MatchOf(*m, "old.x").options->buckets, ElementsAre(1, 2, 3));
  auto n = MatchOf(*m, "new.x").options;
  EXPECT_THAT(n->buckets, ElementsAre(5));
  EXPECT_EQ(n->native_histogram_max_buckets, 256u);
  auto l = MatchOf(*m, "l.x").options;
  EXPECT_THAT(l->quantiles, ElementsAre(Objective{0.5, 0.05}));
  EXPECT_EQ(l->help, "Legacy quantiles");
  EXPECT_EQ(l->scale, 0.001);
  EXPECT_TRUE(l->honor_labels);
  EXPECT_EQ(l->rule_index, 4);
  EXPECT_EQ(l->match, "l.*");
  // Unmatched names get the defaults, as statsd_exporter applies them to every observer.
  EXPECT_EQ(MatchOf(*m, "zzz").options->observer_type, ObserverType::kHistogram);
}

TEST(MappingTest, UnknownKeysAreIgnoredAsYamlV2Does) {
  auto m = MustParse(R"(
defaults:
  some_future_key: 1
mappings:
- match: a.*
  name: a
  not_a_key: [1, 2]
)");
  EXPECT_EQ(MatchOf(*m, "a.b").name, "a");
}

// statsd_exporter (yaml.v2 into its MetricMapper struct) loads a file with nothing in it, a
// null or empty `mappings:` or `defaults:`, and ignores top-level keys it does not know (a
// misspelt `mapping:` included): no rules, every name unmapped.
TEST(MappingTest, EmptyFilesAndNullSectionsHaveNoRules) {
  for (std::string_view yaml :
       {"", "\n\n", "# only a comment\n", "---\n", "...\n", "mappings:\n", "mappings: ~\n",
        "mappings: []\n", "defaults:\nmappings:\n", "defaults: {}\nmappings: null\n",
        "mapping:\n- match: a.*\n  name: a\n", "version: 2\nrules: [1, 2]\n"}) {
    auto m = MustParse(yaml);
    ASSERT_NE(m, nullptr) << yaml;
    EXPECT_EQ(m->rule_count(), 0u) << yaml;
    MatchResult r = MatchOf(*m, "a.b");
    EXPECT_EQ(r.action, Action::kNoMatch) << yaml;
    ASSERT_NE(r.options, nullptr) << yaml;
    EXPECT_EQ(r.options->observer_type, ObserverType::kDefault) << yaml;
  }
}

// yaml.v2 reads the first document of a stream, as yaml-cpp's Load does.
TEST(MappingTest, OnlyTheFirstDocumentIsRead) {
  auto m =
      MustParse("mappings:\n- match: a.*\n  name: a\n---\nmappings:\n- match: b.*\n  name: b\n");
  EXPECT_EQ(m->rule_count(), 1u);
  EXPECT_EQ(MatchOf(*m, "b.x").action, Action::kNoMatch);
}

// What yaml.v2 cannot unmarshal into statsd_exporter's struct fails, with the line.
TEST(MappingTest, TopLevelOfTheWrongShapeIsRefused) {
  EXPECT_EQ(ErrorOf("- match: a.*\n  name: a\n"), "bad.yml:1: a mapping file is a map");
  EXPECT_EQ(ErrorOf("just text\n"), "bad.yml:1: a mapping file is a map");
  EXPECT_EQ(ErrorOf("defaults: {}\nmappings: 5\n"), "bad.yml:2: `mappings` must be a list");
  EXPECT_EQ(ErrorOf("mappings:\n  match: a.*\n  name: a\n"),
            "bad.yml:2: `mappings` must be a list");
  EXPECT_EQ(ErrorOf("defaults: [ttl]\n"), "bad.yml:1: `defaults` must be a map");
  // yaml-cpp marks a null entry where the next token starts: the index names it.
  EXPECT_THAT(
      ErrorOf("mappings:\n-\n"),
      HasSubstr("mappings[0] (match \"\"): a mapping must be a map with `match` and `name`"));
}

TEST(MappingTest, InvalidFilesNameFileLineAndRule) {
  EXPECT_EQ(ErrorOf("mappings:\n- match: a.*\n  name: a\n- match: a.b**\n  name: b\n"),
            "bad.yml:4: mappings[1] (match \"a.b**\"): invalid match: a.b**");
  EXPECT_THAT(ErrorOf("mappings:\n- match: a.*\n  labels: {x: y}\n"),
              HasSubstr("bad.yml:2: mappings[0] (match \"a.*\"): metric mapping didn't set a "
                        "metric name"));
  // statsd_exporter wants a name for drop rules too (its README's drop example has one).
  EXPECT_THAT(ErrorOf("mappings:\n- match: a.*\n  action: drop\n"),
              HasSubstr("didn't set a metric name"));
  EXPECT_THAT(ErrorOf("mappings:\n- match: a.*\n  name: 1abc\n"),
              HasSubstr("bad.yml:3: mappings[0] (match \"a.*\"): metric name '1abc'"));
  EXPECT_THAT(ErrorOf("mappings:\n- match: a.*\n  name: a-b\n"), HasSubstr("metric name 'a-b'"));
  EXPECT_THAT(ErrorOf("mappings:\n- match: a.*\n  name: a\n  labels:\n    1x: v\n"),
              HasSubstr("bad.yml:5: mappings[0] (match \"a.*\"): invalid label key: 1x"));
  EXPECT_THAT(ErrorOf("mappings:\n- match: a(\n  match_type: regex\n  name: a\n"),
              HasSubstr("bad.yml:2: mappings[0] (match \"a(\"): invalid regex a("));
  EXPECT_THAT(ErrorOf("mappings:\n- match: a.*\n  name: a\n  action: keep\n"),
              HasSubstr("bad.yml:4: mappings[0] (match \"a.*\"): invalid action type \"keep\""));
  EXPECT_THAT(ErrorOf("mappings:\n- match: a.*\n  name: a\n  match_type: fuzzy\n"),
              HasSubstr("invalid match type \"fuzzy\""));
  EXPECT_THAT(ErrorOf("defaults:\n  match_type: fuzzy\n"),
              HasSubstr("bad.yml:2: invalid match type \"fuzzy\""));
  EXPECT_THAT(ErrorOf("mappings:\n- match: a.*\n  name: a\n  match_metric_type: set\n"),
              HasSubstr("invalid metric type \"set\""));
  EXPECT_THAT(ErrorOf("mappings:\n- match: a.*\n  name: a\n  observer_type: bar\n"),
              HasSubstr("invalid observer type \"bar\""));
  EXPECT_THAT(ErrorOf("mappings:\n- match: a.*\n  name: a\n  ttl: soon\n"),
              HasSubstr("bad.yml:4: mappings[0] (match \"a.*\"): `ttl` must be a duration"));
  EXPECT_THAT(ErrorOf("mappings:\n- match: a.*\n  name: a\n  observer_type: histogram\n"
                      "  summary_options: {max_age: 1m}\n"),
              HasSubstr("cannot use histogram observer and summary options"));
  EXPECT_THAT(ErrorOf("mappings:\n- match: a.*\n  name: a\n  observer_type: summary\n"
                      "  histogram_options: {buckets: [1]}\n"),
              HasSubstr("cannot use summary observer and histogram options"));
  EXPECT_THAT(ErrorOf("mappings:\n- match: a.*\n  name: a\n  quantiles: [{quantile: 0.5}]\n"
                      "  summary_options: {quantiles: [{quantile: 0.9}]}\n"),
              HasSubstr("cannot use quantiles in both the top level and summary options"));
  EXPECT_THAT(ErrorOf("mappings:\n- match: a.*\n  name: a\n  buckets: [1]\n"
                      "  histogram_options: {buckets: [2]}\n"),
              HasSubstr("cannot use buckets in both the top level and histogram options"));
  EXPECT_THAT(ErrorOf("mappings: [\n"), HasSubstr("bad.yml:"));
  EXPECT_THAT(ErrorOf("defaults:\n  glob_disable_ordering: maybe\n"),
              HasSubstr("bad.yml:2: `glob_disable_ordering` must be true or false"));
}

// client_golang panics on a bucket list that does not increase (statsd_exporter dies on the
// first series using it); tallyd refuses the file, naming the bound.
TEST(MappingTest, BucketsMustBeStrictlyIncreasing) {
  EXPECT_EQ(ErrorOf("mappings:\n- match: a.*\n  name: a\n  buckets: [1, 0.5]\n"),
            "bad.yml:4: mappings[0] (match \"a.*\"): `buckets` must be strictly increasing: "
            "0.5 after 1");
  EXPECT_EQ(ErrorOf("mappings:\n- match: a.*\n  name: a\n  histogram_options:\n"
                    "    buckets:\n    - 1\n    - 1\n"),
            "bad.yml:7: mappings[0] (match \"a.*\"): `histogram_options.buckets` must be "
            "strictly increasing: 1 after 1");
  EXPECT_EQ(ErrorOf("defaults:\n  buckets: [2, 1]\n"),
            "bad.yml:2: `buckets` must be strictly increasing: 1 after 2");
  EXPECT_EQ(ErrorOf("defaults:\n  histogram_options: {buckets: [0.1, 0.01]}\n"),
            "bad.yml:2: `histogram_options.buckets` must be strictly increasing: 0.01 after 0.1");
  EXPECT_THAT(ErrorOf("mappings:\n- match: a.*\n  name: a\n  buckets: [1, .inf, 2]\n"),
              HasSubstr("must be strictly increasing: 2 after inf"));
  // A last +Inf is the implicit +Inf bucket, as client_golang takes it.
  auto m = MustParse("mappings:\n- match: a.*\n  name: a\n  buckets: [0.5, 1, +.inf]\n");
  EXPECT_THAT(MatchOf(*m, "a.b").options->buckets, ElementsAre(0.5, 1));
}

// A quantile is a fraction of the samples and its error an allowed rank error: both in [0, 1].
TEST(MappingTest, QuantilesAndTheirErrorsLieInZeroToOne) {
  EXPECT_EQ(ErrorOf("mappings:\n- match: a.*\n  name: a\n  quantiles:\n"
                    "  - quantile: 0.5\n  - quantile: 1.5\n    error: 0.01\n"),
            "bad.yml:6: mappings[0] (match \"a.*\"): `quantiles` quantile 1.5 is outside [0, 1]");
  EXPECT_EQ(ErrorOf("mappings:\n- match: a.*\n  name: a\n  summary_options:\n"
                    "    quantiles: [{quantile: 0.9, error: -0.01}]\n"),
            "bad.yml:5: mappings[0] (match \"a.*\"): `summary_options.quantiles` error -0.01 is "
            "outside [0, 1]");
  EXPECT_EQ(ErrorOf("defaults:\n  quantiles: [{quantile: -0.1}]\n"),
            "bad.yml:2: `quantiles` quantile -0.1 is outside [0, 1]");
  EXPECT_THAT(ErrorOf("defaults:\n  summary_options: {quantiles: [{quantile: 0.5, error: 5}]}\n"),
              HasSubstr("bad.yml:2: `summary_options.quantiles` error 5 is outside [0, 1]"));
  EXPECT_THAT(ErrorOf("defaults:\n  quantiles: [{quantile: .nan}]\n"),
              HasSubstr("bad.yml:2: `quantile` must be a number"));
  auto m = MustParse(
      "mappings:\n- match: a.*\n  name: a\n  quantiles:\n"
      "  - {quantile: 0, error: 0}\n  - {quantile: 1, error: 1}\n");
  EXPECT_THAT(MatchOf(*m, "a.b").options->quantiles, ElementsAre(Objective{0, 0}, Objective{1, 1}));
}

// client_golang panics on a negative MaxAge when the first series is created.
TEST(MappingTest, NegativeSummaryMaxAgeIsRefused) {
  EXPECT_EQ(ErrorOf("mappings:\n- match: a.*\n  name: a\n  summary_options:\n    max_age: -1m\n"),
            "bad.yml:5: mappings[0] (match \"a.*\"): `summary_options.max_age` must not be "
            "negative");
  EXPECT_THAT(ErrorOf("defaults:\n  summary_options: {max_age: -1s}\n"),
              HasSubstr("bad.yml:2: `summary_options.max_age` must not be negative"));
}

// statsd_exporter loads `__` label names, but client_golang refuses every metric that has one.
// One-letter names are valid Prometheus labels; statsd_exporter's pattern wants two letters,
// tallyd takes them.
TEST(MappingTest, LabelNamesReservedByPrometheusAreRefused) {
  EXPECT_EQ(ErrorOf("mappings:\n- match: a.*\n  name: a\n  labels:\n    __name__: x\n"),
            "bad.yml:5: mappings[0] (match \"a.*\"): invalid label key: __name__ (names "
            "starting with __ are reserved)");
  EXPECT_THAT(ErrorOf("mappings:\n- match: a.*\n  name: a\n  labels: {ok: y, __x: $1}\n"),
              HasSubstr("bad.yml:4: mappings[0] (match \"a.*\"): invalid label key: __x"));
  auto m = MustParse("mappings:\n- match: a.*\n  name: a\n  labels: {x: $1, _y: z}\n");
  EXPECT_THAT(MatchOf(*m, "a.b").labels, ElementsAre(Pair("_y", "z"), Pair("x", "b")));
}

// yaml.v2 (not strict) lets a repeated key's last value win, in a rule, in `labels` (a Go map:
// one label) and at the top level; yaml-cpp keeps both and would answer the first.
TEST(MappingTest, ARepeatedKeyTakesItsLastValue) {
  auto m = MustParse(R"(
mappings:
- match: old.*
  name: ignored
mappings:
- match: a.*
  name: first
  name: second
  labels:
    job: one
    job: two
    other: $1
)");
  EXPECT_EQ(m->rule_count(), 1u);
  MatchResult r = MatchOf(*m, "a.b");
  EXPECT_EQ(r.name, "second");
  EXPECT_THAT(r.labels, ElementsAre(Pair("job", "two"), Pair("other", "b")));
  EXPECT_EQ(MatchOf(*m, "old.b").action, Action::kNoMatch);
}

// yaml.v2 leaves a null field at Go's zero value: "" for strings, 0, false, an empty list.
TEST(MappingTest, NullIsTheZeroValue) {
  auto m = MustParse(R"(
defaults:
  ttl: ~
  buckets: ~
mappings:
- match: a.*
  name: a
  help: ~
  action: ~
  match_type:
  honor_labels: ~
  quantiles: ~
  summary_options: {quantiles: [{quantile: 0.9, error: ~}]}
  labels:
    empty: ~
)");
  MatchResult r = MatchOf(*m, "a.b");
  EXPECT_EQ(r.action, Action::kMap);
  EXPECT_THAT(r.labels, ElementsAre(Pair("empty", "")));
  EXPECT_EQ(r.options->help, "");
  EXPECT_FALSE(r.options->honor_labels);
  EXPECT_EQ(r.options->ttl, absl::ZeroDuration());
  // A null top-level `quantiles` is not set: no conflict with summary_options'.
  EXPECT_THAT(r.options->quantiles, ElementsAre(Objective{0.9, 0}));
  EXPECT_THAT(ErrorOf("mappings:\n- match: a.*\n  name: ~\n"),
              HasSubstr("didn't set a metric name"));
}

// statsd_exporter: a negative ttl never expires, as 0 does, and does not take the defaults'
// ttl (it only fills a 0). Here "never" is series_ttl: SeriesOptions::ttl 0.
TEST(MappingTest, NegativeTtlMeansTheServersSeriesTtl) {
  auto m = MustParse(R"(
defaults:
  ttl: 1m
mappings:
- match: a.*
  name: a
  ttl: -5s
- match: b.*
  name: b
)");
  EXPECT_EQ(MatchOf(*m, "a.x").options->ttl, absl::ZeroDuration());
  EXPECT_EQ(MatchOf(*m, "b.x").options->ttl, absl::Minutes(1));
  m = MustParse("defaults:\n  ttl: -1m\nmappings:\n- match: b.*\n  name: b\n");
  EXPECT_EQ(MatchOf(*m, "b.x").options->ttl, absl::ZeroDuration());
  EXPECT_EQ(MatchOf(*m, "unmatched").options->ttl, absl::ZeroDuration());
}

TEST(MappingTest, GlobsAcceptStatsdExporterComponents) {
  // Components after the first may start with a digit (statsd_exporter PR #365); a lone `*` is
  // a pattern; dashes are allowed inside.
  for (std::string_view match : {"*", "a", "test.99bottles.*", "a.200.*", "web-server.*.x_y"}) {
    std::string yaml = "mappings:\n- match: \"" + std::string(match) + "\"\n  name: n\n";
    EXPECT_TRUE(Mapping::Parse(yaml, "f").ok()) << match;
  }
  for (std::string_view match : {"", "9a.b", "a.", "a..b", "a.b*", "a.*b", "a b"}) {
    std::string yaml = "mappings:\n- match: \"" + std::string(match) + "\"\n  name: n\n";
    EXPECT_FALSE(Mapping::Parse(yaml, "f").ok()) << match;
  }
}

TEST(MappingTest, LoadMappingFileNamesAMissingFile) {
  absl::StatusOr<std::shared_ptr<const Mapping>> m = LoadMappingFile("/nonexistent/map.yml");
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("/nonexistent/map.yml"));
}

TEST(MappingTest, LoadMappingFileReadsTheFileAndNamesItInErrors) {
  tallyd::testing::TempDir dir;
  const std::string path = dir.File("statsd_mapping.yml");
  tallyd::testing::WriteFile(path, "mappings:\n- match: a.*\n  name: a_$1\n");
  absl::StatusOr<std::shared_ptr<const Mapping>> m = LoadMappingFile(path);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(MatchOf(**m, "a.b").name, "a_b");
  tallyd::testing::WriteFile(path, "mappings:\n- match: a.*\n  name: a\n  buckets: [2, 1]\n");
  m = LoadMappingFile(path);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message(), path +
                                      ":4: mappings[0] (match \"a.*\"): `buckets` must be "
                                      "strictly increasing: 1 after 2");
}

// Options handed out keep their Mapping alive (series outlive a reload).
TEST(MappingTest, OptionsOutliveTheirMapping) {
  std::shared_ptr<const SeriesOptions> options;
  {
    auto m = MustParse("mappings:\n- match: a.*\n  name: a\n  help: kept\n");
    options = MatchOf(*m, "a.b").options;
  }
  EXPECT_EQ(options->help, "kept");
}

TEST(MappingTest, ThousandRulesStillMatchThroughTheDfa) {
  std::string yaml = "mappings:\n";
  for (int i = 0; i < 1000; ++i) {
    yaml += "- match: app" + std::to_string(i) +
            ".*.request.*\n  name: app_requests\n"
            "  labels:\n    app: app" +
            std::to_string(i) + "\n    method: $1\n    code: $2\n";
  }
  auto m = MustParse(yaml);
  EXPECT_TRUE(m->glob_uses_dfa());
  MatchResult r = MatchOf(*m, "app517.get.request.200");
  EXPECT_EQ(r.name, "app_requests");
  EXPECT_THAT(r.labels,
              ElementsAre(Pair("app", "app517"), Pair("code", "200"), Pair("method", "get")));
}

}  // namespace
}  // namespace tallyd::mapping
