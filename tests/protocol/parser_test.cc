// Tests for protocol/parser.h: the metric grammar (SPEC.md section 2), every RejectReason,
// events, service checks, ValueCursor, ForEachLine and ForEachTag.
#include "protocol/parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/parser_detail.h"

namespace tallyd::protocol {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> Tags(std::string_view raw) {
  std::vector<std::string> out;
  ForEachTag(raw, [&](std::string_view tag) { out.emplace_back(tag); });
  return out;
}

std::vector<double> Values(const MetricLine& m) {
  std::vector<double> out;
  ValueCursor cursor(m);
  double v;
  while (cursor.Next(&v)) out.push_back(v);
  return out;
}

std::vector<std::string> RawValues(const MetricLine& m) {
  std::vector<std::string> out;
  ValueCursor cursor(m);
  std::string_view raw;
  while (cursor.NextRaw(&raw)) out.emplace_back(raw);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Accepted metric lines.

struct AcceptCase {
  const char* test_name;
  const char* line;
  const char* name;
  MetricType type;
  const char* values;
  uint32_t value_count;
  double first_value;
  double sample_rate = 1.0;
  const char* tags = "";
  const char* container_id = "";
  int64_t timestamp = 0;
  uint16_t unknown_fields = 0;
  bool value_signed = false;
  uint32_t tag_count = 0;
};

const AcceptCase kAcceptCases[] = {
    // Etsy StatsD.
    {"EtsyCounter", "gorets:1|c", "gorets", MetricType::kCounter, "1", 1, 1},
    {"EtsyTimerWithSampleRate", "glork:320|ms|@0.1", "glork", MetricType::kTimer, "320", 1, 320,
     0.1},
    {"EtsyGauge", "gaugor:333|g", "gaugor", MetricType::kGauge, "333", 1, 333},
    {"EtsyGaugeNegativeDelta", "gaugor:-10|g", "gaugor", MetricType::kGauge, "-10", 1, -10, 1.0, "",
     "", 0, 0, true},
    {"EtsyGaugePositiveDelta", "gaugor:+4|g", "gaugor", MetricType::kGauge, "+4", 1, 4, 1.0, "", "",
     0, 0, true},
    {"EtsySet", "uniques:765|s", "uniques", MetricType::kSet, "765", 1, 0},
    {"EtsyCounterWithSampleRate", "gorets:1|c|@0.1", "gorets", MetricType::kCounter, "1", 1, 1,
     0.1},
    // DogStatsD examples from Datadog's datagram documentation.
    {"DogPageViews", "page.views:1|c", "page.views", MetricType::kCounter, "1", 1, 1},
    {"DogFuelLevel", "fuel.level:0.5|g", "fuel.level", MetricType::kGauge, "0.5", 1, 0.5},
    {"DogSongLength", "song.length:240|h|@0.5", "song.length", MetricType::kHistogram, "240", 1,
     240, 0.5},
    {"DogUsersUniques", "users.uniques:1234|s", "users.uniques", MetricType::kSet, "1234", 1, 0},
    {"DogUsersOnlineTagged", "users.online:1|c|#country:china", "users.online",
     MetricType::kCounter, "1", 1, 1, 1.0, "country:china", "", 0, 0, false, 1},
    {"DogUsersOnlineRateAndTags", "users.online:1|c|@0.5|#country:china", "users.online",
     MetricType::kCounter, "1", 1, 1, 0.5, "country:china", "", 0, 0, false, 1},
    {"DogDistribution", "request.latency:3.5|d|#env:prod,service:web", "request.latency",
     MetricType::kDistribution, "3.5", 1, 3.5, 1.0, "env:prod,service:web", "", 0, 0, false, 2},
    {"DogTimestamp", "page.views:15|c|#env:dev|T1656581400", "page.views", MetricType::kCounter,
     "15", 1, 15, 1.0, "env:dev", "", 1656581400, 0, false, 1},
    {"DogContainerId", "page.views:1|c|#env:dev|c:83c2f9e1a2b3", "page.views", MetricType::kCounter,
     "1", 1, 1, 1.0, "env:dev", "83c2f9e1a2b3", 0, 0, false, 1},
    {"DogAllFields", "m:2|ms|@0.25|#a:1,b,c:x:y|c:cid|T17", "m", MetricType::kTimer, "2", 1, 2,
     0.25, "a:1,b,c:x:y", "cid", 17, 0, false, 3},
    // Optional fields in any order.
    {"FieldsInReverseOrder", "m:2|ms|T17|c:cid|#a:1,b|@0.25", "m", MetricType::kTimer, "2", 1, 2,
     0.25, "a:1,b", "cid", 17, 0, false, 2},
    {"FieldsShuffled", "m:2|h|#a|T9|@1", "m", MetricType::kHistogram, "2", 1, 2, 1.0, "a", "", 9, 0,
     false, 1},
    // Multiple values.
    {"MultiValueHistogram", "req:1:2:3|h", "req", MetricType::kHistogram, "1:2:3", 3, 1},
    {"MultiValueTimerTagged", "t:1.5:-2:+3e2|ms|#x", "t", MetricType::kTimer, "1.5:-2:+3e2", 3, 1.5,
     1.0, "x", "", 0, 0, false, 1},
    {"MultiValueDistribution", "d:0:0:0:0|d", "d", MetricType::kDistribution, "0:0:0:0", 4, 0},
    // Sets keep the whole section as one opaque value, ':' included.
    {"SetValueIsOpaque", "users:alice|s", "users", MetricType::kSet, "alice", 1, 0},
    {"SetValueKeepsColons", "users:a:b:c|s|#t", "users", MetricType::kSet, "a:b:c", 1, 0, 1.0, "t",
     "", 0, 0, false, 1},
    {"SetValueMayLookLikeNan", "users:nan|s", "users", MetricType::kSet, "nan", 1, 0},
    // Counter with an empty value counts one.
    {"EmptyCounterValueCountsOne", "hits:|c", "hits", MetricType::kCounter, "", 1, 1},
    {"EmptyCounterValueWithFields", "hits:|c|@0.5|#a", "hits", MetricType::kCounter, "", 1, 1, 0.5,
     "a", "", 0, 0, false, 1},
    // Value formats.
    {"ValueExponent", "v:1e3|g", "v", MetricType::kGauge, "1e3", 1, 1000},
    {"ValueUpperExponent", "v:2.5E-1|g", "v", MetricType::kGauge, "2.5E-1", 1, 0.25},
    {"ValueLeadingDot", "v:.5|g", "v", MetricType::kGauge, ".5", 1, 0.5},
    {"ValueTrailingDot", "v:5.|g", "v", MetricType::kGauge, "5.", 1, 5},
    {"ValueLeadingZeros", "v:007|g", "v", MetricType::kGauge, "007", 1, 7},
    {"ValueNegativeZero", "v:-0|g", "v", MetricType::kGauge, "-0", 1, 0, 1.0, "", "", 0, 0, true},
    {"ValueLarge", "v:1.7e308|g", "v", MetricType::kGauge, "1.7e308", 1, 1.7e308},
    // Sample rate edges.
    {"SampleRateOne", "v:1|c|@1", "v", MetricType::kCounter, "1", 1, 1, 1.0},
    {"SampleRateTiny", "v:1|c|@0.0001", "v", MetricType::kCounter, "1", 1, 1, 0.0001},
    {"SampleRateLeadingDot", "v:1|c|@.5", "v", MetricType::kCounter, "1", 1, 1, 0.5},
    // Repeated fields: the last one wins.
    {"RepeatedSampleRateLastWins", "v:1|c|@0.5|@0.25", "v", MetricType::kCounter, "1", 1, 1, 0.25},
    {"RepeatedTagsLastWins", "v:1|c|#a|#b,c", "v", MetricType::kCounter, "1", 1, 1, 1.0, "b,c", "",
     0, 0, false, 2},
    // Unknown fields are ignored but counted.
    {"UnknownFieldCounted", "v:1|c|x:y", "v", MetricType::kCounter, "1", 1, 1, 1.0, "", "", 0, 1},
    {"UnknownFieldsCountedBetweenKnown", "v:1|c|zz|#a|q|@0.5|", "v", MetricType::kCounter, "1", 1,
     1, 0.5, "a", "", 0, 3, false, 1},
    {"EmptyFieldCountedAsUnknown", "v:1|c||#a", "v", MetricType::kCounter, "1", 1, 1, 1.0, "a", "",
     0, 1, false, 1},
    {"CWithoutColonIsUnknown", "v:1|c|cx", "v", MetricType::kCounter, "1", 1, 1, 1.0, "", "", 0, 1},
    // Tags: values may hold ':'; the whole list is kept raw.
    {"TagValueKeepsColons", "v:1|c|#url:http://x:80/a", "v", MetricType::kCounter, "1", 1, 1, 1.0,
     "url:http://x:80/a", "", 0, 0, false, 1},
    {"TagsDuplicatesKeptRaw", "v:1|c|#b:2,a:1,a:1", "v", MetricType::kCounter, "1", 1, 1, 1.0,
     "b:2,a:1,a:1", "", 0, 0, false, 3},
    // An empty tag section is no tags (the Java timgroup client sends it); an empty value is kept.
    {"EmptyTagSectionIsNoTags", "v:1|c|#", "v", MetricType::kCounter, "1", 1, 1},
    {"EmptyTagSectionBeforeField", "v:1|c|#|@0.5", "v", MetricType::kCounter, "1", 1, 1, 0.5},
    {"EmptyTagSectionLastWins", "v:1|c|#a|#", "v", MetricType::kCounter, "1", 1, 1},
    {"EmptyTagValueKept", "v:1|c|#key:", "v", MetricType::kCounter, "1", 1, 1, 1.0, "key:", "", 0,
     0, false, 1},
    {"EmptyTagValuesInList", "v:1|c|#a:,b,c:", "v", MetricType::kCounter, "1", 1, 1, 1.0,
     "a:,b,c:", "", 0, 0, false, 3},
    // Sample rates weight counters' values only: other types may carry any finite value.
    {"LargeGaugeWithSampleRate", "v:1e308|g|@0.001", "v", MetricType::kGauge, "1e308", 1, 1e308,
     0.001},
    {"LargeTimerWithSampleRate", "v:1e308|ms|@0.001", "v", MetricType::kTimer, "1e308", 1, 1e308,
     0.001},
    {"LargestWeightedCounter", "v:1e307|c|@0.1", "v", MetricType::kCounter, "1e307", 1, 1e307, 0.1},
    // Names are kept byte for byte.
    {"NameKeptAsIs", "my metric(x)!:1|c", "my metric(x)!", MetricType::kCounter, "1", 1, 1},
    {"NameUtf8", "caf\xc3\xa9.latency:1|ms", "caf\xc3\xa9.latency", MetricType::kTimer, "1", 1, 1},
    // A metric line's name and tags are checked for UTF-8 where they would create a series
    // (aggregator), not here on every line.
    {"InvalidUtf8LeftToTheAggregator", "x\xff:1|c|#k:\xfe", "x\xff", MetricType::kCounter, "1", 1,
     1, 1.0, "k:\xfe", "", 0, 0, false, 1},
    {"UnderscoreNameIsMetric", "_sc:1|c", "_sc", MetricType::kCounter, "1", 1, 1},
    {"UnderscoreENameIsMetric", "_e:1|c", "_e", MetricType::kCounter, "1", 1, 1},
    // A trailing '\r' is tolerated.
    {"TrailingCarriageReturn", "v:1|c|#a\r", "v", MetricType::kCounter, "1", 1, 1, 1.0, "a", "", 0,
     0, false, 1},
    {"EmptyContainerId", "v:1|c|c:", "v", MetricType::kCounter, "1", 1, 1},
};

// Keeps ctest names readable: gtest would otherwise print each row as bytes.
void PrintTo(const AcceptCase& c, std::ostream* os) { *os << c.test_name; }

class ParserAcceptTest : public ::testing::TestWithParam<AcceptCase> {};

TEST_P(ParserAcceptTest, ParsesMetricLine) {
  const AcceptCase& c = GetParam();
  ParsedLine p = ParseLine(c.line);
  ASSERT_EQ(p.kind, LineKind::kMetric) << "rejected: " << RejectReasonName(p.reason);
  const MetricLine& m = p.metric;
  EXPECT_EQ(m.name, c.name);
  EXPECT_EQ(m.type, c.type);
  EXPECT_EQ(m.values, c.values);
  EXPECT_EQ(m.value_count, c.value_count);
  if (c.type != MetricType::kSet) {
    EXPECT_DOUBLE_EQ(m.first_value, c.first_value);
  }
  EXPECT_DOUBLE_EQ(m.sample_rate, c.sample_rate);
  EXPECT_EQ(m.tags, c.tags);
  EXPECT_EQ(m.tag_count, c.tag_count);
  EXPECT_EQ(m.container_id, c.container_id);
  EXPECT_EQ(m.timestamp, c.timestamp);
  EXPECT_EQ(m.unknown_fields, c.unknown_fields);
  EXPECT_EQ(m.value_signed, c.value_signed);
  // The cursor agrees with the parser on the number of values and the first one.
  EXPECT_EQ(RawValues(m).size(), m.value_count);
  if (c.type != MetricType::kSet) {
    std::vector<double> values = Values(m);
    ASSERT_EQ(values.size(), m.value_count);
    EXPECT_DOUBLE_EQ(values[0], m.first_value);
  }
}

INSTANTIATE_TEST_SUITE_P(Grammar, ParserAcceptTest, ::testing::ValuesIn(kAcceptCases),
                         [](const auto& info) { return std::string(info.param.test_name); });

// ---------------------------------------------------------------------------------------------
// Rejected lines: one row per rule, each RejectReason reached at least once.

struct RejectCase {
  const char* test_name;
  std::string line;
  RejectReason reason;
};

const RejectCase kRejectCases[] = {
    // kEmptyName
    {"EmptyName", ":1|c", RejectReason::kEmptyName},
    {"EmptyNameSet", ":x|s", RejectReason::kEmptyName},
    // kMissingValue
    {"NoColon", "gorets|c", RejectReason::kMissingValue},
    {"NoColonNoBar", "gorets", RejectReason::kMissingValue},
    {"ColonOnlyAfterBar", "gorets|c|#a:b", RejectReason::kMissingValue},
    {"EmptyLine", "", RejectReason::kMissingValue},
    {"OnlyCarriageReturn", "\r", RejectReason::kMissingValue},
    {"EmptyGaugeValue", "g:|g", RejectReason::kMissingValue},
    {"EmptyTimerValue", "t:|ms", RejectReason::kMissingValue},
    {"EmptyHistogramValue", "h:|h", RejectReason::kMissingValue},
    {"EmptyDistributionValue", "d:|d", RejectReason::kMissingValue},
    {"EmptySetValue", "s:|s", RejectReason::kMissingValue},
    // kBadValue
    {"ValueNotANumber", "v:abc|g", RejectReason::kBadValue},
    {"ValueNan", "v:nan|g", RejectReason::kBadValue},
    {"ValueNanUpper", "v:NaN|g", RejectReason::kBadValue},
    {"ValueInf", "v:inf|g", RejectReason::kBadValue},
    {"ValueNegativeInf", "v:-inf|g", RejectReason::kBadValue},
    {"ValuePositiveInfinity", "v:+infinity|g", RejectReason::kBadValue},
    {"ValueOverflowsToInf", "v:1e999|g", RejectReason::kBadValue},
    {"ValueHex", "v:0x10|g", RejectReason::kBadValue},
    {"ValueHexFloat", "v:0x1p3|g", RejectReason::kBadValue},
    {"ValueTrailingGarbage", "v:12abc|g", RejectReason::kBadValue},
    {"ValueLeadingSpace", "v: 1|g", RejectReason::kBadValue},
    {"ValueTrailingSpace", "v:1 |g", RejectReason::kBadValue},
    {"ValueDoubleSign", "v:+-1|g", RejectReason::kBadValue},
    {"ValueDoubleMinus", "v:--1|g", RejectReason::kBadValue},
    {"ValueOnlySign", "v:-|g", RejectReason::kBadValue},
    {"ValueOnlyPlus", "v:+|c", RejectReason::kBadValue},
    {"ValueOnlyDot", "v:.|g", RejectReason::kBadValue},
    {"ValueCommaDecimal", "v:1,5|g", RejectReason::kBadValue},
    {"ValueBadExponent", "v:1e|g", RejectReason::kBadValue},
    {"MultiValueEmptyMiddle", "v:1::2|h", RejectReason::kBadValue},
    {"MultiValueTrailingColon", "v:1:2:|h", RejectReason::kBadValue},
    {"MultiValueLeadingColon", "v::1|h", RejectReason::kBadValue},
    {"MultiValueBadSecond", "v:1:x|h", RejectReason::kBadValue},
    {"MultiValueNanLater", "v:1:2:nan|d", RejectReason::kBadValue},
    {"CounterOnlyColons", "v::|c", RejectReason::kBadValue},
    // kMissingType
    {"NoBar", "v:1", RejectReason::kMissingType},
    {"EmptyType", "v:1|", RejectReason::kMissingType},
    {"EmptyTypeThenFields", "v:1||#a", RejectReason::kMissingType},
    // kUnknownType
    {"UnknownTypeX", "v:1|x", RejectReason::kUnknownType},
    {"UnknownTypeUpper", "v:1|C", RejectReason::kUnknownType},
    {"UnknownTypeLong", "v:1|counter", RejectReason::kUnknownType},
    {"UnknownTypeM", "v:1|m", RejectReason::kUnknownType},
    {"UnknownTypeMss", "v:1|mss", RejectReason::kUnknownType},
    {"UnknownTypeWithSpace", "v:1|c ", RejectReason::kUnknownType},
    {"UnknownTypeBeforeBadValue", "v:abc|zz", RejectReason::kUnknownType},
    // kBadSampleRate
    {"SampleRateAboveOne", "v:1|c|@1.5", RejectReason::kBadSampleRate},
    {"SampleRateZero", "v:1|c|@0", RejectReason::kBadSampleRate},
    {"SampleRateNegative", "v:1|c|@-0.5", RejectReason::kBadSampleRate},
    {"SampleRateEmpty", "v:1|c|@", RejectReason::kBadSampleRate},
    {"SampleRateGarbage", "v:1|c|@abc", RejectReason::kBadSampleRate},
    {"SampleRateNan", "v:1|c|@nan", RejectReason::kBadSampleRate},
    {"SampleRateInf", "v:1|c|@inf", RejectReason::kBadSampleRate},
    {"SampleRateTrailingGarbage", "v:1|c|@0.5x", RejectReason::kBadSampleRate},
    {"SampleRateBadAfterGood", "v:1|c|@0.5|@2", RejectReason::kBadSampleRate},
    // A subnormal rate: 1/rate, every sampled type's weight, is Inf.
    {"SampleRateWeightOverflows", "v:1|ms|@4e-320", RejectReason::kBadSampleRate},
    {"SampleRateWeightOverflowsCounter", "v:0|c|@1e-310", RejectReason::kBadSampleRate},
    // kBadValue: a counter's weighted value value/rate must be finite too.
    {"CounterWeightedValueOverflows", "x:1e308|c|@0.001", RejectReason::kBadValue},
    {"CounterWeightedNegativeOverflows", "x:-1e308|c|@0.1", RejectReason::kBadValue},
    {"CounterLaterWeightedValueOverflows", "x:1:2e308|c|@0.5", RejectReason::kBadValue},
    {"CounterWeightedValueOverflowsRateFirst", "x:1:1e308|c|#a|@0.01", RejectReason::kBadValue},
    // kBadTags
    {"EmptyTagInMiddle", "v:1|c|#a,,b", RejectReason::kBadTags},
    {"EmptyTagTrailingComma", "v:1|c|#a,", RejectReason::kBadTags},
    {"EmptyTagLeadingComma", "v:1|c|#,a", RejectReason::kBadTags},
    {"TagsOnlyComma", "v:1|c|#,", RejectReason::kBadTags},
    // kBadTimestamp
    {"TimestampEmpty", "v:1|c|T", RejectReason::kBadTimestamp},
    {"TimestampZero", "v:1|c|T0", RejectReason::kBadTimestamp},
    {"TimestampNegative", "v:1|c|T-5", RejectReason::kBadTimestamp},
    {"TimestampPlusSign", "v:1|c|T+5", RejectReason::kBadTimestamp},
    {"TimestampFraction", "v:1|c|T1.5", RejectReason::kBadTimestamp},
    {"TimestampGarbage", "v:1|c|Tabc", RejectReason::kBadTimestamp},
    {"TimestampOverflow", "v:1|c|T99999999999999999999", RejectReason::kBadTimestamp},
    // kTooManyTags (default max_tags = 256)
    {"TooManyTags",
     "v:1|c|#" +
         [] {
           std::string t;
           for (int i = 0; i < 257; ++i) t += (i ? ",t" : "t") + std::to_string(i);
           return t;
         }(),
     RejectReason::kTooManyTags},
    // kLineTooLong (default max_line_length = 65535)
    {"LineTooLong", std::string(65532, 'n') + ":1|c", RejectReason::kLineTooLong},
    {"LineTooLongEvent", "_e{1,1}:a|" + std::string(65535, 'b'), RejectReason::kLineTooLong},
    // kBadEvent
    {"EventNoColon", "_e{1,1}a|b", RejectReason::kBadEvent},
    {"EventNoBrace", "_e{1,1:a|b", RejectReason::kBadEvent},
    {"EventNoComma", "_e{11}:a|b", RejectReason::kBadEvent},
    {"EventEmptyTitleLength", "_e{,1}:a|b", RejectReason::kBadEvent},
    {"EventEmptyTextLength", "_e{1,}:a|b", RejectReason::kBadEvent},
    {"EventZeroTitle", "_e{0,1}:|b", RejectReason::kBadEvent},
    {"EventNegativeLength", "_e{-1,1}:a|b", RejectReason::kBadEvent},
    {"EventPlusLength", "_e{+1,1}:a|b", RejectReason::kBadEvent},
    {"EventGarbageLength", "_e{a,1}:a|b", RejectReason::kBadEvent},
    {"EventTitleTooShort", "_e{2,1}:abc|d", RejectReason::kBadEvent},
    {"EventTitleTooLong", "_e{4,1}:abc|d", RejectReason::kBadEvent},
    {"EventTextTooShort", "_e{3,1}:abc|de", RejectReason::kBadEvent},
    {"EventTextTooLong", "_e{3,3}:abc|de", RejectReason::kBadEvent},
    {"EventTextLengthHuge", "_e{3,18446744073709551615}:abc|de", RejectReason::kBadEvent},
    {"EventTitleLengthHuge", "_e{18446744073709551615,1}:abc|de", RejectReason::kBadEvent},
    {"EventLengthOverflow", "_e{99999999999999999999,1}:abc|de", RejectReason::kBadEvent},
    {"EventNoText", "_e{3,0}:abc", RejectReason::kBadEvent},
    {"EventBadPriority", "_e{1,1}:a|b|p:high", RejectReason::kBadEvent},
    {"EventBadAlertType", "_e{1,1}:a|b|t:fatal", RejectReason::kBadEvent},
    {"EventBadTimestamp", "_e{1,1}:a|b|d:soon", RejectReason::kBadEvent},
    {"EventOnlyPrefix", "_e{", RejectReason::kBadEvent},
    {"EventBadTags", "_e{1,1}:a|b|#a,,b", RejectReason::kBadTags},
    // kBadServiceCheck
    {"ServiceCheckNoStatus", "_sc|name", RejectReason::kBadServiceCheck},
    {"ServiceCheckEmptyStatus", "_sc|name|", RejectReason::kBadServiceCheck},
    {"ServiceCheckEmptyName", "_sc||0", RejectReason::kBadServiceCheck},
    {"ServiceCheckStatusFour", "_sc|name|4", RejectReason::kBadServiceCheck},
    {"ServiceCheckStatusNegative", "_sc|name|-1", RejectReason::kBadServiceCheck},
    {"ServiceCheckStatusTwoDigits", "_sc|name|00", RejectReason::kBadServiceCheck},
    {"ServiceCheckStatusWord", "_sc|name|ok", RejectReason::kBadServiceCheck},
    {"ServiceCheckBadTimestamp", "_sc|name|0|d:x", RejectReason::kBadServiceCheck},
    {"ServiceCheckOnlyPrefix", "_sc|", RejectReason::kBadServiceCheck},
    {"ServiceCheckBadTags", "_sc|name|0|#a,,b", RejectReason::kBadTags},
    // kInvalidUtf8: anywhere in an event or a service check.
    {"InfluxTagsAndDogStatsDTags", "x,a=b:1|c|#c:d", RejectReason::kMixedTagStyles},
    {"EventTitleInvalidUtf8", "_e{2,1}:a\xff|b", RejectReason::kInvalidUtf8},
    {"EventTextInvalidUtf8", "_e{1,2}:a|\xc3(", RejectReason::kInvalidUtf8},
    {"EventTagInvalidUtf8", "_e{1,1}:a|b|#k:\xff\xfe", RejectReason::kInvalidUtf8},
    {"EventHostInvalidUtf8", "_e{1,1}:a|b|h:\xed\xa0\x80", RejectReason::kInvalidUtf8},
    {"EventOverlongSlash", "_e{1,2}:a|\xc0\xaf", RejectReason::kInvalidUtf8},
    {"ServiceCheckNameInvalidUtf8", "_sc|\xf4\x90\x80\x80|0", RejectReason::kInvalidUtf8},
    {"ServiceCheckMessageInvalidUtf8", "_sc|db|2|m:down \xe2\x82", RejectReason::kInvalidUtf8},
    {"ServiceCheckTagInvalidUtf8", "_sc|db|2|#k:\x80", RejectReason::kInvalidUtf8},
};

void PrintTo(const RejectCase& c, std::ostream* os) { *os << c.test_name; }

class ParserRejectTest : public ::testing::TestWithParam<RejectCase> {};

TEST_P(ParserRejectTest, RejectsLine) {
  const RejectCase& c = GetParam();
  ParsedLine p = ParseLine(c.line);
  EXPECT_EQ(p.kind, LineKind::kRejected);
  EXPECT_EQ(RejectReasonName(p.reason), RejectReasonName(c.reason));
}

INSTANTIATE_TEST_SUITE_P(Grammar, ParserRejectTest, ::testing::ValuesIn(kRejectCases),
                         [](const auto& info) { return std::string(info.param.test_name); });

TEST(ParserTest, EveryRejectReasonIsReachedByTheTable) {
  bool seen[kRejectReasonCount] = {};
  for (const RejectCase& c : kRejectCases) seen[static_cast<int>(c.reason)] = true;
  for (int i = 0; i < kRejectReasonCount; ++i) {
    EXPECT_TRUE(seen[i]) << RejectReasonName(static_cast<RejectReason>(i));
  }
}

// ---------------------------------------------------------------------------------------------
// Limits.

TEST(ParserTest, AcceptsExactlyMaxTags) {
  ParserOptions options;
  options.max_tags = 3;
  ParsedLine p = ParseLine("v:1|c|#a,b,c", options);
  ASSERT_EQ(p.kind, LineKind::kMetric);
  EXPECT_EQ(p.metric.tag_count, 3u);
}

TEST(ParserTest, RejectsOneTagOverMaxTags) {
  ParserOptions options;
  options.max_tags = 3;
  ParsedLine p = ParseLine("v:1|c|#a,b,c,d", options);
  EXPECT_EQ(p.kind, LineKind::kRejected);
  EXPECT_EQ(p.reason, RejectReason::kTooManyTags);
}

TEST(ParserTest, MaxTagsAppliesToEventsAndServiceChecks) {
  ParserOptions options;
  options.max_tags = 1;
  EXPECT_EQ(ParseLine("_e{1,1}:a|b|#x,y", options).reason, RejectReason::kTooManyTags);
  EXPECT_EQ(ParseLine("_sc|n|0|#x,y", options).reason, RejectReason::kTooManyTags);
  EXPECT_EQ(ParseLine("_sc|n|0|#x", options).kind, LineKind::kServiceCheck);
}

TEST(ParserTest, AcceptsLineOfExactlyMaxLength) {
  ParserOptions options;
  options.max_line_length = 10;
  EXPECT_EQ(ParseLine("abcdef:1|c", options).kind, LineKind::kMetric);
  // The tolerated '\r' does not count.
  EXPECT_EQ(ParseLine("abcdef:1|c\r", options).kind, LineKind::kMetric);
}

TEST(ParserTest, RejectsLineOneOverMaxLength) {
  ParserOptions options;
  options.max_line_length = 10;
  ParsedLine p = ParseLine("abcdefg:1|c", options);
  EXPECT_EQ(p.kind, LineKind::kRejected);
  EXPECT_EQ(p.reason, RejectReason::kLineTooLong);
}

TEST(ParserTest, SaturatesUnknownFieldCount) {
  std::string line = "v:1|c";
  for (int i = 0; i < 70000; ++i) line += "|";
  ParserOptions options;
  options.max_line_length = line.size();
  ParsedLine p = ParseLine(line, options);
  ASSERT_EQ(p.kind, LineKind::kMetric);
  EXPECT_EQ(p.metric.unknown_fields, 65535);
}

// ---------------------------------------------------------------------------------------------
// Specific rules.

TEST(ParserTest, RejectsSampleRateAboveOne) {
  EXPECT_EQ(ParseLine("glork:320|ms|@1.0001").reason, RejectReason::kBadSampleRate);
}

TEST(ParserTest, NameEndsAtFirstColon) {
  ParsedLine p = ParseLine("a:1:2|h");
  ASSERT_EQ(p.kind, LineKind::kMetric);
  EXPECT_EQ(p.metric.name, "a");
  EXPECT_EQ(p.metric.value_count, 2u);
}

TEST(ParserTest, ValueCursorIteratesMultipleValues) {
  ParsedLine p = ParseLine("req:1:-2.5:+3e2:0|h");
  ASSERT_EQ(p.kind, LineKind::kMetric);
  ValueCursor cursor(p.metric);
  std::vector<std::pair<double, bool>> got;
  double v;
  bool is_signed;
  while (cursor.Next(&v, &is_signed)) got.emplace_back(v, is_signed);
  EXPECT_THAT(got, ElementsAre(std::pair(1.0, false), std::pair(-2.5, true), std::pair(300.0, true),
                               std::pair(0.0, false)));
  EXPECT_FALSE(cursor.Next(&v));
}

TEST(ParserTest, ValueCursorYieldsOneForEmptyCounter) {
  ParsedLine p = ParseLine("hits:|c");
  ASSERT_EQ(p.kind, LineKind::kMetric);
  EXPECT_THAT(Values(p.metric), ElementsAre(1.0));
  EXPECT_THAT(RawValues(p.metric), ElementsAre(""));
}

TEST(ParserTest, ValueCursorYieldsSetValueWhole) {
  ParsedLine p = ParseLine("users:a:b|s");
  ASSERT_EQ(p.kind, LineKind::kMetric);
  EXPECT_THAT(RawValues(p.metric), ElementsAre("a:b"));
  // Set values are not numbers.
  EXPECT_THAT(Values(p.metric), IsEmpty());
}

TEST(ParserTest, ValueCursorOnEmptyMetricLineYieldsNothing) {
  MetricLine m;
  EXPECT_THAT(RawValues(m), IsEmpty());
  EXPECT_THAT(Values(m), IsEmpty());
}

TEST(ParserTest, RecordsSignOnlyForFirstValue) {
  EXPECT_FALSE(ParseLine("g:1:-2|g").metric.value_signed);
  EXPECT_TRUE(ParseLine("g:-1:2|g").metric.value_signed);
}

TEST(ParserTest, KeepsOriginDetectionFields) {
  ParsedLine p = ParseLine("v:1|c|c:ci-abc,in-12|e:it-false,cn-x|card:high");
  ASSERT_EQ(p.kind, LineKind::kMetric);
  EXPECT_EQ(p.metric.container_id, "ci-abc,in-12");
  EXPECT_EQ(p.metric.external_data, "it-false,cn-x");
  EXPECT_EQ(p.metric.cardinality, "high");
  EXPECT_EQ(p.metric.unknown_fields, 0);
}

TEST(ParserTest, ParsedTagsSplitIntoNonEmptyTags) {
  ParsedLine p = ParseLine("v:1|c|#env:prod,bare,url:http://h:80");
  ASSERT_EQ(p.kind, LineKind::kMetric);
  EXPECT_THAT(Tags(p.metric.tags), ElementsAre("env:prod", "bare", "url:http://h:80"));
}

TEST(ParserTest, LinesWithoutFieldsHaveDefaults) {
  ParsedLine p = ParseLine("v:1|c");
  ASSERT_EQ(p.kind, LineKind::kMetric);
  EXPECT_EQ(p.metric.tags, "");
  EXPECT_EQ(p.metric.tag_count, 0u);
  EXPECT_EQ(p.metric.container_id, "");
  EXPECT_EQ(p.metric.timestamp, 0);
  EXPECT_DOUBLE_EQ(p.metric.sample_rate, 1.0);
  EXPECT_EQ(p.metric.unknown_fields, 0);
}

TEST(ParserTest, ResultViewsPointIntoTheInput) {
  std::string line = "abc:1|c|#t";
  ParsedLine p = ParseLine(line);
  ASSERT_EQ(p.kind, LineKind::kMetric);
  EXPECT_EQ(p.metric.name.data(), line.data());
  EXPECT_EQ(p.metric.tags.data(), line.data() + 9);
}

// ---------------------------------------------------------------------------------------------
// Events.

TEST(ParserTest, ParsesEventWithAllFields) {
  ParsedLine p = ParseLine(
      "_e{21,36}:An exception occurred|Cannot parse CSV file from 10.0.0.17|d:1656581400|h:web-1"
      "|k:csv|p:low|s:python|t:warning|#err_type:bad_file,env:dev");
  ASSERT_EQ(p.kind, LineKind::kEvent) << RejectReasonName(p.reason);
  const Event& e = p.event;
  EXPECT_EQ(e.title, "An exception occurred");
  EXPECT_EQ(e.text, "Cannot parse CSV file from 10.0.0.17");
  EXPECT_EQ(e.timestamp, 1656581400);
  EXPECT_EQ(e.hostname, "web-1");
  EXPECT_EQ(e.aggregation_key, "csv");
  EXPECT_EQ(e.priority, "low");
  EXPECT_EQ(e.source_type, "python");
  EXPECT_EQ(e.alert_type, "warning");
  EXPECT_EQ(e.tags, "err_type:bad_file,env:dev");
  EXPECT_EQ(e.unknown_fields, 0);
}

TEST(ParserTest, ParsesDatadogDocEventWithEscapedNewline) {
  // From the DogStatsD datagram docs: "\\n" stays as the two bytes '\' 'n' (the aggregator
  // turns it into a newline when it keeps the event).
  std::string_view text = R"(Cannot parse JSON request:\n{"foo: "bar"})";
  std::string line = "_e{21," + std::to_string(text.size()) + "}:An exception occurred|" +
                     std::string(text) + "|p:low|#err_type:bad_request";
  ParsedLine p = ParseLine(line);
  ASSERT_EQ(p.kind, LineKind::kEvent);
  EXPECT_EQ(p.event.text, text);
  EXPECT_EQ(p.event.priority, "low");
  EXPECT_EQ(p.event.tags, "err_type:bad_request");
}

