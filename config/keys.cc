// The key table: config.h's KEY lists expanded into Keys whose functions read and write the
// declared field through its kind. Also the checks the lists name (Range, Address, ...).
#include "config/keys.h"

#include <type_traits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tallyd::config_internal {
namespace {

// --- Checks named in config.h -----------------------------------------------------------------

Check Any() { return {}; }
Check Range(double min, double max, std::string text = "") {
  if (text.empty()) text = absl::StrCat(FormatNumber(min), "..", FormatNumber(max));
  return {.text = std::move(text), .min = min, .max = max};
}
Check AtLeast(double min, std::string text = "") {
  if (text.empty()) text = absl::StrCat("at least ", FormatNumber(min));
  return {.text = std::move(text), .min = min};
}
Check MoreThan(double min) {
  return {.text = absl::StrCat("more than ", FormatNumber(min)), .min = min, .min_open = true};
}
Check Open(double min, double max, std::string text = "") {
  if (text.empty()) text = absl::StrCat("in (", FormatNumber(min), ", ", FormatNumber(max), ")");
  return {.text = std::move(text), .min = min, .max = max, .min_open = true, .max_open = true};
}
Check NonZero(Check check) {
  check.not_zero = true;
  return check;
}

Check Address() {
  return {.text = "host:port or [v6]:port", .problem = [](const std::string& value) {
            absl::StatusOr<HostPort> parsed = ParseHostPort(value);
            return parsed.ok() ? std::string() : std::string(parsed.status().message());
          }};
}
Check SocketPath() {  // sun_path holds 108 bytes including the terminating NUL
  return {.text = "path of 1..107 bytes", .problem = [](const std::string& path) {
            const bool ok = !path.empty() && path.size() <= 107;
            return ok ? "" : "must be a socket path of 1..107 bytes, got " + Quote(path);
          }};
}
Check Tag() {
  return {.text = "key:value or key", .problem = [](const std::string& tag) {
            const bool ok =
                !tag.empty() && tag[0] != ':' && tag.find_first_of(",|\n\r") == std::string::npos;
            return ok ? "" : "must be key:value or key, without , or |, got " + Quote(tag);
          }};
}
// A Map's entries: "name=value", the name a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not
// reserved "__" names).
Check LabelEntry() {
  return {.text = "map of label names to values", .problem = [](const std::string& entry) {
            const size_t equals = entry.find('=');
            const absl::string_view name = absl::string_view(entry).substr(0, equals);
            bool ok = equals != std::string::npos && !name.empty() && !absl::StartsWith(name, "__");
            for (size_t i = 0; ok && i < name.size(); ++i) {
              const char c = name[i];
              ok = absl::ascii_isalpha(c) || c == '_' || (i > 0 && absl::ascii_isdigit(c));
            }
            return ok ? ""
                      : "must be a label name ([a-zA-Z_][a-zA-Z0-9_]*, not __*) and a value, got " +
                            Quote(entry);
          }};
}
// A Map's entries: an HTTP header name (an RFC 9110 token) and a value without line breaks; the
// headers remote write sets itself cannot be replaced.
Check HeaderEntry() {
  return {.text = "map of HTTP header names to values", .problem = [](const std::string& entry) {
            const size_t equals = entry.find('=');
            const absl::string_view name = absl::string_view(entry).substr(0, equals);
            bool ok = equals != std::string::npos && !name.empty() &&
                      entry.find_first_of("\r\n", equals) == std::string::npos;
            for (char c : name) {
              ok = ok && (absl::ascii_isalnum(c) ||
                          absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos);
            }
            if (!ok) return "must be an HTTP header name and a value, got " + Quote(name);
            for (absl::string_view reserved :
                 {"authorization", "content-encoding", "content-type", "content-length",
                  "user-agent", "x-prometheus-remote-write-version", "host"}) {
              if (absl::EqualsIgnoreCase(name, reserved)) {
                return absl::StrCat("must not set ", name,
                                    ", which remote write sets itself (credentials: username / "
                                    "password or bearer_token)");
              }
            }
            return std::string();
          }};
}
Check GraphiteName() {
  return {.text = "string without whitespace or ;", .problem = [](const std::string& name) {
            const bool ok = name.find_first_of(" \t\r\n;") == std::string::npos;
            return ok ? "" : "must not contain whitespace or ;, got " + Quote(name);
          }};
}

// --- Kinds ------------------------------------------------------------------------------------

// A scalar key is handled as a list of one item.
template <typename K>
struct ItemKindOf {
  using type = K;
  static constexpr bool kList = false;
};
template <typename Item>
struct ItemKindOf<List<Item>> {
  using type = Item;
  static constexpr bool kList = true;
};

template <typename Item>
std::string ItemProblem(const Check& check, const typename Item::Type& value) {
  using T = typename Item::Type;
  if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, absl::Duration>) {
    double n = 0;
    if constexpr (std::is_arithmetic_v<T>) n = static_cast<double>(value);
    if constexpr (!std::is_arithmetic_v<T>) n = absl::ToDoubleSeconds(value);
    const bool ok = (check.min_open ? n > check.min : n >= check.min) &&
                    (check.max_open ? n < check.max : n <= check.max) &&
                    !(check.not_zero && n == 0);
    if (ok) return "";
    if constexpr (requires { Item::Shown(value); }) {
      return absl::StrCat("must be ", check.text, ", got ", Item::Shown(value));
    }
    return absl::StrCat("must be ", check.text, ", got ", Item::Format(value));
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (check.problem != nullptr) return check.problem(value);
  }
  return "";
}

