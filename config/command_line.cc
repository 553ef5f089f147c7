// The command line (SPEC 1): every key's flag from the key table plus the few options that are
// not config keys (--config, --check-config, --ports_file, --help, --version). A small parser
// over the table rather than Abseil flags: one declaration per key, tallyd's own spelling rules
// (dashes = underscores, --no<flag>), and exit status 2 for every mistake.
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "config/config.h"
#include "config/keys.h"

#ifndef TALLYD_VERSION
#define TALLYD_VERSION "dev"
#endif

namespace tallyd {
namespace {

using config_internal::Key;
using config_internal::Keys;

struct Option {
  absl::string_view name;
  absl::string_view metavar;  // "" for a bool
  std::string CommandLine::*text = nullptr;
  bool CommandLine::*on = nullptr;
  absl::string_view help;
};

const Option kOptions[] = {
    {"config", "FILE", &CommandLine::config_file, nullptr,
     "YAML config file; without it tallyd runs on the built-in defaults"},
    {"check_config", "", nullptr, &CommandLine::check_config,
     "validate the config file and flags, then exit 0 (valid) or 2 (invalid)"},
    {"ports_file", "PATH", &CommandLine::ports_file, nullptr,
     "after start-up, write the bound addresses here, one per line (\"udp 127.0.0.1:8125\"), "
     "and again when a SIGHUP moves the Prometheus endpoint; for scripts and tests that listen "
     "on port 0"},
};

// What a flag name sets: a config key or an option (or neither).
struct Target {
  const Key* key = nullptr;
  const Option* option = nullptr;
  bool is_bool() const { return key != nullptr ? key->is_bool : option && option->on; }
};

Target Find(absl::string_view name) {
  for (const Option& option : kOptions) {
    if (option.name == name) return {nullptr, &option};
  }
  return {config_internal::FindFlag(name), nullptr};
}

bool IsHelp(absl::string_view name) {
  return name == "help" || name == "h" || name == "helpfull" || name == "helpshort";
}

absl::Status Error(absl::string_view message) { return absl::InvalidArgumentError(message); }

// One argument that starts with '-': "--check-config", "-no-graphite", "--udp=127.0.0.1:0".
struct Spelling {
  std::string spelled;  // as written, for messages
  std::string name;     // dashes read as underscores
  std::optional<std::string> value;
};

Spelling Spell(absl::string_view arg) {
  absl::string_view body = absl::StripPrefix(arg.substr(1), "-");
  const size_t equals = body.find('=');
  Spelling spelling;
  spelling.spelled = std::string(body.substr(0, equals));
  spelling.name = absl::StrReplaceAll(spelling.spelled, {{"-", "_"}});
  if (equals != absl::string_view::npos) spelling.value = std::string(body.substr(equals + 1));
  return spelling;
}

using Items = std::vector<std::string>;

// The `backends.<name>.enabled` key of a backend's other key; nullptr for a key outside a
// backend, or for `enabled` itself.
const Key* EnabledKeyOf(const Key& key) {
  absl::string_view path = key.path;
  if (key.enabled || !absl::ConsumePrefix(&path, "backends.")) return nullptr;
  return config_internal::FindKey(
      absl::StrCat("backends.", path.substr(0, path.find('.')), ".enabled"));
}

bool IsFlag(absl::string_view arg) { return arg.size() >= 2 && arg[0] == '-'; }

// A key's default as a flag takes it ("10s", "50,90,95,99", "\"\""), or with `yaml` as YAML would
// write a list ("[50, 90, 95, 99]").
std::string DefaultText(const Key& key, bool yaml = false) {
  std::vector<std::string> items = key.defaults;
  if (key.map && yaml) {
    for (std::string& item : items) item.replace(item.find('='), 1, ": ");
    return absl::StrCat("{", absl::StrJoin(items, ", "), "}");
  }
  if (key.list && yaml) {
    for (std::string& item : items) item = key.quoted ? Quote(item) : item;
    return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
  }
  const std::string text = absl::StrJoin(items, ",");
  return text.empty() && !key.list ? "\"\"" : text;
}

}  // namespace

absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args) {
  CommandLine result;
  // --help anywhere wins over the rest, mistakes included, as users expect.
  for (size_t i = 1; i < args.size() && args[i] != "--"; ++i) {
    if (!IsFlag(args[i])) continue;
    if (Spelling s = Spell(args[i]); IsHelp(s.name)) {
      result.help = s.value.value_or("");
      return result;
    }
  }
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--" || !IsFlag(args[i])) {
      const size_t at = args[i] == "--" ? i + 1 : i;
      if (at >= args.size()) break;
      return Error(absl::StrCat("unexpected argument \"", args[at], "\""));
    }
    Spelling s = Spell(args[i]);
    if (s.name == "version") {
      result.version = true;
      continue;
    }
    Target target = Find(s.name);
    // --no<flag>, --no_<flag>, --no-<flag> for a bool flag.
    const Target negated_target = Find(absl::StripPrefix(absl::StripPrefix(s.name, "no"), "_"));
    const bool negated =
        !target.key && !target.option && absl::StartsWith(s.name, "no") && negated_target.is_bool();
    if (negated) target = negated_target;
    if (!target.key && !target.option) {
      return Error(absl::StrCat("unknown flag --", s.spelled, " (see tallyd --help)"));
    }
    std::string value;
    if (target.is_bool()) {
      if (negated && s.value.has_value()) {
        return Error(absl::StrCat("--", s.spelled, " takes no value"));
      }
      value = negated ? "false" : s.value.value_or("true");
      absl::StatusOr<bool> on = ParseBool(value);
      if (!on.ok()) {
        return Error(absl::StrCat("--", s.spelled, ": must be true or false, got ", Quote(value)));
      }
      if (target.option != nullptr) result.*target.option->on = *on;
    } else if (s.value.has_value()) {
      value = *s.value;
    } else if (i + 1 < args.size()) {
      value = args[++i];  // the next argument is this flag's value, whatever it looks like
    } else {
      return Error(absl::StrCat("--", s.spelled, " needs a value"));
    }
    if (target.key != nullptr) {
      result.flags.push_back({target.key->flag, value});
    } else if (target.option->text != nullptr) {
      result.*target.option->text = value;
    }
  }
  return result;
}

