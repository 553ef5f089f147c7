// The key table: config.h's KEY lists expanded into Keys whose functions read and write the
// declared field through its kind. Also the checks the lists name (Range, Address, ...).
#include "config/keys.h"

#include <type_traits>
#include <utility>

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
Check GraphiteName() {
  return {.text = "string without whitespace or ;", .problem = [](const std::string& name) {
            const bool ok = name.find_first_of(" \t\r\n;") == std::string::npos;
            return ok ? "" : "must not contain whitespace or ;, got " + Quote(name);
          }};
}

// --- Kinds ------------------------------------------------------------------------------------

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
  if constexpr (requires { Item::ToDouble(value); }) {
    const double n = Item::ToDouble(value);
    const bool ok = (check.min_open ? n > check.min : n >= check.min) &&
                    (check.max_open ? n < check.max : n <= check.max) &&
                    !(check.not_zero && n == 0);
    if (ok) return "";
    if constexpr (requires { Item::Shown(value); }) {
      return absl::StrCat("must be ", check.text, ", got ", Item::Shown(value));
    }
    return absl::StrCat("must be ", check.text, ", got ", Item::Format(value));
  } else if constexpr (std::is_same_v<typename Item::Type, std::string>) {
    if (check.problem != nullptr) return check.problem(value);
  }
  return "";
}

template <typename Item>
constexpr bool kIsEnum = requires {
  Names(typename Item::Type{});
};

// "integer 1..65536", "list, each host:port or [v6]:port": for --help and the README.
template <typename K>
std::string Allowed(const Check& check) {
  using Item = typename ItemKindOf<K>::type;
  std::string allowed(Item::kName);
  if constexpr (kIsEnum<Item>) {
    allowed = absl::StrCat("one of ", absl::StrJoin(Names(typename Item::Type{}), ", "));
  }
  if (!check.text.empty()) {
    // A string's check says what the string is.
    allowed = std::is_same_v<typename Item::Type, std::string>
                  ? check.text
                  : absl::StrCat(allowed, " ", check.text);
  }
  return ItemKindOf<K>::kList ? absl::StrCat("list, each ", allowed) : allowed;
}

// --- Sections: where a key's field lives in Config ---------------------------------------------

struct Top {
  using Struct = Config;
  static Config* Open(Config& config) { return &config; }
  static const Config* Find(const Config& config) { return &config; }
};

template <auto kMember>
struct Part {
  using Struct = std::remove_reference_t<decltype(std::declval<Config&>().*kMember)>;
  static Struct* Open(Config& config) { return &(config.*kMember); }
  static const Struct* Find(const Config& config) { return &(config.*kMember); }
};

// A backend: setting any of its keys turns it on.
template <auto kMember>
struct Backend {
  using Struct =
      typename std::remove_reference_t<decltype(std::declval<Config&>().*kMember)>::value_type;
  static Struct* Open(Config& config) {
    auto& backend = config.*kMember;
    if (!backend.has_value()) backend.emplace();
    return &*backend;
  }
  static const Struct* Find(const Config& config) {
    const auto& backend = config.*kMember;
    return backend.has_value() ? &*backend : nullptr;
  }
  static void Set(Config& config, bool on) {
    if (on) Open(config);
    if (!on) (config.*kMember).reset();
  }
};

using Items = std::vector<std::string>;
using Problems = std::vector<std::pair<size_t, std::string>>;