// A list's items, or a scalar as one.
template <bool kList, typename T>
auto ItemsOf(const T& field) {
  if constexpr (kList) {
    return absl::MakeConstSpan(field);
  } else {
    return absl::MakeConstSpan(&field, 1);
  }
}

// --- Sections: where a key's field lives in Config ---------------------------------------------

// The struct holding a section's fields: `config` itself (kMember nullptr), a part of it, or a
// backend's optional: nullptr when the backend is off, except that a mutable `config` (a key being
// set) turns it on.
template <auto kMember, typename C>
auto* SectionOf(C& config) {
  if constexpr (std::is_null_pointer_v<decltype(kMember)>) {
    return &config;
  } else if constexpr (requires { (config.*kMember).has_value(); }) {
    auto& backend = config.*kMember;
    if constexpr (!std::is_const_v<C>) {
      if (!backend.has_value()) backend.emplace();
    }
    return backend.has_value() ? &*backend : nullptr;
  } else {
    return &(config.*kMember);
  }
}

template <auto kMember>
using SectionStruct = std::remove_pointer_t<decltype(SectionOf<kMember>(std::declval<Config&>()))>;

using Items = std::vector<std::string>;
using Problems = std::vector<std::pair<size_t, std::string>>;

template <typename Item, bool kList, typename T>
Items FormatItems(const T& field) {
  Items items;
  for (const auto& value : ItemsOf<kList>(field)) items.push_back(Item::Format(value));
  return items;
}

template <typename K, auto kSection, auto kField>
Key MakeKey(absl::string_view section, absl::string_view backend, absl::string_view name,
            Check check, Reload reload, absl::string_view help) {
  using Item = typename ItemKindOf<K>::type;
  using T = typename Item::Type;
  constexpr bool kList = ItemKindOf<K>::kList;
  Key key;
  key.path = section.empty() ? std::string(name) : absl::StrCat(section, ".", name);
  key.flag = backend.empty() || absl::StartsWith(name, absl::StrCat(backend, "_"))
                 ? std::string(name)
                 : absl::StrCat(backend, "_", name);
  key.help = help;
  key.kind = Item::kName;
  key.allowed = std::string(Item::kName);
  if constexpr (requires { Names(T{}); }) {
    for (absl::string_view choice : Names(T{})) key.choices.push_back(choice);
    key.allowed = absl::StrCat("one of ", absl::StrJoin(key.choices, ", "));
  }
  if (!check.text.empty()) {  // a string's check says what the string is
    key.allowed =
        std::is_same_v<T, std::string> ? check.text : absl::StrCat(key.allowed, " ", check.text);
  }
  if (kList) key.allowed = absl::StrCat("list, each ", key.allowed);
  if (std::is_base_of_v<MapEntry, Item>) key.allowed = check.text;  // "map of ..."
  key.check = std::move(check);
  key.reload = reload;
  key.list = kList;
  key.is_bool = std::is_same_v<K, Bool>;
  key.quoted = std::is_same_v<T, std::string>;
  key.secret = std::is_same_v<Item, Secret> || std::is_same_v<Item, SecretMapEntry>;
  key.map = std::is_base_of_v<MapEntry, Item>;
  key.set = [](Config& config, const Items& items, size_t* bad) {
    std::vector<T> values;
    for (const std::string& item : items) {
      absl::StatusOr<T> value = Item::Parse(item);
      if (!value.ok()) {
        if (bad != nullptr) *bad = values.size();
        return value.status();
      }
      values.push_back(*std::move(value));
    }
    if constexpr (kList) {
      SectionOf<kSection>(config)->*kField = std::move(values);
    } else {
      SectionOf<kSection>(config)->*kField = values.at(0);
    }
    return absl::OkStatus();
  };
  key.defaults = FormatItems<Item, kList>(SectionStruct<kSection>{}.*kField);
  key.get = [](const Config& config) -> std::optional<Items> {
    const auto* section = SectionOf<kSection>(config);
    if (section == nullptr) return std::nullopt;
    return FormatItems<Item, kList>(section->*kField);
  };
  key.problems = [](const Key& key, const Config& config) {
    Problems problems;
    const auto* section = SectionOf<kSection>(config);
    if (section == nullptr) return problems;
    const auto values = ItemsOf<kList>(section->*kField);
    for (size_t i = 0; i < values.size(); ++i) {
      std::string problem = ItemProblem<Item>(key.check, values[i]);
      if (!problem.empty()) problems.emplace_back(i, std::move(problem));
    }
    return problems;
  };
  return key;
}

