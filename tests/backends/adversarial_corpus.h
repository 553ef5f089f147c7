// tests/backends/adversarial_corpus.h: series, events and service checks whose names and tags try
// to break an output format (SPEC 2: no output may become unparsable by its reader because of what
// a client sent). The same corpus feeds every formatter in the backend tests (as a Snapshot) and
// the real binary in tests/e2e/adversarial_e2e_test.cc (as StatsD lines).
#ifndef TALLYD_TESTS_BACKENDS_ADVERSARIAL_CORPUS_H_
#define TALLYD_TESTS_BACKENDS_ADVERSARIAL_CORPUS_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "aggregator/series_key.h"
#include "aggregator/snapshot.h"
#include "protocol/parser.h"
#include "tests/backends/snapshot_fixtures.h"

namespace tallyd::testing::corpus {

using aggregator::MetricType;

struct CorpusSeries {
  MetricType type;
  std::string name;
  std::vector<std::string> tags;  // as a client writes them: "k:v" or a bare "k"
};

struct CorpusText {
  std::string title;  // events: title; service checks: name
  std::string text;   // events: text; service checks: message
  std::vector<std::string> tags;
};

inline std::string Repeat(std::string_view piece, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out.append(piece);
  return out;
}

// Each entry is there for what it collides with or smuggles into a format.
inline const std::vector<CorpusSeries>& AdversarialSeries() {
  static const std::vector<CorpusSeries> series = [] {
    std::vector<CorpusSeries> s = {
        // Names that collide after sanitizing (Prometheus: a_b; Graphite keeps '.' and '-').
        {MetricType::kCounter, "a.b", {}},
        {MetricType::kCounter, "a_b", {}},
        {MetricType::kCounter, "a-b", {}},
        {MetricType::kGauge, "a b", {}},  // a gauge where the counter a_b already is
        // tallyd's own metrics, with both spellings.
        {MetricType::kCounter, "tallyd_packets_received_total", {"transport:udp"}},
        {MetricType::kCounter, "tallyd.lines_received_total", {"type:counter"}},
        {MetricType::kGauge, "tallyd.series_active", {"type:gauge"}},
        {MetricType::kCounter, "exposer_scrapes_total", {}},
        // Summary and histogram suffixes, newcomer second and first.
        {MetricType::kTimer, "x", {}},
        {MetricType::kCounter, "x_count", {}},
        {MetricType::kGauge, "x_sum", {}},
        {MetricType::kCounter, "x_bucket", {}},
        {MetricType::kCounter, "y_count", {}},
        {MetricType::kGauge, "y_bucket", {}},
        {MetricType::kHistogram, "y", {}},
        {MetricType::kDistribution, "z", {}},
        {MetricType::kTimer, "z_sum", {}},  // a summary whose name is another's _sum
        {MetricType::kTimer, "x.count", {}},
        // Labels the exposition format reserves.
        {MetricType::kTimer, "reserved.timer", {"le:1", "quantile:0.5", "__name__:evil"}},
        {MetricType::kHistogram, "reserved.histogram", {"le:1", "quantile:0.5", "__x:1"}},
        {MetricType::kCounter, "reserved.counter", {"__name__:evil", "__meta:1", "le:2"}},
        {MetricType::kGauge, "reserved.gauge", {"quantile:0.9", "name:n", "job:j"}},
        // Tags empty after sanitizing, bare, and duplicate label names after sanitizing.
        {MetricType::kCounter, "tags.empty", {"!!!:v", "k:", ":v", "é:é"}},
        {MetricType::kCounter, "tags.empty", {}},
        {MetricType::kCounter, "tags.empty", {"k:"}},
        {MetricType::kGauge, "tags.bare", {"bare", "k:v", "other"}},
        {MetricType::kCounter, "tags.dup", {"a.b:1", "a_b:2", "a-b:3"}},
        {MetricType::kTimer, "tags.dup.timer", {"a.b:1", "a_b:2"}},
        {MetricType::kCounter, "tags.colon", {"k:v:w", "url:http://x/y?z=1;q"}},
        // Control characters, quotes, backslashes and newlines (valid UTF-8 all).
        {MetricType::kCounter, "ctl\x01name", {"v:\x01\x02\x7f"}},
        {MetricType::kGauge, "ansi\x1b[31mred\x1b[0m", {"color:\x1b[31m"}},
        {MetricType::kCounter, "quote\"name", {"q:\"quoted\"", "q2:a\"b"}},
        {MetricType::kCounter, "back\\slash", {"path:C:\\dir\\", "end:\\"}},
        {MetricType::kGauge, "new\nline", {"text:two\nlines", "cr:a\rb"}},
        {MetricType::kTimer, "tab\tname", {"tab:a\tb", std::string("nul:a\0z", 7)}},
        // Non-ASCII UTF-8.
        {MetricType::kCounter, "café.crème", {"city:Zürich", "🎉:🎉"}},
        {MetricType::kGauge, "emoji🎉", {"mood:😀", "rtl:\u202Eevil"}},
        {MetricType::kSet, "set.é", {"ünï:cödé"}},
        {MetricType::kCounter, "\u2028sep\u2029", {"ls:\u2028"}},
        // Graphite: ';' starts tags, '=' separates them, spaces split the line.
        {MetricType::kCounter, "semi;colon=eq and spaces", {}},
        {MetricType::kCounter, "g.tagged;k=v;bare;=x;e=;~t=~v", {"k:w"}},
        {MetricType::kGauge, "trailing;", {}},
        {MetricType::kGauge, ";leading", {}},
        {MetricType::kGauge, "=only", {}},
        {MetricType::kGauge, "~tilde", {"~k:~v"}},
        {MetricType::kCounter, "!!!", {}},  // nothing left after Graphite's sanitizing
        {MetricType::kCounter, "a/b\\c d\te\vf", {"sp:a b", "slash:a/b", "semi:a;b", "eq:a=b"}},
        {MetricType::kCounter, "1leading.digit", {"1k:v"}},
        // Very long: a 10 kB name, and a 10 kB name with a 10 kB tag.
        {MetricType::kCounter, Repeat("long.", 2048), {}},
        {MetricType::kTimer, Repeat("t", 10240), {absl::StrCat("k:", Repeat("v", 10240))}},
        {MetricType::kGauge, Repeat("é", 5120), {absl::StrCat(Repeat("k", 5000), ":v")}},
    };
    return s;
  }();
  return series;
}

inline const std::vector<CorpusText>& AdversarialEvents() {
  static const std::vector<CorpusText> events = {
      {"quote\" back\\ nl\n ctl\x01 esc\x1b[31m", "text \"with\"\nlines\\n and \x7f", {"k:\"v\""}},
      {"émoji 🎉 \u2028", Repeat("long text ", 1024), {"tags.dup:1", "a.b:1", "a_b:2"}},
  };
  return events;
}

inline const std::vector<CorpusText>& AdversarialServiceChecks() {
  static const std::vector<CorpusText> checks = {
      {"check\"name\\", "message \"m\"\nline\x01", {"k:v\\"}},
      {"check.é🎉", "", {"!!!:v", "k:"}},
  };
  return checks;
}

// The canonical tag list of `tags` (sorted, duplicates removed, joined by ','), as the
// aggregator's TagCanonicalizer builds it.
inline std::string CanonicalTags(std::vector<std::string> tags) {
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  return absl::StrJoin(tags, ",");
}

// A summary of the samples 1, 2, 3, 4 (exact), every percentile taking all four.
inline int32_t AddOneToFour(aggregator::Snapshot& s) {
  aggregator::SampleSummary summary = backends::fixtures::OneToFour(
      1, std::vector<aggregator::PercentileValue>(s.percentiles.size(), {true, 4, 2.5, 4, 10, 30}));
  summary.distribution = aggregator::ValueDistribution::Exact({1, 2, 3, 4});
  s.summaries.push_back(std::move(summary));
  return static_cast<int32_t>(s.summaries.size() - 1);
}

// Flush `sequence` (10 s apart) holding every corpus series, a client-timestamped point of each,
// and the events and service checks. Series ids start at `first_id`.
inline aggregator::Snapshot AdversarialSnapshot(uint64_t sequence = 1, uint64_t first_id = 1) {
  aggregator::Snapshot s;
  s.sequence = sequence;
  s.flush_unix_seconds = 1700000000 + 10 * static_cast<int64_t>(sequence);
  s.flush_time = absl::FromUnixSeconds(s.flush_unix_seconds);
  s.interval = absl::Seconds(10);
  for (double p : {90.0, -10.0, 99.9}) s.percentiles.push_back(aggregator::MakePercentileSpec(p));
  uint64_t id = first_id;
  for (const CorpusSeries& entry : AdversarialSeries()) {
    auto key = aggregator::SeriesKey::Make(id++, entry.type, entry.name, CanonicalTags(entry.tags));
    aggregator::SeriesValue value{key};
    switch (entry.type) {
      case MetricType::kCounter:
        value.value = 3;
        break;
      case MetricType::kGauge:
        value.value = -1.5;
        break;
      case MetricType::kSet:
        value.value = 2;
        break;
      case MetricType::kTimer:
      case MetricType::kHistogram:
      case MetricType::kDistribution:
        value.summary = AddOneToFour(s);
        break;
    }
    s.series.push_back(std::move(value));
    s.timestamped_points.push_back({key, 7, s.flush_unix_seconds - 5});
  }
  for (const CorpusText& event : AdversarialEvents()) {
    aggregator::EventRecord record;
    record.title = event.title;
    record.text = event.text;
    record.hostname = event.title;
    record.aggregation_key = event.text.substr(0, 40);
    record.source_type = "\x01\"";
    record.tags = CanonicalTags(event.tags);
    s.events.push_back(std::move(record));
  }
  for (const CorpusText& check : AdversarialServiceChecks()) {
    aggregator::ServiceCheckRecord record;
    record.name = check.title;
    record.message = check.text;
    record.hostname = check.title;
    record.status = 2;
    record.tags = CanonicalTags(check.tags);
    s.service_checks.push_back(std::move(record));
  }
  return s;
}

// Whether `text` can travel inside one StatsD line field: no line break, and none of the
// characters that end the field.
inline bool FitsLineField(std::string_view text, std::string_view terminators) {
  return text.find_first_of(terminators) == std::string_view::npos &&
         text.find('\n') == std::string_view::npos && text.find('\0') == std::string_view::npos;
}

inline std::string TypeCode(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "c";
    case MetricType::kGauge:
      return "g";
    case MetricType::kTimer:
      return "ms";
    case MetricType::kHistogram:
      return "h";
    case MetricType::kDistribution:
      return "d";
    case MetricType::kSet:
      return "s";
  }
  return "";
}