TEST(ParserTest, ParsesMinimalEvent) {
  ParsedLine p = ParseLine("_e{5,4}:title|text");
  ASSERT_EQ(p.kind, LineKind::kEvent);
  EXPECT_EQ(p.event.title, "title");
  EXPECT_EQ(p.event.text, "text");
  EXPECT_EQ(p.event.priority, "");
  EXPECT_EQ(p.event.alert_type, "");
  EXPECT_EQ(p.event.timestamp, 0);
}

TEST(ParserTest, EventTitleAndTextMayHoldBars) {
  ParsedLine p = ParseLine("_e{3,3}:a|b|c|d|#t");
  ASSERT_EQ(p.kind, LineKind::kEvent);
  EXPECT_EQ(p.event.title, "a|b");
  EXPECT_EQ(p.event.text, "c|d");
  EXPECT_EQ(p.event.tags, "t");
}

TEST(ParserTest, EventTextMayBeEmpty) {
  ParsedLine p = ParseLine("_e{1,0}:a||t:error");
  ASSERT_EQ(p.kind, LineKind::kEvent);
  EXPECT_EQ(p.event.text, "");
  EXPECT_EQ(p.event.alert_type, "error");
}

TEST(ParserTest, EventLengthsAreBytes) {
  // "caf\xc3\xa9" is four characters but five bytes.
  ParsedLine p = ParseLine("_e{5,1}:caf\xc3\xa9|x");
  ASSERT_EQ(p.kind, LineKind::kEvent);
  EXPECT_EQ(p.event.title, "caf\xc3\xa9");
}