// `backends.<name>.enabled`, flag `--<name>`: on or off, whatever the section holds.
template <auto kBackend>
Key MakeEnabled(absl::string_view name, absl::string_view help) {
  Key key;
  key.path = absl::StrCat("backends.", name, ".enabled");
  key.flag = std::string(name);
  key.help = help;
  key.kind = "bool";
  key.allowed = "bool";
  key.is_bool = key.enabled = true;
  key.set = [](Config& config, const Items& items, size_t*) {
    absl::StatusOr<bool> on = ParseBool(items.at(0));
    if (on.ok() && *on) SectionOf<kBackend>(config);
    if (on.ok() && !*on) (config.*kBackend).reset();
    return on.status();
  };
  const Config defaults;
  key.defaults = {FormatBool((defaults.*kBackend).has_value())};
  key.get = [](const Config& config) -> std::optional<Items> {
    return Items{FormatBool((config.*kBackend).has_value())};
  };
  key.problems = [](const Key&, const Config&) { return Problems(); };
  return key;
}

#define TALLYD_KEY_ROW(kind, field, default_value, check, reload, help)                     \
  MakeKey<kind, kMember, &SectionStruct<kMember>::field>(kSection, kBackend, #field, check, \
                                                         Reload::reload, help),
#define TALLYD_SECTION(member, section, backend, LIST)                  \
  {                                                                     \
    static constexpr auto kMember = member;                             \
    constexpr absl::string_view kSection = section, kBackend = backend; \
    keys.insert(keys.end(), {LIST(TALLYD_KEY_ROW)});                    \
  }
// A backend's keys, after its `enabled`.
#define TALLYD_BACKEND(name, enabled_help, LIST)                   \
  keys.push_back(MakeEnabled<&Config::name>(#name, enabled_help)); \
  TALLYD_SECTION(&Config::name, "backends." #name, #name, LIST)

std::vector<Key> BuildKeys() {
  std::vector<Key> keys;
  TALLYD_SECTION(nullptr, "", "", TALLYD_TOP_KEYS)
  TALLYD_SECTION(&Config::listen, "listen", "", TALLYD_LISTEN_KEYS)
  TALLYD_SECTION(&Config::aggregation, "aggregation", "", TALLYD_AGGREGATION_KEYS)
  TALLYD_BACKEND(prometheus, "`false` turns Prometheus off", TALLYD_PROMETHEUS_KEYS)
  TALLYD_BACKEND(graphite, "send to carbon; on when the section is present", TALLYD_GRAPHITE_KEYS)
  TALLYD_BACKEND(datadog, "send to the Datadog API; on when the section is present",
                 TALLYD_DATADOG_KEYS)
  TALLYD_BACKEND(console, "JSON lines on stdout; on when the section is present",
                 TALLYD_CONSOLE_KEYS)
  TALLYD_BACKEND(remote_write,
                 "push to a Prometheus remote write receiver; on when the section is present",
                 TALLYD_REMOTE_WRITE_KEYS)
  return keys;
}

}  // namespace

absl::Span<const Key> Keys() {
  static const std::vector<Key>* const keys = new std::vector<Key>(BuildKeys());
  return *keys;
}

const Key* FindKey(absl::string_view path) {
  for (const Key& key : Keys()) {
    if (key.path == path) return &key;
  }
  return nullptr;
}

const Key* FindFlag(absl::string_view flag) {
  for (const Key& key : Keys()) {
    if (key.flag == flag) return &key;
  }
  return nullptr;
}

}  // namespace tallyd::config_internal
