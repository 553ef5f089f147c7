// Tests for protocol/utf8.h: strict UTF-8 against a slow reference that decodes code points and
// applies Unicode's rules directly (shortest form, no surrogates, at most U+10FFFF).
#include "protocol/utf8.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace tallyd::protocol {
namespace {

// Decodes one sequence at a time from its lead byte's length, then judges the code point.
bool ReferenceIsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t length;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      length = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + length > s.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = cp << 6 | (cc & 0x3F);
    }
    const uint32_t shortest_min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < shortest_min[length]) return false;     // overlong
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;  // surrogate
    if (cp > 0x10FFFF) return false;
    i += length;
  }
  return true;
}

struct Case {
  const char* name;
  std::string bytes;
  bool valid;
};

const Case kCases[] = {
    {"Empty", "", true},
    {"Ascii", "page.views", true},
    {"AsciiControlAndNul", std::string("a\0b\x7f", 4), true},
    {"TwoByte", "caf\xc3\xa9", true},
    {"ThreeByteEuro", "\xe2\x82\xac", true},
    {"FourByteEmoji", "\xf0\x9f\x94\xa5", true},
    {"LastBeforeSurrogates", "\xed\x9f\xbf", true},  // U+D7FF
    {"FirstAfterSurrogates", "\xee\x80\x80", true},  // U+E000
    {"MaxCodePoint", "\xf4\x8f\xbf\xbf", true},      // U+10FFFF
    {"Bom", "\xef\xbb\xbf", true},
    {"StrayContinuation", "\x80", false},
    {"StrayContinuationAfterAscii", "abcdefgh\xbf", false},
    {"LoneLeadAtEnd", "abc\xc3", false},
    {"TruncatedThree", "\xe2\x82", false},
    {"TruncatedFour", "\xf0\x9f\x94", false},
    {"LeadFollowedByAscii", "\xc3(", false},
    {"OverlongSlashC0", "\xc0\xaf", false},
    {"OverlongC1", "\xc1\xbf", false},
    {"OverlongThree", "\xe0\x80\xaf", false},
    {"OverlongThreeMax", "\xe0\x9f\xbf", false},
    {"OverlongFour", "\xf0\x80\x80\xaf", false},
    {"OverlongFourMax", "\xf0\x8f\xbf\xbf", false},
    {"HighSurrogate", "\xed\xa0\x80", false},  // U+D800
    {"LowSurrogate", "\xed\xbf\xbf", false},   // U+DFFF
    {"SurrogatePairCesu", "\xed\xa0\xbd\xed\xb2\xa9", false},
    {"AboveMax", "\xf4\x90\x80\x80", false},  // U+110000
    {"LeadF5", "\xf5\x80\x80\x80", false},
    {"LeadFF", "\xff", false},
    {"LeadFE", "k:\xff\xfe", false},
    {"FiveByteForm", "\xf8\x88\x80\x80\x80", false},
    {"BadThirdByte", "\xe2\x82(", false},
    {"BadFourthByte", "\xf0\x9f\x94(", false},
    {"InvalidAfterLongAscii", std::string(40, 'a') + "\xff" + std::string(20, 'b'), false},
    {"ValidAfterLongAscii", std::string(40, 'a') + "\xc3\xa9" + std::string(20, 'b'), true},
};

class Utf8CaseTest : public ::testing::TestWithParam<Case> {};

TEST_P(Utf8CaseTest, MatchesUnicodeTable) {
  const Case& c = GetParam();
  EXPECT_EQ(IsValidUtf8(c.bytes), c.valid);
  EXPECT_EQ(ReferenceIsValidUtf8(c.bytes), c.valid);  // the reference agrees with the table
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

INSTANTIATE_TEST_SUITE_P(Table, Utf8CaseTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// Every sequence of up to three bytes, each at every offset of the 8-byte fast path's window.
TEST(Utf8Test, AgreesWithReferenceOnEveryShortSequence) {
  std::string s;
  size_t mismatches = 0;
  for (uint32_t n = 0; n < (1u << 24); ++n) {
    s.assign({static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n)});
    if (IsValidUtf8(s) != ReferenceIsValidUtf8(s)) ++mismatches;
  }
  for (int prefix = 0; prefix < 9; ++prefix) {
    for (uint32_t n = 0; n < (1u << 16); ++n) {
      s.assign(prefix, 'a');
      s.push_back(static_cast<char>(n >> 8));
      s.push_back(static_cast<char>(n));
      if (IsValidUtf8(s) != ReferenceIsValidUtf8(s)) ++mismatches;
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

// Four-byte leads with every continuation triple, and random mixes of valid and broken text.
TEST(Utf8Test, AgreesWithReferenceOnFourByteAndRandomText) {
  std::string s;
  for (uint32_t lead = 0xF0; lead <= 0xF5; ++lead) {
    for (uint32_t n = 0; n < (1u << 18); ++n) {
      s.assign({static_cast<char>(lead), static_cast<char>(0x80 | (n >> 12)),
                static_cast<char>(0x80 | ((n >> 6) & 0x3F)), static_cast<char>(0x80 | (n & 0x3F))});
      // Bits above the continuation range (n >> 12 spans 0..63) also give non-continuations.
      if ((n >> 12) >= 0x40) s[1] = static_cast<char>(n >> 12);
      ASSERT_EQ(IsValidUtf8(s), ReferenceIsValidUtf8(s)) << lead << " " << n;
    }
  }
  std::mt19937 rng(7);
  const std::string pieces[] = {
      "a",    "metric.name",  "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x94\xa5",
      "\x80", "\xed\xa0\x80", "\xf4\x90", "\xff",         "\xc0\xaf"};
  size_t valid = 0;
  for (int i = 0; i < 20000; ++i) {
    s.clear();
    const int parts = static_cast<int>(rng() % 12);
    for (int k = 0; k < parts; ++k) {
      // Mostly valid pieces, so that long valid strings are common too.
      s += pieces[rng() % 3 == 0 ? rng() % 10 : rng() % 5];
    }
    ASSERT_EQ(IsValidUtf8(s), ReferenceIsValidUtf8(s)) << s;
    valid += ReferenceIsValidUtf8(s);
  }
  EXPECT_GT(valid, 2000u);  // both outcomes were exercised
  EXPECT_LT(valid, 18000u);
}

}  // namespace
}  // namespace tallyd::protocol