TEST(ParserTest, EventAndServiceCheckAcceptUtf8AndEmptyTagSection) {
  ParsedLine e = ParseLine(
      "_e{5,9}:caf\xc3\xa9|\xf0\x9f\x94\xa5 \xe2\x82\xac"
      "1|#");
  ASSERT_EQ(e.kind, LineKind::kEvent) << RejectReasonName(e.reason);
  EXPECT_EQ(e.event.text,
            "\xf0\x9f\x94\xa5 \xe2\x82\xac"
            "1");
  EXPECT_EQ(e.event.tags, "");
  ParsedLine sc = ParseLine("_sc|db|1|#|m:\xef\xbf\xbf \xf4\x8f\xbf\xbf");
  ASSERT_EQ(sc.kind, LineKind::kServiceCheck) << RejectReasonName(sc.reason);
  EXPECT_EQ(sc.service_check.tags, "");
  EXPECT_EQ(sc.service_check.message, "\xef\xbf\xbf \xf4\x8f\xbf\xbf");
}

TEST(ParserTest, EventCountsUnknownFields) {
  ParsedLine p = ParseLine("_e{1,1}:a|b|zz|x:1|c:cid|t:info|p:normal|t:success");
  ASSERT_EQ(p.kind, LineKind::kEvent);
  EXPECT_EQ(p.event.unknown_fields, 3);
  EXPECT_EQ(p.event.alert_type, "success");
  EXPECT_EQ(p.event.priority, "normal");
}