absl::Status ApplyFlagOverrides(Config& config, const std::vector<FlagValue>& flags,
                                ConfigOrigins* origins) {
  ConfigOrigins local_origins;
  if (origins == nullptr) origins = &local_origins;
  std::vector<const std::string*> last(Keys().size());  // the value given last, by key
  for (const FlagValue& flag : flags) {
    const Key* key = config_internal::FindFlag(flag.flag);
    if (key == nullptr) {
      return Error(absl::StrCat("unknown flag --", flag.flag, " (see tallyd --help)"));
    }
    last[key - Keys().data()] = &flag.value;
  }
  std::vector<std::string> errors;
  // Backends' `enabled` last, so that `--graphite=false` wins over a --graphite_* flag.
  for (const bool enabled_pass : {false, true}) {
    for (size_t k = 0; k < Keys().size(); ++k) {
      const Key& key = Keys()[k];
      if (key.enabled != enabled_pass || last[k] == nullptr) continue;
      const std::string origin = absl::StrCat("--", key.flag);
      // Items set on the command line point at the flag, not at the file's lines.
      std::erase_if(origins->where,
                    [&](const auto& at) { return absl::StartsWith(at.first, key.path + "["); });
      origins->where[key.path] = ConfigOrigin::Flag(key.flag);
      // A backend key's flag turns its backend on (--graphite_address without a graphite
      // section): that flag is then where `enabled` came from.
      const Key* enabled = EnabledKeyOf(key);
      const bool was_on = enabled != nullptr && enabled->get(config) == Items{"true"};
      std::vector<std::string> items = {*last[k]};
      if (key.list) {
        items = absl::StrSplit(*last[k], ',');
        for (std::string& item : items) absl::StripAsciiWhitespace(&item);
        if (last[k]->empty()) items.clear();
      }
      size_t bad = 0;
      if (absl::Status status = key.set(config, items, &bad); !status.ok()) {
        errors.push_back(absl::StrCat(origin, ": ", key.ItemPath(bad), ": ", status.message()));
      } else if (enabled != nullptr && !was_on) {
        origins->where[enabled->path] = ConfigOrigin::Flag(key.flag);
      }
    }
  }
  if (errors.empty()) return absl::OkStatus();
  return Error(absl::StrJoin(errors, "\n"));
}

