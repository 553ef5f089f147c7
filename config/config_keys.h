// Internal to the config module: the one table of config keys that both the YAML reader
// (config_yaml.cc) and the flag overrides (config_flags.cc) walk, so a key cannot exist in one and
// not the other. Each key knows its YAML path, its flag name and how to set its field from text.
#ifndef TALLYD_CONFIG_CONFIG_KEYS_H_
#define TALLYD_CONFIG_CONFIG_KEYS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "config/config.h"

namespace tallyd::config_internal {

enum class KeyKind {
  kScalar,  // one value; the flag is a string
  kBool,    // true/false; the flag is a bool
  kList,    // YAML sequence; the flag is comma-separated
};

// Setters parse text into the field (turning the key's backend on when it has one). Their
// messages say what was expected, e.g. `must be an integer, got "abc"`; the caller adds where.
using ScalarSetter = absl::Status (*)(Config&, absl::string_view text);
// On an error about one item, `*bad_index` is set to its position.
using ListSetter = absl::Status (*)(Config&, const std::vector<std::string>& items,
                                    size_t* bad_index);

struct ConfigKey {
  absl::string_view path;  // "aggregation.exact_samples"
  absl::string_view flag;  // "exact_samples"
  KeyKind kind;
  ScalarSetter set_scalar = nullptr;  // kScalar, kBool
  ListSetter set_list = nullptr;      // kList
};

// Every leaf key, in SPEC 6 order. Backend `enabled` keys come last so that on the command line
// `--graphite=false` wins over a `--graphite_*` flag that would turn graphite on.
absl::Span<const ConfigKey> ConfigKeys();
const ConfigKey* FindKey(absl::string_view path);

// Maps ("listen", "backends", "backends.graphite", ...) that hold keys rather than values.
bool IsSection(absl::string_view path);
// Turns the backend of section `path` ("backends.console") on (with defaults if it was off) or
// off. Returns false when `path` is not a backend section.
bool SetBackend(Config& config, absl::string_view path, bool on);
// Every backend off: a file with a `backends:` map runs exactly the backends it lists.
void ClearBackends(Config& config);

// The whole file, or an InvalidArgument error naming it.
absl::StatusOr<std::string> ReadConfigFile(const std::string& path);

// `"text"` with quotes and escapes, for messages.
std::string Quote(absl::string_view text);
// Shortest text that parses back to the same double.
std::string FormatNumber(double value);
std::string FormatSize(int64_t bytes);

absl::string_view Name(LogLevel value);
absl::string_view Name(GaugeMode value);
absl::string_view Name(TimerType value);
absl::string_view Name(GraphiteTags value);
absl::string_view Name(Compression value);
absl::string_view Name(HistogramAggregate value);

}  // namespace tallyd::config_internal

#endif  // TALLYD_CONFIG_CONFIG_KEYS_H_