TEST(ParserTest, EventAcceptsTrailingCarriageReturn) {
  ParsedLine p = ParseLine("_e{1,1}:a|b\r");
  ASSERT_EQ(p.kind, LineKind::kEvent);
  EXPECT_EQ(p.event.text, "b");
}

// ---------------------------------------------------------------------------------------------
// Service checks.

TEST(ParserTest, ParsesServiceCheckWithAllFields) {
  ParsedLine p = ParseLine(
      "_sc|Redis connection|2|d:1656581400|h:db-1|#env:dev,team:cache|m:Redis connection timed "
      "out after 10s");
  ASSERT_EQ(p.kind, LineKind::kServiceCheck) << RejectReasonName(p.reason);
  const ServiceCheck& sc = p.service_check;
  EXPECT_EQ(sc.name, "Redis connection");
  EXPECT_EQ(sc.status, 2);
  EXPECT_EQ(sc.timestamp, 1656581400);
  EXPECT_EQ(sc.hostname, "db-1");
  EXPECT_EQ(sc.tags, "env:dev,team:cache");
  EXPECT_EQ(sc.message, "Redis connection timed out after 10s");
  EXPECT_EQ(sc.unknown_fields, 0);
}

TEST(ParserTest, ParsesDatadogDocServiceCheck) {
  ParsedLine p =
      ParseLine("_sc|Redis connection|2|#env:dev|m:Redis connection timed out after 10s");
  ASSERT_EQ(p.kind, LineKind::kServiceCheck);
  EXPECT_EQ(p.service_check.tags, "env:dev");
  EXPECT_EQ(p.service_check.message, "Redis connection timed out after 10s");
}

