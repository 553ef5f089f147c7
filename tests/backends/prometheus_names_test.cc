#include "backends/prometheus_names.h"

#include <gtest/gtest.h>

namespace tallyd::backends {
namespace {

TEST(PrometheusNamesTest, SanitizesLikeStatsdExporter) {
  struct Case {
    const char* in;
    const char* out;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"requests", "requests"},
           {"my.app-req/s", "my_app_req_s"},
           {"5xx", "_5xx"},
           {"a:b", "a_b"},
           {"caf\xc3\xa9", "caf_"},  // one '_' per UTF-8 character
           {"\xe2\x82\xac"
            "1",
            "_1"},  // three-byte character
           {"_ok_", "_ok_"},
           {"", ""},
       }) {
    std::string out;
    AppendPrometheusName(c.in, &out);
    EXPECT_EQ(out, c.out) << c.in;
  }
}

TEST(PrometheusNamesTest, AppendsAfterWhatTheBufferHolds) {
  // The leading-digit rule is the name's, not the buffer's.
  std::string out = "k";
  AppendPrometheusName("1.a", &out);
  EXPECT_EQ(out, "k_1_a");
  AppendPrometheusName("", &out);
  EXPECT_EQ(out, "k_1_a");
  AppendPrometheusName("b", &out);
  EXPECT_EQ(out, "k_1_ab");
}

TEST(PrometheusNamesTest, LabelNamesMustBeNonEmptyAndNotReserved) {
  EXPECT_TRUE(IsUsableLabelName("env"));
  EXPECT_TRUE(IsUsableLabelName("_2x"));
  EXPECT_FALSE(IsUsableLabelName(""));
  EXPECT_FALSE(IsUsableLabelName("__name__"));
  EXPECT_FALSE(IsUsableLabelName("__x"));
}

}  // namespace
}  // namespace tallyd::backends
