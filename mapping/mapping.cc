#include "mapping/mapping.h"

#include <re2/re2.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "mapping/mapping_internal.h"

namespace tallyd::mapping {
namespace {

bool IsNameChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; }

TypeClass ClassOf(protocol::MetricType type) {
  switch (type) {
    case protocol::MetricType::kCounter:
      return kCounterClass;
    case protocol::MetricType::kGauge:
      return kGaugeClass;
    case protocol::MetricType::kSet:
      return kOtherClass;
    default:
      return kObserverClass;  // timers, histograms, distributions: statsd_exporter's observers
  }
}

}  // namespace

Mapping::Template Mapping::Template::ForGlob(std::string_view text, int captures) {
  Template t;
  std::string literal;
  size_t i = 0;
  auto flush = [&] {
    if (!literal.empty()) t.pieces.push_back({std::move(literal), -1});
    literal.clear();
  };
  while (i < text.size()) {
    if (text[i] != '$') {
      literal.push_back(text[i++]);
      continue;
    }
    size_t j = i + 1;
    if (j < text.size() && text[j] == '{') ++j;
    const size_t run_begin = j;
    while (j < text.size() && (IsNameChar(text[j]) || text[j] == '$')) ++j;
    if (j == run_begin) {  // no reference here: a plain '$'
      literal.push_back(text[i++]);
      continue;
    }
    const std::string_view run = text.substr(run_begin, j - run_begin);
    if (j < text.size() && text[j] == '}') ++j;
    t.has_references = true;
    int index;
    flush();
    if (absl::SimpleAtoi(absl::string_view(run.data(), run.size()), &index) && index >= 1 &&
        index <= captures) {
      t.pieces.push_back({"", index - 1});
    }  // else: replaced by nothing, as statsd_exporter's formatter does
    i = j;
  }
  flush();
  return t;
}

Mapping::Template Mapping::Template::ForRegex(std::string_view text, const re2::RE2& re) {
  Template t;
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) t.pieces.push_back({std::move(literal), -1});
    literal.clear();
  };
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '$') {
      literal.push_back(text[i++]);
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {
      literal.push_back('$');
      i += 2;
      continue;
    }
    size_t j = i + 1;
    const bool brace = j < text.size() && text[j] == '{';
    if (brace) ++j;
    const size_t run_begin = j;
    while (j < text.size() && IsNameChar(text[j])) ++j;
    const std::string_view name = text.substr(run_begin, j - run_begin);
    if (name.empty() || (brace && (j >= text.size() || text[j] != '}'))) {
      literal.push_back(text[i++]);  // malformed: the '$' is text
      continue;
    }
    if (brace) ++j;
    t.has_references = true;
    flush();
    int index = -1;
    if (!absl::SimpleAtoi(absl::string_view(name.data(), name.size()), &index) || name[0] == '+' ||
        name[0] == '-') {
      auto it = re.NamedCapturingGroups().find(std::string(name));
      index = it == re.NamedCapturingGroups().end() ? -1 : it->second;
    }
    if (index >= 0 && index <= re.NumberOfCapturingGroups()) t.pieces.push_back({"", index});
    i = j;
  }
  flush();
  return t;
}

void Mapping::Template::Expand(const std::vector<std::string_view>& captures,
                               std::string* out) const {
  out->clear();
  for (const Piece& p : pieces) {
    if (p.capture < 0) {
      out->append(p.text);
    } else if (static_cast<size_t>(p.capture) < captures.size()) {
      out->append(captures[p.capture]);
    }
  }
}

Mapping::Mapping() = default;
Mapping::~Mapping() = default;

size_t Mapping::rule_count() const { return rules_.size(); }

bool Mapping::glob_uses_dfa() const { return globs_ == nullptr || globs_->uses_dfa(); }

void Mapping::Match(std::string_view name, protocol::MetricType type, MatchResult* out) const {
  out->labels.clear();
  out->name.clear();
  const TypeClass type_class = ClassOf(type);
  const Rule* rule = nullptr;
  std::vector<std::string_view> captures;
  if (globs_ != nullptr) {
    if (int32_t r = globs_->Match(name, type_class); r != GlobMatcher::kNone) {
      rule = &rules_[r];
      // The winning pattern's `*` components are the captures.
      size_t component = 0, begin = 0, k = 0;
      while (k < rule->star_components.size()) {
        const size_t dot = name.find('.', begin);
        if (static_cast<int>(component) == rule->star_components[k]) {
          captures.push_back(name.substr(
              begin, dot == std::string_view::npos ? std::string_view::npos : dot - begin));
          ++k;
        }
        if (dot == std::string_view::npos) break;
        begin = dot + 1;
        ++component;
      }
    }
  }
  if (rule == nullptr) {
    std::vector<re2::StringPiece> groups;
    for (uint32_t r : regex_rules_) {
      const Rule& candidate = rules_[r];
      groups.resize(1 + candidate.re->NumberOfCapturingGroups());
      if (!candidate.re->Match(re2::StringPiece(name.data(), name.size()), 0, name.size(),
                               re2::RE2::UNANCHORED, groups.data(),
                               static_cast<int>(groups.size()))) {
        continue;
      }
      // statsd_exporter checks the type after the match, and goes on to the next rule.
      if (!(candidate.type_mask & (1u << type_class))) continue;
      rule = &candidate;
      for (const re2::StringPiece& g : groups) captures.emplace_back(g.data(), g.size());
      break;
    }
  }
  if (rule == nullptr) {
    out->action = Action::kNoMatch;
    out->options = defaults_;
    return;
  }
  out->action = rule->action;
  out->options = std::shared_ptr<const SeriesOptions>(shared_from_this(), &rule->options);
  if (rule->action == Action::kDrop) return;
  rule->name.Expand(captures, &out->name);
  for (const auto& [label, value] : rule->labels) {
    auto& [k, v] = out->labels.emplace_back();
    k = label;
    value.Expand(captures, &v);
  }
}

}  // namespace tallyd::mapping