TEST(ParserTest, ParsesEveryServiceCheckStatus) {
  for (int status = 0; status <= 3; ++status) {
    std::string line = "_sc|check|" + std::to_string(status);
    ParsedLine p = ParseLine(line);
    ASSERT_EQ(p.kind, LineKind::kServiceCheck) << line;
    EXPECT_EQ(p.service_check.status, status);
  }
}

TEST(ParserTest, ServiceCheckMessageTakesRestOfLine) {
  ParsedLine p = ParseLine("_sc|c|1|m:a|b|#not:tags\r");
  ASSERT_EQ(p.kind, LineKind::kServiceCheck);
  EXPECT_EQ(p.service_check.message, "a|b|#not:tags");
  EXPECT_EQ(p.service_check.tags, "");
}

TEST(ParserTest, ServiceCheckCountsUnknownFields) {
  ParsedLine p = ParseLine("_sc|c|3|x|k:v|h:host");
  ASSERT_EQ(p.kind, LineKind::kServiceCheck);
  EXPECT_EQ(p.service_check.unknown_fields, 2);
  EXPECT_EQ(p.service_check.hostname, "host");
}

// ---------------------------------------------------------------------------------------------
// Names.

TEST(ParserTest, NamesAllMetricTypes) {
  EXPECT_EQ(MetricTypeName(MetricType::kCounter), "counter");
  EXPECT_EQ(MetricTypeName(MetricType::kGauge), "gauge");
  EXPECT_EQ(MetricTypeName(MetricType::kTimer), "timer");
  EXPECT_EQ(MetricTypeName(MetricType::kHistogram), "histogram");
  EXPECT_EQ(MetricTypeName(MetricType::kDistribution), "distribution");
  EXPECT_EQ(MetricTypeName(MetricType::kSet), "set");
}

