#include "aggregator/series_key.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace tallyd::aggregator {
namespace {

struct CanonicalCase {
  std::vector<std::string> global;
  std::string raw;
  std::string canonical;
};

class CanonicalizeTest : public testing::TestWithParam<CanonicalCase> {};

TEST_P(CanonicalizeTest, SortsDeduplicatesAndMergesGlobalTags) {
  TagCanonicalizer c(GetParam().global);
  EXPECT_EQ(c.Canonicalize(GetParam().raw), GetParam().canonical);
}

INSTANTIATE_TEST_SUITE_P(
    Tags, CanonicalizeTest,
    testing::Values(CanonicalCase{{}, "", ""}, CanonicalCase{{}, "a:1,b:2", "a:1,b:2"},
                    CanonicalCase{{}, "b:2,a:1,a:1", "a:1,b:2"},
                    CanonicalCase{{}, "z,a:x:y,m", "a:x:y,m,z"},
                    CanonicalCase{{}, "a:1,a:2", "a:1,a:2"},
                    CanonicalCase{{"env:prod", "dc"}, "", "dc,env:prod"},
                    CanonicalCase{{"env:prod"}, "b:1", "b:1,env:prod"},
                    // A line's own tag with the same key wins over the global one.
                    CanonicalCase{{"env:prod", "dc:1"}, "env:dev", "dc:1,env:dev"},
                    CanonicalCase{{"env:prod"}, "env", "env"},
                    CanonicalCase{{"env:prod"}, "env:prod", "env:prod"}));

TEST(SplitTagTest, FirstColonSplits) {
  TagView t = SplitTag("url:http://x");
  EXPECT_EQ(t.key, "url");
  EXPECT_EQ(t.value, "http://x");
  EXPECT_FALSE(t.bare);
  TagView bare = SplitTag("canary");
  EXPECT_EQ(bare.key, "canary");
  EXPECT_TRUE(bare.bare);
}

TEST(SeriesKeyTest, TagList) {
  SeriesKeyRef key = SeriesKey::Make(7, MetricType::kGauge, "g", "a:1,b");
  EXPECT_EQ(key->id(), 7u);
  EXPECT_EQ(key->type(), MetricType::kGauge);
  EXPECT_EQ(key->name(), "g");
  EXPECT_EQ(key->tags(), "a:1,b");
  auto list = key->TagList();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].text, "a:1");
  EXPECT_EQ(list[1].key, "b");
  EXPECT_TRUE(list[1].bare);
}

// The header keeps 16-bit lengths; a name or tag list of 65535 bytes or more (a long
// max_line_length, global tags, a mapping's output) moves both lengths out of it.
TEST(SeriesKeyTest, LongNamesAndTagsKeepEveryByte) {
  auto options = std::make_shared<mapping::SeriesOptions>();
  options->help = "h";
  const std::string at_limit(65534, 'n'), long_name(70000, 'N'), long_tags(65535, 't');
  struct Case {
    std::string_view name, tags;
  } cases[] = {{at_limit, "a:1"},      {long_name, "a:1"}, {"m", long_tags},
               {long_name, long_tags}, {"", ""},           {long_name, ""}};
  for (const Case& c : cases) {
    for (bool with_options : {false, true}) {
      SeriesKeyRef key = SeriesKey::Make(9, MetricType::kSet, c.name, c.tags, 0xabcdef12,
                                         SeriesOf(3, 77), with_options ? options : nullptr);
      EXPECT_EQ(key->name(), c.name) << c.name.size() << " " << c.tags.size();
      EXPECT_EQ(key->tags(), c.tags) << c.name.size() << " " << c.tags.size();
      EXPECT_EQ(key->type(), MetricType::kSet);
      EXPECT_EQ(key->id(), 9u);
      EXPECT_EQ(key->hash32(), 0xabcdef12u);
      EXPECT_EQ(key->series(), SeriesOf(3, 77));
      EXPECT_EQ(key->mapping_options(), with_options ? options.get() : nullptr);
    }
  }
  EXPECT_EQ(options.use_count(), 1);  // every key's reference went with its block
}

TEST(SeriesKeyTest, IdsKeepTheirLow44Bits) {
  const uint64_t max = (uint64_t{1} << SeriesKey::kIdBits) - 1;
  for (MetricType type : {MetricType::kCounter, MetricType::kSet}) {
    EXPECT_EQ(SeriesKey::Make(max, type, "x", "")->id(), max);
    EXPECT_EQ(SeriesKey::Make(max, type, "x", "")->type(), type);
    EXPECT_EQ(SeriesKey::Make(max + 6, type, "x", "")->id(), 5u);  // wrapped
  }
}

}  // namespace
}  // namespace tallyd::aggregator
