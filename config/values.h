// Value syntax shared by the config file and the command line: durations, sizes, ${VAR},
// addresses, and one "kind" struct per kind of value (Duration, Size, Int, ...) that names its C++
// type and parses and formats it. A key's declaration in config.h names its kind once; the YAML
// reader, the flags, FormatConfig and --help all go through that kind.
#ifndef TALLYD_CONFIG_VALUES_H_
#define TALLYD_CONFIG_VALUES_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tallyd {

// "10s", "500ms", "5m", "1h", "1m30s", "1.5s" (also "us", "ns"); "0" alone is zero. A bare number
// is rejected: the unit is never guessed. Negative and infinite durations are rejected.
absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text);

// Bytes: "65535", "512KiB", "8MiB", "1GiB" (powers of 1024). "KB"/"MB"/"GB" are rejected with a
// hint, so 1000-vs-1024 is never guessed.
absl::StatusOr<int64_t> ParseSize(absl::string_view text);

// Replaces each ${NAME} with the environment variable NAME (unset: empty, as envsubst does).
// "$${" is a literal "${"; a lone "$" is kept. An unterminated "${" or a bad name is an error.
absl::StatusOr<std::string> ExpandEnv(absl::string_view text);
// The text ExpandEnv turns back into `value`: each "${" written "$${" (FormatConfig's strings).
std::string EscapeEnv(absl::string_view value);

struct HostPort {
  std::string host;  // without IPv6 brackets
  uint16_t port = 0;
};
// "host:port", "1.2.3.4:port" or "[v6]:port"; port 0..65535 (0: the OS picks one).
absl::StatusOr<HostPort> ParseHostPort(absl::string_view text);

// `"text"` with quotes and C escapes, for messages.
std::string Quote(absl::string_view text);
// Shortest text that parses back to the same double.
std::string FormatNumber(double value);
// "8MiB" when it divides evenly, else bytes.
std::string FormatSize(int64_t bytes);

// --- Kinds ------------------------------------------------------------------------------------
// A key's kind (config.h) names its C++ `Type`, `kName` for --help and the README, Parse (whose
// message the caller prefixes with where) and Format, which Parse reads back to the same value.

template <typename T, auto kParse, auto kFormat>
struct Kind {
  using Type = T;
  static constexpr auto Parse = kParse;
  static constexpr auto Format = kFormat;
};

absl::Status Expected(absl::string_view what, absl::string_view text);

template <typename T>
absl::StatusOr<T> ParseInt(absl::string_view text) {
  int64_t value = 0;
  // Only a positive value is compared as uint64_t (a negative one would turn huge), so that
  // "-1" reaches the key's range message rather than "must be an integer".
  if (!absl::SimpleAtoi(text, &value) || value < int64_t{std::numeric_limits<T>::min()} ||
      (value > 0 && static_cast<uint64_t>(value) > uint64_t{std::numeric_limits<T>::max()})) {
    return Expected("an integer", text);
  }
  return static_cast<T>(value);
}
template <typename T>
std::string FormatInt(T value) {
  return absl::StrCat(value);
}
absl::StatusOr<double> ParseNumber(absl::string_view text);
// File modes are always octal, as chmod takes them: "722", "0722" and "0o722" are the same.
absl::StatusOr<uint32_t> ParseMode(absl::string_view text);
std::string FormatMode(uint32_t mode);
// true/false, yes/no, on/off, 1/0.
absl::StatusOr<bool> ParseBool(absl::string_view text);
std::string FormatBool(bool value);
absl::StatusOr<std::string> ParseString(absl::string_view text);
std::string FormatString(std::string text);

template <typename T>
struct IntKind : Kind<T, ParseInt<T>, FormatInt<T>> {
  static constexpr absl::string_view kName = "integer";
};
using Int = IntKind<int>;
using Int64 = IntKind<int64_t>;
struct Number : Kind<double, ParseNumber, FormatNumber> {
  static constexpr absl::string_view kName = "number";
};
struct Size : Kind<int64_t, ParseSize, FormatSize> {
  static constexpr absl::string_view kName = "size";
  static std::string Shown(int64_t value) { return absl::StrCat(value); }  // a message's "got"
};
struct Duration : Kind<absl::Duration, ParseDuration, absl::FormatDuration> {
  static constexpr absl::string_view kName = "duration";
};
struct Mode : Kind<uint32_t, ParseMode, FormatMode> {
  static constexpr absl::string_view kName = "octal file mode";
};
struct Bool : Kind<bool, ParseBool, FormatBool> {
  static constexpr absl::string_view kName = "bool";
};
struct String : Kind<std::string, ParseString, FormatString> {
  static constexpr absl::string_view kName = "string";
};
// A string FormatConfig shows as "<redacted>" (an API key).
struct Secret : String {};

// An enum whose names, in enum order, `Names(E{})` returns (declared beside the enum).
template <typename E>
absl::StatusOr<E> ParseEnum(absl::string_view text) {
  const auto names = Names(E{});
  for (size_t i = 0; i < names.size(); ++i) {
    if (text == names[i]) return static_cast<E>(i);
  }
  return Expected(absl::StrCat("one of ", absl::StrJoin(names, ", ")), text);
}
template <typename E>
std::string FormatEnum(E value) {
  return std::string(Names(E{})[static_cast<size_t>(value)]);
}
template <typename E>
struct Enum : Kind<E, ParseEnum<E>, FormatEnum<E>> {
  static constexpr absl::string_view kName = "name";
};

// A YAML sequence, or comma-separated on the command line. Checks apply to each item.
template <typename Item>
struct List {
  using Type = std::vector<typename Item::Type>;
};
using Numbers = List<Number>;
using Strings = List<String>;

// A YAML map of names to strings (`{cluster: eu1, host: a}`), held as "name=value" items in map
// order; comma-separated `name=value` pairs on the command line. Names cannot hold '='.
struct MapEntry : String {
  static constexpr absl::string_view kName = "name=value";
};
using Map = List<MapEntry>;
// A Map whose values are credentials (request headers): /debug/config masks them.
struct SecretMapEntry : MapEntry {};
using SecretMap = List<SecretMapEntry>;

}  // namespace tallyd

#endif  // TALLYD_CONFIG_VALUES_H_
