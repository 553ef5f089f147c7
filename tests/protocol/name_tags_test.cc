// Tests for tags in the name (protocol/parser.h, "Tags in the name"): InfluxDB, Librato and
// SignalFX styles as Prometheus' statsd_exporter parses them (pkg/line), their malformed tags,
// mixing with DogStatsD tags, and each style switched off.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "protocol/parser.h"

namespace tallyd::protocol {
namespace {

struct NameTagCase {
  const char* test_name;
  const char* line;
  const char* name;  // the parsed name
  const char* tags;  // the parsed tags, in DogStatsD form
  uint32_t tag_count;
  uint16_t malformed_tags = 0;
  uint8_t formats = kAllTagFormats;
};

constexpr uint8_t kNoInflux = kAllTagFormats & ~TagFormatBit(TagFormat::kInfluxDB);
constexpr uint8_t kNoLibrato = kAllTagFormats & ~TagFormatBit(TagFormat::kLibrato);
constexpr uint8_t kNoSignalFx = kAllTagFormats & ~TagFormatBit(TagFormat::kSignalFX);
constexpr uint8_t kNoDogStatsD = kAllTagFormats & ~TagFormatBit(TagFormat::kDogStatsD);

const NameTagCase kCases[] = {
    // Plain DogStatsD lines are untouched.
    {"DogStatsD", "foo:1|c|#a:b,c", "foo", "a:b,c", 2},
    // InfluxDB.
    {"Influx", "foo,a=b,c=d:1|c", "foo", "a:b,c:d", 2},
    {"InfluxOneTag", "foo.bar,host=web1:1|c", "foo.bar", "host:web1", 1},
    {"InfluxValueMayHoldEquals", "foo,a=b=c:1|c", "foo", "a:b=c", 1},
    {"InfluxTrailingCommaIsNoTag", "foo,a=b,:1|c", "foo", "a:b", 1},
    {"InfluxEmptyTagListIsNoTags", "foo,:1|c", "foo", "", 0},
    {"InfluxEmptyTagBetweenCommas", "foo,a=b,,c=d:1|c", "foo", "a:b,c:d", 2, 1},
    {"InfluxLeadingEmptyTag", "foo,,a=b:1|c", "foo", "a:b", 1, 1},
    {"InfluxTagWithoutEquals", "foo,a,b=c:1|c", "foo", "b:c", 1, 1},
    {"InfluxEmptyValue", "foo,a=,b=c:1|c", "foo", "b:c", 1, 1},
    {"InfluxEmptyKey", "foo,=a,b=c:1|c", "foo", "b:c", 1, 1},
    {"InfluxAllMalformed", "foo,a,b:1|c", "foo", "", 0, 2},
    {"InfluxHashInTagIsTagText", "foo,a=b#c:1|c", "foo", "a:b#c", 1},
    // Librato.
    {"Librato", "foo#a=b,c=d:1|c", "foo", "a:b,c:d", 2},
    {"LibratoCommaInsideTags", "foo#a=b,c=d,e=f:1|ms", "foo", "a:b,c:d,e:f", 3},
    {"LibratoFirstOfHashOrCommaStartsTags", "foo,a=b#c=d:1|c", "foo", "a:b#c=d", 1},
    // SignalFX.
    {"SignalFx", "foo[a=b,c=d]:1|c", "foo", "a:b,c:d", 2},
    {"SignalFxInTheMiddle", "foo.[a=b]bar:1|c", "foo.bar", "a:b", 1},
    {"SignalFxAtTheStart", "[a=b]foo:1|c", "foo", "a:b", 1},
    {"SignalFxEmptyBrackets", "foo[]bar:1|c", "foobar", "", 0},
    {"SignalFxCommaAfterBracketsStaysInName", "foo[a=b],c=d:1|c", "foo,c=d", "a:b", 1},
    {"SignalFxOnlyOpenBracket", "foo[a=b:1|c", "foo[a=b", "", 0, 1},
    {"SignalFxOnlyCloseBracketSkipsInflux", "foo],a=b:1|c", "foo],a=b", "", 0, 1},
    {"SignalFxReversedBrackets", "foo]a=b[:1|c", "foo]a=b[", "", 0, 1},
    {"SignalFxMalformedTag", "foo[a,b=c]:1|c", "foo", "b:c", 1, 1},
    // Sample rates, several values and other fields still apply.
    {"InfluxWithFields", "foo,a=b:1:2|h|@0.5|T1700000000", "foo", "a:b", 1},
    // Malformed name tags only: DogStatsD tags may follow (statsd_exporter counts no labels).
    {"MalformedNameTagsWithDogStatsD", "foo,a:1|c|#x:y", "foo", "x:y", 1, 1},
    // Styles switched off: their characters stay in the name.
    {"InfluxOff", "foo,a=b:1|c", "foo,a=b", "", 0, 0, kNoInflux},
    {"InfluxOffLibratoStillOn", "foo,a=b#c=d:1|c", "foo,a=b", "c:d", 1, 0, kNoInflux},
    {"LibratoOff", "foo#a=b:1|c", "foo#a=b", "", 0, 0, kNoLibrato},
    {"SignalFxOff", "foo[a=b]:1|c", "foo[a=b]", "", 0, 0, kNoSignalFx},
    {"SignalFxOffInfluxInsideBrackets", "foo[a=b,c=d]:1|c", "foo[a=b", "c:d]", 1, 0, kNoSignalFx},
    {"AllNameStylesOff", "f,o#o[a=b]:1|c|#k:v", "f,o#o[a=b]", "k:v", 1, 0,
     TagFormatBit(TagFormat::kDogStatsD)},
    {"DogStatsDOffIgnoresHashField", "foo:1|c|#a:b", "foo", "", 0, 0, kNoDogStatsD},
    {"DogStatsDOffInflux", "foo,a=b:1|c", "foo", "a:b", 1, 0, kNoDogStatsD},
};

void PrintTo(const NameTagCase& c, std::ostream* os) { *os << c.test_name; }

class NameTagsTest : public ::testing::TestWithParam<NameTagCase> {};

TEST_P(NameTagsTest, ParsesTagsInTheName) {
  const NameTagCase& c = GetParam();
  ParserOptions options;
  options.tag_formats = c.formats;
  LineScratch scratch(256);
  ParsedLine p;
  ASSERT_TRUE(ParseLine(c.line, options, &p, &scratch)) << RejectReasonName(p.reason);
  EXPECT_EQ(p.metric.name, c.name);
  EXPECT_EQ(p.metric.tags, c.tags);
  EXPECT_EQ(p.metric.tag_count, c.tag_count);
  EXPECT_EQ(p.metric.malformed_tags, c.malformed_tags);
  // The tag count is what ForEachTag (the aggregator's reader) finds.
  uint32_t seen = 0;
  ForEachTag(p.metric.tags, [&](std::string_view tag) {
    EXPECT_FALSE(tag.empty());
    ++seen;
  });
  EXPECT_EQ(seen, c.tag_count);
}

INSTANTIATE_TEST_SUITE_P(Grammar, NameTagsTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.test_name); });

