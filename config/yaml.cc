// YAML in and out. ParseConfigYaml walks the file's maps against the key table: strict, so an
// unknown key, a repeated key or a wrong type is an error naming file, line and key path, all
// reported together. FormatConfig writes every key back, in table order.
#include "yaml-cpp/yaml.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "config/config.h"
#include "config/keys.h"

namespace tallyd {
namespace {

using config_internal::Key;
using config_internal::Keys;
using Items = std::vector<std::string>;

absl::string_view KindOf(const YAML::Node& node) {
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a map";
  return node.IsNull() ? "nothing" : "a single value";
}

// The keys allowed directly under `prefix`, for the unknown-key message.
std::string KeysUnder(absl::string_view prefix) {
  std::set<std::string> names;
  for (const Key& key : Keys()) {
    absl::string_view path = key.path;
    if (!prefix.empty() && !absl::ConsumePrefix(&path, absl::StrCat(prefix, "."))) continue;
    names.insert(std::string(path.substr(0, path.find('.'))));
  }
  return absl::StrJoin(names, ", ");
}

class YamlReader {
 public:
  YamlReader(absl::string_view filename, Config* config, ConfigOrigins* origins)
      : filename_(filename), config_(config), origins_(origins) {}

  void ReadRoot(const YAML::Node& root) {
    if (root.IsNull()) return;  // an empty file: the defaults
    if (!root.IsMap()) {
      Fail(root.Mark(), "", absl::StrCat("the file must be a map of keys, got ", KindOf(root)));
      return;
    }
    ReadSection(root, "");
  }

  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::string Where(const YAML::Mark& mark) const { return OriginOf(mark).Where(); }
  ConfigOrigin OriginOf(const YAML::Mark& mark) const {
    return ConfigOrigin::File(filename_, mark.is_null() ? 0 : mark.line + 1);
  }

  void Fail(const YAML::Mark& mark, absl::string_view path, absl::string_view message) {
    errors_.push_back(path.empty() ? absl::StrCat(Where(mark), ": ", message)
                                   : absl::StrCat(Where(mark), ": ", path, ": ", message));
  }

  void ReadSection(const YAML::Node& map, const std::string& prefix) {
    std::set<std::string> seen;
    // A backend's `enabled` is applied after its other keys, which would turn it back on.
    std::optional<std::pair<const Key*, YAML::Node>> enabled;
    for (const auto& entry : map) {
      const YAML::Node& key = entry.first;
      const YAML::Node& value = entry.second;
      if (!key.IsScalar()) {
        Fail(key.Mark(), prefix, "keys must be plain names");
        continue;
      }
      const std::string& name = key.Scalar();
      const std::string path = prefix.empty() ? name : absl::StrCat(prefix, ".", name);
      if (!seen.insert(name).second) {
        Fail(key.Mark(), path, "is set twice");
        continue;
      }
      origins_->where[path] = OriginOf(key.Mark());
      if (!KeysUnder(path).empty()) {  // a section, holding keys rather than a value
        // A `backends:` map runs exactly the backends it lists, each on by its section's presence.
        // That line is where `enabled` came from (unless the section says `enabled:`); the map's
        // for a backend on by default (Prometheus) that it leaves out.
        for (const Key& on : Keys()) {
          if (!on.enabled) continue;
          const bool turns_off = path == "backends" && on.get(*config_) == Items{"true"};
          if (path == "backends") (void)on.set(*config_, {"false"}, nullptr);
          if (on.path == path + ".enabled") (void)on.set(*config_, {"true"}, nullptr);
          if (turns_off || on.path == path + ".enabled") {
            origins_->where[on.path] = OriginOf(key.Mark());
          }
        }
        if (value.IsNull()) continue;
        if (!value.IsMap()) {
          Fail(MarkOf(value, key), path,
               absl::StrCat("must be a map of keys (", KeysUnder(path), "), got ", KindOf(value)));
          continue;
        }
        ReadSection(value, path);
        continue;
      }
      const Key* known = config_internal::FindKey(path);
      if (known == nullptr) {
        Fail(key.Mark(), path, absl::StrCat("unknown key; valid here: ", KeysUnder(prefix)));
      } else if (known->enabled) {
        enabled.emplace(known, value);
      } else {
        ReadLeaf(*known, key, value);
      }
    }
    if (enabled.has_value()) ReadLeaf(*enabled->first, enabled->second, enabled->second);
  }

  // An empty value's mark is where the parser noticed it, often a later line: use the key's.
  static YAML::Mark MarkOf(const YAML::Node& value, const YAML::Node& key) {
    return value.IsNull() || value.Mark().is_null() ? key.Mark() : value.Mark();
  }

  void ReadLeaf(const Key& key, const YAML::Node& key_node, const YAML::Node& value) {
    const YAML::Mark mark = MarkOf(value, key_node);
    std::vector<YAML::Node> nodes;  // the items; a scalar key's value is its one item
    if (key.map && value.IsMap()) {
      ReadMap(key, value);
      return;
    }
    if (key.map && !value.IsNull()) {
      Fail(mark, key.path, absl::StrCat("must be a map like {name: value}, got ", KindOf(value)));
      return;
    }
    if (!key.list) {
      nodes.push_back(value);
    } else if (value.IsSequence()) {
      for (const YAML::Node& item : value) nodes.push_back(item);
    } else if (!value.IsNull()) {  // `key:` with nothing after it is an empty list
      Fail(mark, key.path, absl::StrCat("must be a list like [a, b], got ", KindOf(value)));
      return;
    }
    std::vector<std::string> items;
    std::vector<YAML::Mark> marks;
    for (const YAML::Node& item : nodes) {
      const std::string path = key.ItemPath(items.size());
      marks.push_back(item.Mark().is_null() || !key.list ? mark : item.Mark());
      if (!item.IsScalar()) {
        Fail(marks.back(), path, absl::StrCat("must be a single value, got ", KindOf(item)));
        return;
      }
      absl::StatusOr<std::string> text = ExpandEnv(item.Scalar());
      if (!text.ok()) {
        Fail(marks.back(), path, text.status().message());
        return;
      }
      if (key.list) origins_->where[path] = OriginOf(marks.back());
      items.push_back(*std::move(text));
    }
    size_t bad = 0;
    if (absl::Status status = key.set(*config_, items, &bad); !status.ok()) {
      Fail(marks.at(bad), key.ItemPath(bad), status.message());
    }
  }

