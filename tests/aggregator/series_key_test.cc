#include "aggregator/series_key.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace tallyd::aggregator