TEST(ParserTest, NamesAllRejectReasonsInSnakeCase) {
  const char* expected[kRejectReasonCount] = {
      "empty_name",    "missing_value",       "bad_value", "missing_type",
      "unknown_type",  "bad_sample_rate",     "bad_tags",  "bad_timestamp",
      "line_too_long", "too_many_tags",       "bad_event", "bad_service_check",
      "invalid_utf8",  "mixed_tagging_styles"};
  for (int i = 0; i < kRejectReasonCount; ++i) {
    EXPECT_EQ(RejectReasonName(static_cast<RejectReason>(i)), expected[i]);
  }
}

// ---------------------------------------------------------------------------------------------
// ForEachLine and ForEachTag.

std::vector<std::string> Lines(std::string_view data) {
  std::vector<std::string> out;
  ForEachLine(data, [&](std::string_view line) { out.emplace_back(line); });
  return out;
}

TEST(ParserTest, ForEachLineSplitsOnNewline) {
  EXPECT_THAT(Lines("a:1|c\nb:2|g"), ElementsAre("a:1|c", "b:2|g"));
}

TEST(ParserTest, ForEachLineDropsCarriageReturn) {
  EXPECT_THAT(Lines("a:1|c\r\nb:2|g\r\n"), ElementsAre("a:1|c", "b:2|g"));
}

TEST(ParserTest, ForEachLineAcceptsTrailingNewline) {
  EXPECT_THAT(Lines("a:1|c\n"), ElementsAre("a:1|c"));
}

TEST(ParserTest, ForEachLineSkipsEmptyLines) {
  EXPECT_THAT(Lines("\n\na:1|c\n\r\n\nb:2|g\n\n"), ElementsAre("a:1|c", "b:2|g"));
  EXPECT_THAT(Lines(""), IsEmpty());
  EXPECT_THAT(Lines("\n"), IsEmpty());
  EXPECT_THAT(Lines("\r\n"), IsEmpty());
}

TEST(ParserTest, BadLineDoesNotAffectNeighbours) {
  std::vector<ParsedLine> parsed;
  ForEachLine("a:1|c\r\nbroken\nb:2|g|@7\nc:3|ms|#t\n_e{9,1}:x|y\n_sc|ok|0\n",
              [&](std::string_view line) { parsed.push_back(ParseLine(line)); });
  ASSERT_EQ(parsed.size(), 6u);
  EXPECT_EQ(parsed[0].kind, LineKind::kMetric);
  EXPECT_EQ(parsed[0].metric.name, "a");
  EXPECT_EQ(parsed[1].kind, LineKind::kRejected);
  EXPECT_EQ(parsed[1].reason, RejectReason::kMissingValue);
  EXPECT_EQ(parsed[2].kind, LineKind::kRejected);
  EXPECT_EQ(parsed[2].reason, RejectReason::kBadSampleRate);
  EXPECT_EQ(parsed[3].kind, LineKind::kMetric);
  EXPECT_EQ(parsed[3].metric.name, "c");
  EXPECT_EQ(parsed[3].metric.tags, "t");
  EXPECT_EQ(parsed[4].kind, LineKind::kRejected);
  EXPECT_EQ(parsed[4].reason, RejectReason::kBadEvent);
  EXPECT_EQ(parsed[5].kind, LineKind::kServiceCheck);
}

// ---------------------------------------------------------------------------------------------
// Fast paths: each must give exactly what the general code gives.

// The bits of what std::from_chars makes of a value (after an optional '+'); false when it
// rejects it.
bool FromChars(std::string_view s, uint64_t* bits) {
  double v;
  const char* p = s.data();
  if (!s.empty() && s[0] == '+') ++p;
  auto [ptr, ec] = std::from_chars(p, s.data() + s.size(), v, std::chars_format::general);
  if (ec != std::errc() || ptr != s.data() + s.size()) return false;
  std::memcpy(bits, &v, sizeof v);
  return true;
}

TEST(ParserTest, ShortDecimalsAreBitForBitFromChars) {
  std::mt19937_64 rng(42);
  std::vector<std::string> values = {"0",
                                     "-0",
                                     "-0.0",
                                     "0.1",
                                     "0.3",
                                     "1.5",
                                     "99999",
                                     "2.675",
                                     "1.005",
                                     "0.5",
                                     "+7",
                                     "-12.25",
                                     "1.",
                                     ".5",
                                     "00012",
                                     "1e3",
                                     "9007199254740993",
                                     "123456789012345",
                                     "1234567890123456",
                                     "0.000000000000001",
                                     "1.23456789012345",
                                     "99999999999999.9",
                                     "4503599627370497.5"};
  for (int i = 0; i < 200000; ++i) {
    std::string v;
    const int digits = 1 + static_cast<int>(rng() % 18);
    for (int d = 0; d < digits; ++d) v += static_cast<char>('0' + rng() % 10);
    if (rng() % 4 != 0) v.insert(v.begin() + static_cast<long>(rng() % (v.size() + 1)), '.');
    if (rng() % 4 == 0) v.insert(v.begin(), rng() % 2 ? '-' : '+');
    values.push_back(v);
  }
  for (const std::string& v : values) {
    SCOPED_TRACE(v);
    const std::string line = "x:" + v + "|g";
    uint64_t want;
    ParsedLine p = ParseLine(line);
    if (!FromChars(v, &want)) {  // ".", "-." and the like
      EXPECT_EQ(p.reason, RejectReason::kBadValue);
      continue;
    }
    ASSERT_EQ(p.kind, LineKind::kMetric);
    uint64_t got;
    std::memcpy(&got, &p.metric.first_value, sizeof got);
    EXPECT_EQ(got, want);
    EXPECT_EQ(p.metric.value_signed, v[0] == '+' || v[0] == '-');
    double again;
    ValueCursor cursor(p.metric);
    ASSERT_TRUE(cursor.Next(&again));
    EXPECT_EQ(std::memcmp(&again, &p.metric.first_value, sizeof again), 0);
  }
}

TEST(ParserTest, TagChecksAgreeOnLongAndOddTagLists) {
  ParserOptions options;
  options.max_tags = 5;
  // Commas on both sides of a 16-byte boundary, long lists, limits.
  EXPECT_EQ(ParseLine("v:1|c|#aaaaaaaaaaaaaaa,,b", options).reason, RejectReason::kBadTags);
  EXPECT_EQ(ParseLine("v:1|c|#aaaaaaaaaaaaaa,,b", options).reason, RejectReason::kBadTags);
  EXPECT_EQ(ParseLine("v:1|c|#aaaaaaaaaaaaaaaa,", options).reason, RejectReason::kBadTags);
  EXPECT_EQ(ParseLine("v:1|c|#,aaaaaaaaaaaaaaaaaaaaa", options).reason, RejectReason::kBadTags);
  EXPECT_EQ(ParseLine("v:1|c|#a,b,c,d,e,f,,", options).reason, RejectReason::kTooManyTags);
  EXPECT_EQ(ParseLine("v:1|c|#a,b,,c,d,e,f", options).reason, RejectReason::kBadTags);
  ParsedLine p =
      ParseLine("v:1|c|#aaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb,c,dddddddddddddddddd,e", options);
  ASSERT_EQ(p.kind, LineKind::kMetric);
  EXPECT_EQ(p.metric.tag_count, 5u);
  EXPECT_EQ(
      ParseLine("v:1|c|#aaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb,c,dddddddddddddddddd,e,f", options).reason,
      RejectReason::kTooManyTags);
}