struct NameTagReject {
  const char* test_name;
  const char* line;
  RejectReason reason;
  uint8_t formats = kAllTagFormats;
};

const NameTagReject kRejects[] = {
    {"InfluxAndDogStatsD", "foo,a=b:1|c|#c:d", RejectReason::kMixedTagStyles},
    {"LibratoAndDogStatsD", "foo#a=b:1|c|#c:d", RejectReason::kMixedTagStyles},
    {"SignalFxAndDogStatsD", "foo[a=b]:1|c|#c:d", RejectReason::kMixedTagStyles},
    {"InfluxAndEmptyDogStatsDSection", "foo,a=b:1|c|#", RejectReason::kMixedTagStyles},
    // statsd_exporter looks for "|#" even when its DogStatsD parsing is off.
    {"MixedWithDogStatsDOff", "foo,a=b:1|c|#c:d", RejectReason::kMixedTagStyles,
     kAllTagFormats & ~TagFormatBit(TagFormat::kDogStatsD)},
    {"InfluxEmptyName", ",a=b:1|c", RejectReason::kEmptyName},
    {"SignalFxEmptyName", "[a=b]:1|c", RejectReason::kEmptyName},
    {"InfluxNoValue", "foo,a=b|c", RejectReason::kMissingValue},
    {"InfluxBadValue", "foo,a=b:x|c", RejectReason::kBadValue},
    {"InfluxUnknownType", "foo,a=b:1|q", RejectReason::kUnknownType},
    {"InfluxTooManyTags", "foo,a=1,b=2,c=3:1|c", RejectReason::kTooManyTags},
};

void PrintTo(const NameTagReject& c, std::ostream* os) { *os << c.test_name; }

