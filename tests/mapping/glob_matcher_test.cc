// The glob DFA against the trie walk it is built from (a slow obvious reference), and the two
// orderings statsd_exporter documents.
#include "mapping/glob_matcher.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace tallyd::mapping {
namespace {

constexpr uint8_t kAll = 0xff;

TEST(GlobMatcherTest, FileOrderWinsByDefault) {
  GlobMatcher m;
  m.Add("a.*.c", 0, kAll);
  m.Add("a.b.c", 1, kAll);
  m.Build(/*ordered=*/true);
  EXPECT_EQ(m.Match("a.b.c", kCounterClass), 0);
  EXPECT_EQ(m.Match("a.x.c", kCounterClass), 0);
  EXPECT_EQ(m.Match("a.b", kCounterClass), GlobMatcher::kNone);
  EXPECT_EQ(m.Match("a.b.c.d", kCounterClass), GlobMatcher::kNone);
}

TEST(GlobMatcherTest, DisabledOrderingPrefersLiteralComponents) {
  GlobMatcher m;
  m.Add("a.*.*", 0, kAll);
  m.Add("a.b.*", 1, kAll);
  m.Add("a.*.c", 2, kAll);
  m.Build(/*ordered=*/false);
  EXPECT_EQ(m.Match("a.b.c", kCounterClass), 1);  // literal at the 2nd component beats `*`
  EXPECT_EQ(m.Match("a.x.c", kCounterClass), 2);
  EXPECT_EQ(m.Match("a.x.y", kCounterClass), 0);
}

TEST(GlobMatcherTest, TypeMaskSelectsAmongMatchingRules) {
  GlobMatcher m;
  m.Add("a.*", 0, 1u << kGaugeClass);
  m.Add("a.*", 1, kAll);
  m.Build(true);
  EXPECT_EQ(m.Match("a.x", kGaugeClass), 0);
  EXPECT_EQ(m.Match("a.x", kCounterClass), 1);
}

TEST(GlobMatcherTest, EmptyComponentsAreLiterals) {
  GlobMatcher m;
  m.Add("a.*.c", 0, kAll);
  m.Build(true);
  EXPECT_EQ(m.Match("a..c", kCounterClass), 0);
  EXPECT_EQ(m.Match("a.c", kCounterClass), GlobMatcher::kNone);
}

// Random rule sets over a small alphabet, so that patterns overlap a lot: the DFA must give the
// trie walk's answer for every name, in both orderings.
TEST(GlobMatcherTest, DfaAgreesWithTrieWalk) {
  std::mt19937 rng(7);
  const std::vector<std::string> words = {"a", "b", "c", "*"};
  auto random_pattern = [&](bool allow_star) {
    std::string p;
    const int n = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < n; ++i) {
      if (i) p += '.';
      p += words[rng() % (allow_star ? 4 : 3)];
    }
    return p;
  };
  for (bool ordered : {true, false}) {
    for (int round = 0; round < 20; ++round) {
      GlobMatcher m;
      for (int r = 0; r < 30; ++r) {
        m.Add(random_pattern(true), r, static_cast<uint8_t>(1 + rng() % 15));
      }
      m.Build(ordered);
      ASSERT_TRUE(m.uses_dfa());
      for (int q = 0; q < 200; ++q) {
        const std::string name = random_pattern(false);
        for (int c = 0; c < kTypeClassCount; ++c) {
          ASSERT_EQ(m.Match(name, TypeClass(c)), m.MatchWithTrie(name, TypeClass(c)))
              << name << " ordered=" << ordered;
        }
      }
    }
  }
}

// A file whose DFA would pass the bound keeps the trie walk, with the same answers.
TEST(GlobMatcherTest, FallsBackToTheTrieWalkPastTheStateBound) {
  GlobMatcher m(/*max_dfa_states=*/3);
  m.Add("a.*.c", 0, kAll);
  m.Add("*.b.*", 1, kAll);
  m.Add("a.b.d", 2, kAll);
  m.Build(/*ordered=*/false);
  EXPECT_FALSE(m.uses_dfa());
  EXPECT_EQ(m.Match("a.b.c", kCounterClass), 0);  // `a.*.c` beats `*.b.*`: `a` is literal
  EXPECT_EQ(m.Match("a.b.d", kCounterClass), 2);
  EXPECT_EQ(m.Match("x.b.y", kCounterClass), 1);
  EXPECT_EQ(m.Match("a.x.c", kCounterClass), 0);
  EXPECT_EQ(m.Match("x.y.z", kCounterClass), GlobMatcher::kNone);
}

}  // namespace
}  // namespace tallyd::mapping