TEST(ParserTest, ReusedParsedLineMatchesByValue) {
  const char* lines[] = {"_e{1,1}:a|b|h:host|#x,y",
                         "a.b:1.5|ms|@0.5|#t:1,u|c:cid|T17",
                         "_sc|n|2|h:h|m:msg|x",
                         "broken",
                         "c:|c",
                         "g:-3|g|#k",
                         "_e{1,1}:a|b|p:high",
                         "_sc|n|0"};
  ParsedLine reused;
  for (int round = 0; round < 2; ++round) {
    for (const char* line : lines) {
      SCOPED_TRACE(line);
      const ParsedLine want = ParseLine(line);
      EXPECT_EQ(ParseLine(line, ParserOptions{}, &reused), want.kind != LineKind::kRejected);
      ASSERT_EQ(reused.kind, want.kind);
      switch (want.kind) {
        case LineKind::kMetric: {
          const MetricLine& a = reused.metric;
          const MetricLine& b = want.metric;
          EXPECT_EQ(a.name, b.name);
          EXPECT_EQ(a.type, b.type);
          EXPECT_EQ(a.values, b.values);
          EXPECT_EQ(a.value_count, b.value_count);
          EXPECT_EQ(a.first_value, b.first_value);
          EXPECT_EQ(a.sample_rate, b.sample_rate);
          EXPECT_EQ(a.tags, b.tags);
          EXPECT_EQ(a.container_id, b.container_id);
          EXPECT_EQ(a.timestamp, b.timestamp);
          EXPECT_EQ(a.unknown_fields, b.unknown_fields);
          EXPECT_EQ(a.value_signed, b.value_signed);
          EXPECT_EQ(a.tag_count, b.tag_count);
          EXPECT_EQ(a.external_data, b.external_data);
          EXPECT_EQ(a.cardinality, b.cardinality);
          break;
        }
        case LineKind::kEvent: {
          const Event& a = reused.event;
          const Event& b = want.event;
          EXPECT_EQ(a.title, b.title);
          EXPECT_EQ(a.text, b.text);
          EXPECT_EQ(a.timestamp, b.timestamp);
          EXPECT_EQ(a.hostname, b.hostname);
          EXPECT_EQ(a.aggregation_key, b.aggregation_key);
          EXPECT_EQ(a.priority, b.priority);
          EXPECT_EQ(a.source_type, b.source_type);
          EXPECT_EQ(a.alert_type, b.alert_type);
          EXPECT_EQ(a.tags, b.tags);
          EXPECT_EQ(a.unknown_fields, b.unknown_fields);
          break;
        }
        case LineKind::kServiceCheck: {
          const ServiceCheck& a = reused.service_check;
          const ServiceCheck& b = want.service_check;
          EXPECT_EQ(a.name, b.name);
          EXPECT_EQ(a.status, b.status);
          EXPECT_EQ(a.timestamp, b.timestamp);
          EXPECT_EQ(a.hostname, b.hostname);
          EXPECT_EQ(a.tags, b.tags);
          EXPECT_EQ(a.message, b.message);
          EXPECT_EQ(a.unknown_fields, b.unknown_fields);
          break;
        }
        case LineKind::kRejected:
          EXPECT_EQ(reused.reason, want.reason);
          break;
      }
    }
  }
}

// The straightforward one-search-per-line splitter ForEachLine must agree with.
std::vector<std::string_view> ReferenceLines(std::string_view data) {
  std::vector<std::string_view> out;
  while (!data.empty()) {
    size_t nl = data.find('\n');
    std::string_view line = data.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) out.push_back(line);
    if (nl == std::string_view::npos) break;
    data.remove_prefix(nl + 1);
  }
  return out;
}

TEST(ParserTest, ForEachLineMatchesReferenceSplitter) {
  std::mt19937_64 rng(7);
  const char alphabet[] = "ab\n\r\n:";
  for (int i = 0; i < 20000; ++i) {
    std::string data;
    const size_t size = rng() % 200;
    const int newline_odds = 1 + static_cast<int>(rng() % 60);
    for (size_t j = 0; j < size; ++j) {
      data += rng() % newline_odds == 0 ? alphabet[2 + rng() % 3] : alphabet[rng() % 2];
    }
    std::vector<std::string_view> got;
    ForEachLine(data, [&](std::string_view line) { got.push_back(line); });
    const std::vector<std::string_view> want = ReferenceLines(data);
    ASSERT_EQ(got.size(), want.size()) << data;
    for (size_t k = 0; k < got.size(); ++k) {
      // Same bytes of the same buffer, not only equal text.
      EXPECT_EQ(got[k].data(), want[k].data());
      EXPECT_EQ(got[k].size(), want[k].size());
    }
  }
}

TEST(ParserTest, ForEachTagSplitsOnComma) {
  EXPECT_THAT(Tags("a:1,b,c:x:y"), ElementsAre("a:1", "b", "c:x:y"));
  EXPECT_THAT(Tags("single"), ElementsAre("single"));
  EXPECT_THAT(Tags(""), IsEmpty());
}

// The shard finds series by the parser's hash, also keys it created from canonical tags or that
// another shard created: the hash must be HashSeries of the line's final name and tags, also
// when the parser rewrote them (tags in the name) and whatever else the line holds.
TEST(ParserTest, SeriesHashIsHashSeriesOfTheLinesNameAndTags) {
  const char* lines[] = {"a:1|c",
                         "prod.web-3.checkout.http.server.requests.123:4|c",
                         "a.b:1.5:2|ms|@0.5|#t:1,u|c:cid|T17",
                         "g:-3|g|#k",
                         "exactly.sixteen.:1|h|#aaaaaaaaaaaaaaaa",
                         "x:1|d|#host:web-12,env:prod,endpoint:/api/v1/users,status:201",
                         "users:a:b|s|#z",
                         "c:|c",
                         "cpu,host=a,region=eu:1|g",
                         "cpu#host=a:1|c",
                         "cpu[host=a]:1|c"};
  LineScratch scratch(1024);
  ParsedLine reused;
  for (const char* line : lines) {
    SCOPED_TRACE(line);
    const ParsedLine p = ParseLine(line);
    ASSERT_EQ(p.kind, LineKind::kMetric);
    EXPECT_EQ(p.metric.series_hash, HashSeries(p.metric.type, p.metric.name, p.metric.tags));
    ASSERT_TRUE(ParseLine(line, ParserOptions{}, &reused, &scratch));
    EXPECT_EQ(reused.metric.series_hash, p.metric.series_hash);
  }
  // Type, name and tags each count, and the name / tags boundary too.
  EXPECT_NE(HashSeries(MetricType::kCounter, "a", ""), HashSeries(MetricType::kGauge, "a", ""));
  EXPECT_NE(HashSeries(MetricType::kCounter, "ab", "c"),
            HashSeries(MetricType::kCounter, "a", "bc"));
  EXPECT_NE(HashSeries(MetricType::kCounter, "a", "b"), HashSeries(MetricType::kCounter, "a", "c"));
}