// The corpus as DogStatsD lines, for the real binary: every series (and event and service check)
// whose name and tags can be written in a line. Each series gets one line of its type.
inline std::vector<std::string> AdversarialLines() {
  std::vector<std::string> lines;
  for (const CorpusSeries& entry : AdversarialSeries()) {
    if (!FitsLineField(entry.name, ":|")) continue;
    bool tags_fit = std::all_of(entry.tags.begin(), entry.tags.end(), [](const std::string& t) {
      return !t.empty() && FitsLineField(t, ",|");
    });
    if (!tags_fit) continue;
    std::string value;
    switch (entry.type) {
      case MetricType::kCounter:
        value = "3";
        break;
      case MetricType::kGauge:
        value = "-1.5";
        break;
      case MetricType::kSet:
        value = "member";
        break;
      default:
        value = "1:2:3:4";
        break;
    }
    std::string line = absl::StrCat(entry.name, ":", value, "|", TypeCode(entry.type));
    if (!entry.tags.empty()) absl::StrAppend(&line, "|#", absl::StrJoin(entry.tags, ","));
    lines.push_back(std::move(line));
  }
  for (const CorpusText& event : AdversarialEvents()) {
    if (!FitsLineField(event.title, "|") || !FitsLineField(event.text, "|")) continue;
    std::string line = absl::StrCat("_e{", event.title.size(), ",", event.text.size(),
                                    "}:", event.title, "|", event.text);
    if (!event.tags.empty()) absl::StrAppend(&line, "|#", absl::StrJoin(event.tags, ","));
    lines.push_back(std::move(line));
  }
  for (const CorpusText& check : AdversarialServiceChecks()) {
    if (!FitsLineField(check.title, "|") || !FitsLineField(check.text, "|")) continue;
    std::string line = absl::StrCat("_sc|", check.title, "|2");
    if (!check.tags.empty()) absl::StrAppend(&line, "|#", absl::StrJoin(check.tags, ","));
    if (!check.text.empty()) absl::StrAppend(&line, "|m:", check.text);
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace tallyd::testing::corpus

#endif  // TALLYD_TESTS_BACKENDS_ADVERSARIAL_CORPUS_H_