  // A Map key's entries become "name=value" items (the value's ${VAR}s expanded).
  void ReadMap(const Key& key, const YAML::Node& map) {
    std::vector<std::string> items;
    std::vector<YAML::Mark> marks;
    std::set<std::string> names;
    for (const auto& entry : map) {
      const std::string path = key.ItemPath(items.size());
      marks.push_back(entry.first.Mark());
      if (!entry.first.IsScalar() || !(entry.second.IsScalar() || entry.second.IsNull())) {
        Fail(marks.back(), path, "must be a name and a single value");
        return;
      }
      absl::StatusOr<std::string> text =
          ExpandEnv(entry.second.IsNull() ? "" : entry.second.Scalar());
      if (!text.ok()) {
        Fail(marks.back(), path, text.status().message());
        return;
      }
      if (!names.insert(entry.first.Scalar()).second) {
        Fail(marks.back(), path, absl::StrCat(Quote(entry.first.Scalar()), " is set twice"));
        return;
      }
      if (entry.first.Scalar().find('=') != std::string::npos) {
        Fail(marks.back(), path,
             absl::StrCat("a name cannot contain '=', got ", Quote(entry.first.Scalar())));
        return;
      }
      origins_->where[path] = OriginOf(marks.back());
      items.push_back(absl::StrCat(entry.first.Scalar(), "=", *text));
    }
    size_t bad = 0;
    if (absl::Status status = key.set(*config_, items, &bad); !status.ok()) {
      Fail(marks.at(bad), key.ItemPath(bad), status.message());
    }
  }

  std::string filename_;
  Config* config_;
  ConfigOrigins* origins_;
  std::vector<std::string> errors_;
};

}  // namespace

namespace config_internal {

absl::StatusOr<std::string> ReadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  }
  return text.str();
}

}  // namespace config_internal

absl::StatusOr<Config> ParseConfigYaml(absl::string_view text, absl::string_view filename,
                                       ConfigOrigins* origins, bool validate) {
  ConfigOrigins local_origins;
  if (origins == nullptr) origins = &local_origins;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ":", e.mark.is_null() ? 0 : e.mark.line + 1, ": invalid YAML: ", e.msg));
  }
  Config config;
  YamlReader reader(filename, &config, origins);
  try {
    reader.ReadRoot(root);
  } catch (const YAML::Exception& e) {  // not expected: the reader checks types before reading
    return absl::InvalidArgumentError(absl::StrCat(filename, ": ", e.what()));
  }
  if (!reader.errors().empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(reader.errors(), "\n"));
  }
  if (validate) {
    ResolveConfig(config, origins);
    if (absl::Status status = ValidateConfig(config, origins); !status.ok()) return status;
  }
  return config;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  absl::StatusOr<std::string> text = config_internal::ReadConfigFile(path);
  if (!text.ok()) return text.status();
  return ParseConfigYaml(*text, path);
}

// --- FormatConfig ------------------------------------------------------------------------------

std::string FormatConfig(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  // The maps open around the key being written: "backends", "prometheus", ...
  std::vector<std::string> open;
  auto enter = [&](const std::vector<std::string>& section) {
    size_t common = 0;
    while (common < open.size() && common < section.size() && open[common] == section[common]) {
      ++common;
    }
    for (; open.size() > common; open.pop_back()) out << YAML::EndMap;
    for (; open.size() < section.size(); open.push_back(section[open.size()])) {
      out << YAML::Key << section[open.size()] << YAML::Value << YAML::BeginMap;
    }
  };
  for (const Key& key : Keys()) {
    std::vector<std::string> section = absl::StrSplit(key.path, '.');
    const std::string name = section.back();
    section.pop_back();
    std::optional<std::vector<std::string>> items = key.get(config);
    if (!items.has_value() || key.enabled) {
      // A `backends:` map lists exactly the backends that are on, so it is always written.
      enter({section.begin(), section.begin() + 1});
      continue;
    }
    enter(section);
    out << YAML::Key << name << YAML::Value;
    if (key.map) {
      out << YAML::Flow << YAML::BeginMap;
      for (const std::string& item : *items) {
        const size_t equals = item.find('=');
        const std::string value = equals == std::string::npos ? "" : item.substr(equals + 1);
        // A secret map (remote_write.headers) keeps its names readable, never its values.
        out << YAML::Key << item.substr(0, equals) << YAML::Value << YAML::DoubleQuoted
            << (key.secret && !value.empty() ? std::string("<redacted>") : EscapeEnv(value));
      }
      out << YAML::EndMap;
      continue;
    }
    if (key.list) out << YAML::Flow << YAML::BeginSeq;
    for (const std::string& item : *items) {
      if (key.secret && !item.empty()) {
        out << YAML::DoubleQuoted << "<redacted>";
      } else if (key.quoted) {
        out << YAML::DoubleQuoted << EscapeEnv(item);
      } else {
        out << item;
      }
    }
    if (key.list) out << YAML::EndSeq;
  }
  enter({});
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace tallyd
