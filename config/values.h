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
// Each has `Type`, `kName` (for --help and the README), Parse(text, out) returning a message the
// caller prefixes with where, and Format(value), which Parse reads back to the same value.
// Numeric kinds also have ToDouble() for range checks; Shown() is a message's "got" if not Format.

absl::Status Expected(absl::string_view what, absl::string_view text);

template <typename T>
struct IntKind {
  using Type = T;
  static constexpr absl::string_view kName = "integer";
  static absl::Status Parse(absl::string_view text, T* out) {
    int64_t value = 0;
    // Only a positive value is compared as uint64_t (a negative one would turn huge), so that
    // "-1" reaches the key's range message rather than "must be an integer".
    if (!absl::SimpleAtoi(text, &value) || value < int64_t{std::numeric_limits<T>::min()} ||
        (value > 0 && static_cast<uint64_t>(value) > uint64_t{std::numeric_limits<T>::max()})) {
      return Expected("an integer", text);
    }
    *out = static_cast<T>(value);
    return absl::OkStatus();
  }
  static std::string Format(T value) { return absl::StrCat(value); }
  static double ToDouble(T value) { return static_cast<double>(value); }
};
using Int = IntKind<int>;
using Int64 = IntKind<int64_t>;

struct Number {
  using Type = double;
  static constexpr absl::string_view kName = "number";
  static absl::Status Parse(absl::string_view text, double* out);
  static std::string Format(double value) { return FormatNumber(value); }
  static double ToDouble(double value) { return value; }
};

struct Size {
  using Type = int64_t;
  static constexpr absl::string_view kName = "size";
  static absl::Status Parse(absl::string_view text, int64_t* out);
  static std::string Format(int64_t value) { return FormatSize(value); }
  static double ToDouble(int64_t value) { return static_cast<double>(value); }
  static std::string Shown(int64_t value) { return absl::StrCat(value); }  // in bytes
};

struct Duration {
  using Type = absl::Duration;
  static constexpr absl::string_view kName = "duration";
  static absl::Status Parse(absl::string_view text, absl::Duration* out);
  static std::string Format(absl::Duration value) { return absl::FormatDuration(value); }
  static double ToDouble(absl::Duration value) { return absl::ToDoubleSeconds(value); }
};

// File modes are always octal, as chmod takes them: "722", "0722" and "0o722" are the same.
struct Mode {
  using Type = uint32_t;
  static constexpr absl::string_view kName = "octal file mode";
  static absl::Status Parse(absl::string_view text, uint32_t* out);
  static std::string Format(uint32_t value);
  static double ToDouble(uint32_t value) { return value; }
};

// true/false, yes/no, on/off, 1/0.
struct Bool {
  using Type = bool;
  static constexpr absl::string_view kName = "bool";
  static absl::Status Parse(absl::string_view text, bool* out);
  static std::string Format(bool value) { return value ? "true" : "false"; }
};

struct String {
  using Type = std::string;
  static constexpr absl::string_view kName = "string";
  static absl::Status Parse(absl::string_view text, std::string* out) {
    *out = std::string(text);
    return absl::OkStatus();
  }
  static std::string Format(const std::string& value) { return value; }
};

// A string FormatConfig shows as "<redacted>" (an API key).
struct Secret : String {};

// An enum whose names, in enum order, `Names(E{})` returns (declared beside the enum).
template <typename E>
struct Enum {
  using Type = E;
  static constexpr absl::string_view kName = "name";
  static absl::Status Parse(absl::string_view text, E* out) {
    const auto names = Names(E{});
    for (size_t i = 0; i < names.size(); ++i) {
      if (text == names[i]) {
        *out = static_cast<E>(i);
        return absl::OkStatus();
      }
    }
    return Expected(absl::StrCat("one of ", absl::StrJoin(names, ", ")), text);
  }
  static std::string Format(E value) { return std::string(Names(E{})[static_cast<size_t>(value)]); }
};

// A YAML sequence, or comma-separated on the command line. Checks apply to each item.
template <typename Item>
struct List {
  using Type = std::vector<typename Item::Type>;
  using ItemKind = Item;
  // On an error about one item, `*bad` is set to its position.
  static absl::Status Parse(const std::vector<std::string>& items, Type* out, size_t* bad) {
    Type values(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      typename Item::Type value{};
      if (absl::Status status = Item::Parse(items[i], &value); !status.ok()) {
        *bad = i;
        return status;
      }
      values[i] = std::move(value);
    }
    *out = std::move(values);
    return absl::OkStatus();
  }
  static std::vector<std::string> Format(const Type& values) {
    std::vector<std::string> items;
    for (const auto& value : values) items.push_back(Item::Format(value));
    return items;
  }
};
using Numbers = List<Number>;
using Strings = List<String>;

}  // namespace tallyd

#endif  // TALLYD_CONFIG_VALUES_H_