absl::StatusOr<Config> LoadConfig(const CommandLine& command_line, ConfigOrigins* out_origins) {
  Config config;
  ConfigOrigins local_origins;
  ConfigOrigins& origins = out_origins != nullptr ? *out_origins : local_origins;
  origins.where.clear();
  if (const std::string& path = command_line.config_file; !path.empty()) {
    absl::StatusOr<std::string> text = config_internal::ReadConfigFile(path);
    if (!text.ok()) return text.status();
    absl::StatusOr<Config> parsed = ParseConfigYaml(*text, path, &origins, /*validate=*/false);
    if (!parsed.ok()) return parsed.status();
    config = *std::move(parsed);
  }
  if (absl::Status status = ApplyFlagOverrides(config, command_line.flags, &origins);
      !status.ok()) {
    return status;
  }
  ResolveConfig(config, &origins);
  if (absl::Status status = ValidateConfig(config, &origins); !status.ok()) return status;
  return config;
}

// --- --help and --version -----------------------------------------------------------------------

// The README's key table: one row per key, every cell from the table.
std::string FormatMarkdown() {
  auto cell = [](absl::string_view text) { return absl::StrReplaceAll(text, {{"|", "\\|"}}); };
  std::string out =
      "| Key | Flag | Default | Allowed | SIGHUP | Meaning |\n"
      "|---|---|---|---|---|---|\n";
  for (const Key& key : Keys()) {
    absl::StrAppend(&out, "| `", key.path, "` | `--", key.flag, "` | `",
                    cell(DefaultText(key, /*yaml=*/true)), "` | ", cell(key.allowed), " | ",
                    key.reload == config_internal::Reload::kLive ? "live" : "restart", " | ",
                    cell(key.help), " |\n");
  }
  return out;
}

std::string FormatHelp(absl::string_view topic) {
  if (topic == "markdown") return FormatMarkdown();
  std::string out =
      "tallyd: a StatsD/DogStatsD aggregation server.\n"
      "  tallyd [--config FILE] [--<key>=VALUE ...]\n"
      "  tallyd --check-config --config FILE\n"
      "Every config key is also a flag that overrides the file; in flag names '-' and '_' are\n"
      "the same, a bool flag alone is true and --no<flag> false, lists are comma-separated.\n\n";
  for (const Option& option : kOptions) {
    absl::StrAppend(&out, "  --", option.name, option.metavar.empty() ? "" : "=", option.metavar,
                    "\n      ", option.help, "\n");
  }
  absl::StrAppend(&out,
                  "  --help[=markdown]\n      this text, or the README's key table\n"
                  "  --version\n\nConfig keys:\n");
  for (const Key& key : Keys()) {
    if (!absl::StrContains(key.path, topic) && !absl::StrContains(key.flag, topic)) continue;
    std::string metavar = absl::AsciiStrToUpper(absl::StrReplaceAll(key.kind, {{" ", "_"}}));
    if (key.list) absl::StrAppend(&metavar, ",...");
    absl::StrAppend(
        &out, "  --", key.flag, key.is_bool ? "" : "=" + metavar, "  (", key.path, ")\n      ",
        key.help, "\n      default ", DefaultText(key), "; ", key.allowed,
        key.reload == config_internal::Reload::kRestart ? "; a change needs a restart" : "", "\n");
  }
  return out;
}

std::string FormatVersion() { return "tallyd " TALLYD_VERSION "\n"; }

}  // namespace tallyd
