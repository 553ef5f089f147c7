#include "backends/prometheus_names.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

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

TEST(PrometheusNamesTest, SanitizesBytewiseOnlyWhenEachByteMapsToOne) {
  EXPECT_TRUE(SanitizesBytewise("prod.web-12.checkout.http.server.requests.7"));
  EXPECT_TRUE(SanitizesBytewise("_ok_"));
  EXPECT_TRUE(SanitizesBytewise("a:b/c"));
  EXPECT_FALSE(SanitizesBytewise(""));
  EXPECT_FALSE(SanitizesBytewise("5xx"));          // gets a '_' prefix
  EXPECT_FALSE(SanitizesBytewise("caf\xc3\xa9"));  // two bytes become one '_'
}

// Property: where SanitizesBytewise says so, AppendPrometheusName is SanitizedNameByte per byte
// (the reference), on random names over a small alphabet that has every kind of byte.
TEST(PrometheusNamesTest, BytewiseSanitizingMatchesAppendPrometheusName) {
  const std::string alphabet = std::string("aZ09_.-:/ \x7f\x01") + "\xc3\xa9";
  std::mt19937 rng(7);
  int bytewise = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string name(rng() % 12, ' ');
    for (char& c : name) c = alphabet[rng() % alphabet.size()];
    std::string sanitized;
    AppendPrometheusName(name, &sanitized);
    if (!SanitizesBytewise(name)) continue;
    ++bytewise;
    std::string mapped = name;
    for (char& c : mapped) c = SanitizedNameByte(c);
    ASSERT_EQ(sanitized, mapped) << name;
  }
  EXPECT_GT(bytewise, 1000);
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
