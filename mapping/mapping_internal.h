// mapping/mapping_internal.h: the compiled form of a mapping file, shared by the loader
// (mapping_yaml.cc) and the matcher (mapping.cc). Not part of the library's interface.
#ifndef TALLYD_MAPPING_MAPPING_INTERNAL_H_
#define TALLYD_MAPPING_MAPPING_INTERNAL_H_

#include <re2/re2.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mapping/glob_matcher.h"
#include "mapping/mapping.h"

namespace tallyd::mapping {

// A `name` or label value with `$n` / `${n}` references, split into literal text and captures.
// The two match types read references as statsd_exporter does: a glob rule with its FSM's
// template formatter (`\$\{?([a-zA-Z0-9_$]+)\}?`, a reference that is not a number in 1..n
// becomes ""), a regex rule with Go's regexp.Expand (`$$` is `$`, `$name` takes the longest run
// of letters, digits and `_`, so `$1_x` is the group named "1_x": "", and named groups work).
struct Mapping::Template {
  struct Piece {
    std::string text;  // literal, when capture < 0 and !empty_ref
    int capture = -1;  // index into the captures (0: regex whole match)
  };
  std::vector<Piece> pieces;
  bool has_references = false;

  static Template ForGlob(std::string_view text, int captures);
  static Template ForRegex(std::string_view text, const re2::RE2& re);
  void Expand(const std::vector<std::string_view>& captures, std::string* out) const;
};

struct Mapping::Rule {
  int index = 0;  // in `mappings:`
  int line = 0;   // 1-based, for messages
  Action action = Action::kMap;
  bool regex = false;
  std::unique_ptr<re2::RE2> re;
  uint8_t type_mask = 0xff;          // TypeClass bits
  std::vector<int> star_components;  // glob: the components that are `*`, in order
  Template name;
  std::vector<std::pair<std::string, Template>> labels;  // sorted by label name
  SeriesOptions options;
};

}  // namespace tallyd::mapping

#endif  // TALLYD_MAPPING_MAPPING_INTERNAL_H_