// The worker's form writes a metric line into the caller's slot exactly as the other forms do,
// and leaves the slot's neighbours (and other->metric) alone.
TEST(ParserTest, ParsesMetricLineIntoTheCallersSlot) {
  const char* lines[] = {"a.b:1.5|ms|@0.5|#t:1,u|c:cid|T17",
                         "_e{1,1}:a|b",
                         "_sc|n|2",
                         "broken",
                         "g:-3|g|#k",
                         "cpu,host=a:1|c"};
  LineScratch scratch(1024);
  for (const char* line : lines) {
    SCOPED_TRACE(line);
    const ParsedLine want = ParseLine(line);
    MetricLine slots[3];
    slots[0].name = slots[2].name = "untouched";
    ParsedLine other;
    other.metric.name = "untouched";
    EXPECT_EQ(ParseLine(line, ParserOptions{}, &slots[1], &other, &scratch), want.kind);
    EXPECT_EQ(other.kind, want.kind);
    EXPECT_EQ(slots[0].name, "untouched");
    EXPECT_EQ(slots[2].name, "untouched");
    EXPECT_EQ(other.metric.name, "untouched");
    if (want.kind == LineKind::kMetric) {
      EXPECT_EQ(slots[1].name, want.metric.name);
      EXPECT_EQ(slots[1].values, want.metric.values);
      EXPECT_EQ(slots[1].tags, want.metric.tags);
      EXPECT_EQ(slots[1].sample_rate, want.metric.sample_rate);
      EXPECT_EQ(slots[1].timestamp, want.metric.timestamp);
      EXPECT_EQ(slots[1].series_hash, want.metric.series_hash);
    } else if (want.kind == LineKind::kRejected) {
      EXPECT_EQ(other.reason, want.reason);
    } else if (want.kind == LineKind::kEvent) {
      EXPECT_EQ(other.event.title, want.event.title);
    } else {
      EXPECT_EQ(other.service_check.name, want.service_check.name);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The fast path for the common shapes must be the general parser, line for line.

// Every field, and for views the very bytes (same buffer, same place), not only equal text.
void ExpectSameMetric(const MetricLine& a, const MetricLine& b) {
  auto same_view = [](std::string_view x, std::string_view y) {
    return x.size() == y.size() && (x.empty() || x.data() == y.data());
  };
  EXPECT_TRUE(same_view(a.name, b.name)) << a.name << " / " << b.name;
  EXPECT_EQ(a.type, b.type);
  EXPECT_TRUE(same_view(a.values, b.values)) << a.values << " / " << b.values;
  EXPECT_EQ(a.value_count, b.value_count);
  EXPECT_EQ(std::memcmp(&a.first_value, &b.first_value, sizeof(double)), 0)
      << a.first_value << " / " << b.first_value;
  EXPECT_EQ(std::memcmp(&a.sample_rate, &b.sample_rate, sizeof(double)), 0);
  EXPECT_TRUE(same_view(a.tags, b.tags)) << a.tags << " / " << b.tags;
  EXPECT_TRUE(same_view(a.container_id, b.container_id));
  EXPECT_EQ(a.timestamp, b.timestamp);
  EXPECT_EQ(a.unknown_fields, b.unknown_fields);
  EXPECT_EQ(a.value_signed, b.value_signed);
  EXPECT_EQ(a.malformed_tags, b.malformed_tags);
  EXPECT_EQ(a.tag_count, b.tag_count);
  EXPECT_TRUE(same_view(a.external_data, b.external_data));
  EXPECT_TRUE(same_view(a.cardinality, b.cardinality));
  EXPECT_EQ(a.series_hash, b.series_hash);
}

// Lines built from the grammar's pieces, common and odd, then mutated byte by byte.
std::string RandomMetricLine(std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  static const char* kNames[] = {"a",      "prod.web-3.checkout.http.server.requests.123",
                                 "x.y",    "exactly.sixteen.",
                                 "n,k=v",  "n#k=v",
                                 "n[k=v]", "_x",
                                 "",       "caf\xc3\xa9",
                                 "a]b",    "sixteen.bytes.ab"};
  static const char* kValues[] = {"1",
                                  "4",
                                  "0",
                                  "-0",
                                  "+7",
                                  "12.5",
                                  "-3.25",
                                  "99999",
                                  "1.",
                                  ".5",
                                  "1e3",
                                  "",
                                  "1:2",
                                  "123456789012345",
                                  "1234567890123456",
                                  "0.000000000000001",
                                  "12345678901234.5",
                                  "nan",
                                  "inf",
                                  "-",
                                  "+-1",
                                  "00012",
                                  "1_0",
                                  "4e307",
                                  "1.5.2",
                                  "12345678901234567890"};
  static const char* kTypes[] = {"c", "c", "c",   "g", "ms", "h", "d",
                                 "s", "m", "mss", "x", "",   "C", "cc"};
  static const char* kFields[] = {"@0.5",
                                  "@1",
                                  "@0",
                                  "@1.5",
                                  "@",
                                  "@1e-320",
                                  "@-0.5",
                                  "@0.25",
                                  "#",
                                  "#a",
                                  "#a:1,b:2",
                                  "#a,,b",
                                  "#,a",
                                  "#a,",
                                  "#a,b,c,d,e,f",
                                  "#host:web-12,env:prod,endpoint:/api/v1/users,status:201",
                                  "T17",
                                  "T0",
                                  "c:cid",
                                  "e:x",
                                  "card:low",
                                  "zz",
                                  "",
                                  "@0.001",
                                  "#k:v:w",
                                  "#\xff"};
  // Half the lines from the first (common) entries of each table only, unmutated.
  const bool common = pick(2) == 0;
  auto from = [&](const char* const* table, size_t size, size_t common_size) {
    return table[pick(common ? common_size : size)];
  };
  std::string line = from(kNames, std::size(kNames), 4);
  line += ':';
  line += from(kValues, std::size(kValues), 8);
  if (common || pick(3) != 0) {
    line += '|';
    line += from(kTypes, std::size(kTypes), 6);
  }
  for (size_t f = pick(4); f > 0; --f) {
    line += '|';
    line += from(kFields, std::size(kFields), 11);
  }
  static const char kBytes[] = ":|@#,.-+e0123456789cgmshdT[]=\r x";
  for (size_t m = !common && pick(4) == 0 ? 1 + pick(3) : 0; m > 0 && !line.empty(); --m) {
    const size_t at = pick(line.size());
    const char c = kBytes[pick(sizeof(kBytes) - 1)];
    switch (pick(3)) {
      case 0:
        line[at] = c;
        break;
      case 1:
        line.insert(line.begin() + static_cast<long>(at), c);
        break;
      default:
        line.erase(at, 1);
        break;
    }
  }
  return line;
}

TEST(ParserTest, CommonShapesParseAsTheGeneralParser) {
  std::mt19937_64 rng(10);
  ParserOptions small_tags;
  small_tags.max_tags = 3;
  ParserOptions dogstatsd_only;
  dogstatsd_only.tag_formats = TagFormatBit(TagFormat::kDogStatsD);
  ParserOptions no_dogstatsd;
  no_dogstatsd.tag_formats =
      static_cast<uint8_t>(kAllTagFormats & ~TagFormatBit(TagFormat::kDogStatsD));
  ParserOptions short_lines;
  short_lines.max_line_length = 20;
  const ParserOptions all_options[] = {ParserOptions{}, small_tags, dogstatsd_only, no_dogstatsd,
                                       short_lines};
  size_t fast = 0, accepted = 0, total = 0;
  LineScratch scratch(1024);
  ParsedLine reused;
  MetricLine slot;
  for (int i = 0; i < 300000; ++i) {
    const std::string line = RandomMetricLine(rng);
    for (const ParserOptions& options : all_options) {
      SCOPED_TRACE(line);
      ++total;
      const ParsedLine want = detail::ParseLineGeneral(line, options);
      accepted += want.kind == LineKind::kMetric;
      MetricLine common;
      if (detail::ParseCommonMetricLine(line, options, &common)) {
        ++fast;
        ASSERT_EQ(want.kind, LineKind::kMetric);
        ExpectSameMetric(common, want.metric);
      }
      // And the public forms, which try the fast path first.
      scratch.Clear();
      ASSERT_EQ(ParseLine(line, options, &slot, &reused, &scratch), want.kind);
      if (want.kind == LineKind::kMetric) {
        if (want.metric.malformed_tags == 0 && want.metric.name.data() >= line.data() &&
            want.metric.name.data() < line.data() + line.size()) {
          ExpectSameMetric(slot, want.metric);
        } else {
          // Tags in the name: rewritten into this scratch, not the general parser's.
          EXPECT_EQ(slot.name, want.metric.name);
          EXPECT_EQ(slot.tags, want.metric.tags);
          EXPECT_EQ(slot.series_hash, want.metric.series_hash);
        }
      } else if (want.kind == LineKind::kRejected) {
        ASSERT_EQ(reused.reason, want.reason);
      }
      if (HasFailure()) return;
    }
  }
  // The generator reaches both sides: many lines take the fast path, many do not.
  EXPECT_GT(fast, total / 10);
  EXPECT_GT(accepted - fast, total / 50);
  EXPECT_GT(total - accepted, total / 10);
}

}  // namespace
}  // namespace tallyd::protocol