template <typename K, typename S, auto kField>
Key MakeKey(absl::string_view section, absl::string_view backend, absl::string_view name,
            Check check, Reload reload, absl::string_view help) {
  using Item = typename ItemKindOf<K>::type;
  constexpr bool kList = ItemKindOf<K>::kList;
  Key key;
  key.path = section.empty() ? std::string(name) : absl::StrCat(section, ".", name);
  key.flag = backend.empty() || absl::StartsWith(name, absl::StrCat(backend, "_"))
                 ? std::string(name)
                 : absl::StrCat(backend, "_", name);
  key.help = help;
  key.kind = Item::kName;
  if constexpr (kIsEnum<Item>) {
    for (absl::string_view name : Names(typename Item::Type{})) key.choices.push_back(name);
  }
  key.allowed = Allowed<K>(check);
  key.check = std::move(check);
  key.reload = reload;
  key.list = kList;
  key.is_bool = std::is_same_v<K, Bool>;
  key.quoted = std::is_same_v<typename Item::Type, std::string>;
  key.secret = std::is_same_v<Item, Secret>;
  key.set = [](Config& config, const Items& items, size_t* bad) {
    typename K::Type value{};
    absl::Status status;
    if constexpr (kList) {
      status = K::Parse(items, &value, bad);
    } else {
      status = K::Parse(items.at(0), &value);
    }
    if (status.ok()) S::Open(config)->*kField = std::move(value);
    return status;
  };
  key.get = [](const Config& config) -> std::optional<Items> {
    const auto* section = S::Find(config);
    if (section == nullptr) return std::nullopt;
    if constexpr (kList) {
      return K::Format(section->*kField);
    } else {
      return Items{K::Format(section->*kField)};
    }
  };
  key.problems = [](const Key& key, const Config& config) {
    Problems problems;
    const auto* section = S::Find(config);
    if (section == nullptr) return problems;
    const auto& value = section->*kField;
    if constexpr (kList) {
      for (size_t i = 0; i < value.size(); ++i) {
        std::string problem = ItemProblem<Item>(key.check, value[i]);
        if (!problem.empty()) problems.emplace_back(i, std::move(problem));
      }
    } else if (std::string problem = ItemProblem<Item>(key.check, value); !problem.empty()) {
      problems.emplace_back(std::string::npos, std::move(problem));
    }
    return problems;
  };
  return key;
}

// `backends.<name>.enabled`, flag `--<name>`: on or off, whatever the section holds.
template <typename S>
Key MakeEnabled(absl::string_view name, absl::string_view help) {
  Key key;
  key.path = absl::StrCat("backends.", name, ".enabled");
  key.flag = std::string(name);
  key.help = help;
  key.kind = "bool";
  key.allowed = "bool";
  key.is_bool = key.enabled = true;
  key.set = [](Config& config, const Items& items, size_t*) {
    bool on = false;
    absl::Status status = Bool::Parse(items.at(0), &on);
    if (status.ok()) S::Set(config, on);
    return status;
  };
  key.get = [](const Config& config) -> std::optional<Items> {
    return Items{Bool::Format(S::Find(config) != nullptr)};
  };
  key.problems = [](const Key&, const Config&) { return Problems(); };
  return key;
}

#define TALLYD_KEY_ROW(kind, field, default_value, check, reload, help) \
  MakeKey<kind, S, &S::Struct::field>(kSection, kBackend, #field, check, Reload::reload, help),
#define TALLYD_SECTION(Accessor, section, backend, LIST)                \
  {                                                                     \
    using S = Accessor;                                                 \
    constexpr absl::string_view kSection = section, kBackend = backend; \
    keys.insert(keys.end(), {LIST(TALLYD_KEY_ROW)});                    \
  }
// A backend's keys, after its `enabled`.
#define TALLYD_BACKEND(name, enabled_help, LIST)                            \
  keys.push_back(MakeEnabled<Backend<&Config::name>>(#name, enabled_help)); \
  TALLYD_SECTION(Backend<&Config::name>, "backends." #name, #name, LIST)

std::vector<Key> BuildKeys() {
  std::vector<Key> keys;
  TALLYD_SECTION(Top, "", "", TALLYD_TOP_KEYS)
  TALLYD_SECTION(Part<&Config::listen>, "listen", "", TALLYD_LISTEN_KEYS)
  TALLYD_SECTION(Part<&Config::aggregation>, "aggregation", "", TALLYD_AGGREGATION_KEYS)
  TALLYD_BACKEND(prometheus, "`false` turns Prometheus off", TALLYD_PROMETHEUS_KEYS)
  TALLYD_BACKEND(graphite, "send to carbon; on when the section is present", TALLYD_GRAPHITE_KEYS)
  TALLYD_BACKEND(datadog, "send to the Datadog API; on when the section is present",
                 TALLYD_DATADOG_KEYS)
  TALLYD_BACKEND(console, "JSON lines on stdout; on when the section is present",
                 TALLYD_CONSOLE_KEYS)
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

bool IsSection(absl::string_view path) {
  for (const Key& key : Keys()) {
    if (absl::StartsWith(key.path, path) && key.path.size() > path.size() &&
        key.path[path.size()] == '.') {
      return true;
    }
  }
  return false;
}

void ClearBackends(Config& config) {
  for (const Key& key : Keys()) {
    if (key.enabled) (void)key.set(config, {"false"}, nullptr);
  }
}

}  // namespace tallyd::config_internal