class NameTagsRejectTest : public ::testing::TestWithParam<NameTagReject> {};

TEST_P(NameTagsRejectTest, RejectsLine) {
  const NameTagReject& c = GetParam();
  ParserOptions options;
  options.tag_formats = c.formats;
  options.max_tags = 2;
  LineScratch scratch(256);
  ParsedLine p;
  EXPECT_FALSE(ParseLine(c.line, options, &p, &scratch));
  EXPECT_EQ(RejectReasonName(p.reason), RejectReasonName(c.reason));
}

INSTANTIATE_TEST_SUITE_P(Grammar, NameTagsRejectTest, ::testing::ValuesIn(kRejects),
                         [](const auto& info) { return std::string(info.param.test_name); });

TEST(NameTagsTest, MixedLineLeavesNeighboursAlone) {
  std::vector<std::string> accepted;
  int rejected = 0;
  LineScratch scratch(1024);
  ParsedLine p;
  ForEachLine("a,x=1:1|c\nb,x=1:1|c|#y:2\nc:1|c|#y:2\n", [&](std::string_view line) {
    if (ParseLine(line, ParserOptions{}, &p, &scratch)) {
      accepted.push_back(std::string(p.metric.name) + "|" + std::string(p.metric.tags));
    } else {
      ++rejected;
    }
  });
  EXPECT_EQ(accepted, (std::vector<std::string>{"a|x:1", "c|y:2"}));
  EXPECT_EQ(rejected, 1);
}

TEST(NameTagsTest, RewrittenLinesStayValidUntilTheScratchIsCleared) {
  LineScratch scratch(1024);
  ParsedLine first, second;
  ASSERT_TRUE(ParseLine("a,k=v:1|c", ParserOptions{}, &first, &scratch));
  ASSERT_TRUE(ParseLine("b[k=w]:1|c", ParserOptions{}, &second, &scratch));
  EXPECT_EQ(first.metric.name, "a");
  EXPECT_EQ(first.metric.tags, "k:v");
  EXPECT_EQ(second.metric.name, "b");
  EXPECT_EQ(second.metric.tags, "k:w");
}

TEST(NameTagsTest, DogStatsDLinesDoNotUseTheScratch) {
  LineScratch scratch(64);
  ParsedLine p;
  const std::string line = "foo.bar:1|c|#a:b";
  ASSERT_TRUE(ParseLine(line, ParserOptions{}, &p, &scratch));
  EXPECT_EQ(scratch.available(), 64u);
  EXPECT_EQ(p.metric.name.data(), line.data());
}

TEST(NameTagsTest, ALineNeedsAtMostItsLengthPlusTwo) {
  const std::string line = "x,a=b,c=d:1|c";
  LineScratch exact(line.size() + 2);
  ParsedLine p;
  EXPECT_TRUE(ParseLine(line, ParserOptions{}, &p, &exact));
  LineScratch small(4);
  EXPECT_FALSE(ParseLine(line, ParserOptions{}, &p, &small));
  EXPECT_EQ(p.reason, RejectReason::kLineTooLong);
}

TEST(NameTagsTest, SameSeriesSpellingAsDogStatsD) {
  // An InfluxDB line and its DogStatsD twin give the aggregator the same name and tags.
  LineScratch scratch(256);
  ParsedLine influx, dog;
  ASSERT_TRUE(ParseLine("req.count,code=200,method=get:1|c", ParserOptions{}, &influx, &scratch));
  ASSERT_TRUE(ParseLine("req.count:1|c|#code:200,method:get", ParserOptions{}, &dog, &scratch));
  EXPECT_EQ(influx.metric.name, dog.metric.name);
  EXPECT_EQ(influx.metric.tags, dog.metric.tags);
}

TEST(NameTagsTest, NameStopsFoundPastSixteenBytes) {
  // The SSE scan's 16-byte steps and its overlapping tail.
  for (size_t pad = 0; pad < 40; ++pad) {
    const std::string name(pad + 1, 'n');
    for (const char* suffix : {",k=v:1|c", "#k=v:1|c", "[k=v]:1|c"}) {
      ParsedLine p = ParseLine(name + suffix);
      ASSERT_EQ(p.kind, LineKind::kMetric) << pad << suffix;
      EXPECT_EQ(p.metric.name, name);
      EXPECT_EQ(p.metric.tags, "k:v");
    }
  }
}

}  // namespace
}  // namespace tallyd::protocol
