#include "mapping/glob_matcher.h"

#include <algorithm>
#include <deque>
#include <map>

#include "absl/strings/str_split.h"

namespace tallyd::mapping {

void GlobMatcher::Add(std::string_view pattern, int32_t rule, uint8_t type_mask) {
  uint32_t at = 0;
  for (absl::string_view component_view :
       absl::StrSplit(absl::string_view(pattern.data(), pattern.size()), '.')) {
    const std::string_view component(component_view.data(), component_view.size());
    int32_t next;
    if (component == "*") {
      next = nodes_[at].star;
      if (next == kNone) {
        next = static_cast<int32_t>(nodes_.size());
        nodes_[at].star = next;
        nodes_.emplace_back().shape = nodes_[at].shape + '1';
      }
    } else {
      auto it = nodes_[at].literal.find(component);
      if (it != nodes_[at].literal.end()) {
        next = static_cast<int32_t>(it->second);
      } else {
        next = static_cast<int32_t>(nodes_.size());
        nodes_[at].literal.emplace(component, next);
        nodes_.emplace_back().shape = nodes_[at].shape + '0';
      }
    }
    at = static_cast<uint32_t>(next);
  }
  nodes_[at].endings.push_back({rule, type_mask});
}

void GlobMatcher::Winners(const std::vector<uint32_t>& nodes, int32_t out[kTypeClassCount]) const {
  for (int c = 0; c < kTypeClassCount; ++c) {
    int32_t best = kNone;
    const Node* best_node = nullptr;
    for (uint32_t n : nodes) {
      const Node& node = nodes_[n];
      // Within one node (one pattern) the first rule of the class wins in both modes.
      int32_t first = kNone;
      for (const Ending& e : node.endings) {
        if (e.type_mask & (1u << c)) {
          first = e.rule;
          break;
        }
      }
      if (first == kNone) continue;
      const bool better =
          best == kNone || (ordered_ ? first < best
                                     : node.shape < best_node->shape ||
                                           (node.shape == best_node->shape && first < best));
      if (better) {
        best = first;
        best_node = &node;
      }
    }
    out[c] = best;
  }
}

bool GlobMatcher::BuildDfa() {
  states_.clear();
  std::map<std::vector<uint32_t>, uint32_t> ids;
  std::deque<std::vector<uint32_t>> pending;
  auto intern = [&](std::vector<uint32_t> set) -> int32_t {
    if (set.empty()) return kNone;
    std::sort(set.begin(), set.end());
    set.erase(std::unique(set.begin(), set.end()), set.end());
    auto [it, inserted] = ids.emplace(set, static_cast<uint32_t>(ids.size()));
    if (inserted) pending.push_back(std::move(set));
    return static_cast<int32_t>(it->second);
  };
  intern({0});
  // States are numbered in the order they are first seen, which is the order they are pending.
  while (!pending.empty()) {
    if (ids.size() > max_dfa_states_) return false;
    const std::vector<uint32_t> set = std::move(pending.front());
    pending.pop_front();
    State state;
    Winners(set, state.winner);
    std::vector<uint32_t> stars;
    for (uint32_t n : set) {
      if (nodes_[n].star != kNone) stars.push_back(static_cast<uint32_t>(nodes_[n].star));
    }
    for (uint32_t n : set) {
      for (const auto& [component, child] : nodes_[n].literal) {
        if (state.literal.contains(component)) continue;
        std::vector<uint32_t> next = stars;
        for (uint32_t m : set) {
          auto it = nodes_[m].literal.find(component);
          if (it != nodes_[m].literal.end()) next.push_back(it->second);
        }
        state.literal.emplace(component, static_cast<uint32_t>(intern(std::move(next))));
      }
    }
    state.other = intern(stars);
    states_.push_back(std::move(state));
  }
  return true;
}

void GlobMatcher::Build(bool ordered) {
  ordered_ = ordered;
  uses_dfa_ = BuildDfa();
  if (!uses_dfa_) states_.clear();
}

int32_t GlobMatcher::Match(std::string_view name, TypeClass type) const {
  if (!uses_dfa_) return MatchWithTrie(name, type);
  uint32_t at = 0;
  size_t begin = 0;
  while (true) {
    const size_t dot = name.find('.', begin);
    const std::string_view component =
        name.substr(begin, dot == std::string_view::npos ? std::string_view::npos : dot - begin);
    const State& state = states_[at];
    auto it = state.literal.find(component);
    int32_t next = it != state.literal.end() ? static_cast<int32_t>(it->second) : state.other;
    if (next == kNone) return kNone;
    at = static_cast<uint32_t>(next);
    if (dot == std::string_view::npos) break;
    begin = dot + 1;
  }
  return states_[at].winner[type];
}

int32_t GlobMatcher::MatchWithTrie(std::string_view name, TypeClass type) const {
  std::vector<uint32_t> set = {0}, next;
  for (absl::string_view component_view :
       absl::StrSplit(absl::string_view(name.data(), name.size()), '.')) {
    const std::string_view component(component_view.data(), component_view.size());
    next.clear();
    for (uint32_t n : set) {
      const Node& node = nodes_[n];
      if (auto it = node.literal.find(component); it != node.literal.end()) {
        next.push_back(it->second);
      }
      if (node.star != kNone) next.push_back(static_cast<uint32_t>(node.star));
    }
    // Each trie node is reached by one path only, so the set never holds duplicates.
    set.swap(next);
    if (set.empty()) return kNone;
  }
  int32_t winners[kTypeClassCount];
  Winners(set, winners);
  return winners[type];
}

}  // namespace tallyd::mapping
