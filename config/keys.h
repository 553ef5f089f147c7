// Internal to config/: the key table built from config.h's KEY lists. Each Key knows its path,
// flag, check, reload and help, and reads and writes its field as text items (a scalar is one
// item), which is all the YAML reader, the flags, validation, FormatConfig and --help need.
#ifndef TALLYD_CONFIG_KEYS_H_
#define TALLYD_CONFIG_KEYS_H_

#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "config/config.h"

namespace tallyd::config_internal {

enum class Reload { kLive, kRestart };

// What a value (each item of a list) must be beyond its syntax. `text` is said in messages
// ("must be 1..65536, got 0"), --help and the README.
struct Check {
  std::string text;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_open = false, max_open = false, not_zero = false;
  // For strings: the problem with `value`, or "".
  std::string (*problem)(const std::string& value) = nullptr;
};

struct Key {
  std::string path;  // "listen.max_tags"
  std::string flag;  // "max_tags"
  absl::string_view help;
  absl::string_view kind;                  // "duration": the value's kind (of each item for a list)
  std::vector<absl::string_view> choices;  // an enum's names
  std::string allowed;  // "integer 1..65536": kind and check, for --help and the README
  Check check;
  std::vector<std::string> defaults;  // the default value as items
  Reload reload = Reload::kLive;
  bool list = false;
  bool is_bool = false;
  bool quoted = false;   // a string: FormatConfig quotes it
  bool secret = false;   // FormatConfig shows "<redacted>" (but a map's), /debug/config masks it
  bool map = false;      // a Map: YAML reads and writes a map, items are "name=value"
  bool enabled = false;  // a backend's `enabled`: its presence is its section's
  // Parses `items` (exactly one for a scalar) into the field, turning its backend on. On an
  // error about one item of a list, `*bad` is its position.
  absl::Status (*set)(Config&, const std::vector<std::string>& items, size_t* bad) = nullptr;
  // The value as items (a scalar: one), or nullopt when the key's backend is off.
  std::optional<std::vector<std::string>> (*get)(const Config&) = nullptr;
  // (item position, problem) for each value that fails `check`.
  std::vector<std::pair<size_t, std::string>> (*problems)(const Key&, const Config&) = nullptr;

  // "listen.udp[2]" for an item of a list, the path for a scalar.
  std::string ItemPath(size_t item) const {
    return list ? absl::StrCat(path, "[", item, "]") : path;
  }
};

// Every key in config.h order; a backend's `enabled` key comes first in its section.
absl::Span<const Key> Keys();
const Key* FindKey(absl::string_view path);
const Key* FindFlag(absl::string_view flag);

// The whole file, or an InvalidArgument error naming it.
absl::StatusOr<std::string> ReadConfigFile(const std::string& path);

}  // namespace tallyd::config_internal

#endif  // TALLYD_CONFIG_KEYS_H_
