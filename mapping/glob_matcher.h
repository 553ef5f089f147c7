// mapping/glob_matcher.h: statsd_exporter's glob rules (`a.*.c`: `*` is one whole dot-separated
// component) matched in time linear in the name, whatever the number of rules.
//
// The patterns form a trie over components. Build() turns it into a DFA by subset construction:
// a DFA state is the set of trie nodes the components so far can reach, with a hash map from a
// literal component to the next state and one "any other component" edge. Each accepting state
// knows beforehand which rule wins for each metric-type class, so Match() is one hash lookup per
// component and nothing else. Should the DFA of an unusual file grow past kMaxDfaStates the trie
// is walked instead, keeping the set of reachable nodes (at most one per pattern) per component.
//
// Which rule wins among those whose pattern matches: the first in file order (statsd_exporter's
// default), or with glob_disable_ordering the most specific one, a literal component beating `*`
// at the first component where two patterns differ (statsd_exporter's FSM walking literals before
// `*`); equal patterns go by file order. Captures are not computed here: given the winning
// pattern, its `*` components are the captures.
#ifndef TALLYD_MAPPING_GLOB_MATCHER_H_
#define TALLYD_MAPPING_GLOB_MATCHER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"

namespace tallyd::mapping {

// The metric-type classes a rule can be limited to (match_metric_type). Sets have no class of
// their own in statsd_exporter; they match only rules without match_metric_type.
enum TypeClass : uint8_t { kCounterClass, kGaugeClass, kObserverClass, kOtherClass };
inline constexpr int kTypeClassCount = 4;

class GlobMatcher {
 public:
  static constexpr size_t kMaxDfaStates = 200'000;
  static constexpr int32_t kNone = -1;

  // `max_dfa_states`: past this many DFA states Build() keeps the trie walk (tests lower it).
  explicit GlobMatcher(size_t max_dfa_states = kMaxDfaStates) : max_dfa_states_(max_dfa_states) {}

  // `type_mask`: bit c set when the rule applies to TypeClass c. Rules are added in file order.
  void Add(std::string_view pattern, int32_t rule, uint8_t type_mask);
  void Build(bool ordered);

  // The winning rule for `name`, or kNone.
  int32_t Match(std::string_view name, TypeClass type) const;
  // The same answer from the trie alone (the fallback; tests compare the two).
  int32_t MatchWithTrie(std::string_view name, TypeClass type) const;
  bool uses_dfa() const { return uses_dfa_; }
  size_t dfa_states() const { return states_.size(); }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return absl::Hash<std::string_view>{}(s); }
  };
  struct StringEq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
  };
  template <typename V>
  using StringMap = absl::flat_hash_map<std::string, V, StringHash, StringEq>;

  struct Ending {
    int32_t rule;
    uint8_t type_mask;
  };
  struct Node {
    StringMap<uint32_t> literal;
    int32_t star = kNone;
    std::string shape;  // one char per component: '0' literal, '1' star (specificity order)
    std::vector<Ending> endings;  // rules whose pattern ends here, file order
  };
  struct State {
    StringMap<uint32_t> literal;
    int32_t other = kNone;
    int32_t winner[kTypeClassCount] = {kNone, kNone, kNone, kNone};
  };

  // The winning rule among the patterns ending at `nodes`.
  void Winners(const std::vector<uint32_t>& nodes, int32_t out[kTypeClassCount]) const;
  bool BuildDfa();

  std::vector<Node> nodes_ = std::vector<Node>(1);  // [0] is the root
  std::vector<State> states_;
  size_t max_dfa_states_;
  bool ordered_ = true;
  bool uses_dfa_ = false;
};

}  // namespace tallyd::mapping

#endif  // TALLYD_MAPPING_GLOB_MATCHER_H_
