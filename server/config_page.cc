#include "server/config_page.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "backends/json_text.h"
#include "protocol/utf8.h"

namespace tallyd::server {
namespace {

using Type = ConfigEntry::Type;

// Origins start in this column, unless a longer `key: value` pushes one further right.
constexpr size_t kOriginColumn = 52;

std::string_view SourceName(ConfigOrigin::Source source) {
  switch (source) {
    case ConfigOrigin::Source::kDefault:
      return "default";
    case ConfigOrigin::Source::kFile:
      return "file";
    case ConfigOrigin::Source::kFlag:
      return "flag";
    case ConfigOrigin::Source::kEnvironment:
      return "env";
  }
  return "";
}

// "name=value" -> (name, value).
std::pair<std::string_view, std::string_view> SplitEntry(std::string_view item) {
  const size_t equals = item.find('=');
  if (equals == std::string_view::npos) return {item, ""};
  return {item.substr(0, equals), item.substr(equals + 1)};
}

// --- Text ------------------------------------------------------------------------------------

// Control bytes escaped, so that each key stays on its line (this Abseil's string_view is not
// std's).
std::string Escaped(std::string_view text) {
  return absl::Utf8SafeCEscape(absl::string_view(text.data(), text.size()));
}
std::string QuotedText(std::string_view text) { return absl::StrCat("\"", Escaped(text), "\""); }

std::string TextItem(const ConfigEntry& entry, std::string_view item) {
  return entry.type == Type::kString ? QuotedText(item) : Escaped(item);
}

std::string TextValue(const ConfigEntry& entry) {
  std::string out;
  if (entry.map) {
    for (const std::string& item : entry.items) {
      const auto [name, value] = SplitEntry(item);
      absl::StrAppend(&out, out.empty() ? "" : ", ", Escaped(name), ": ", QuotedText(value));
    }
    return absl::StrCat("{", out, "}");
  }
  if (!entry.list) return entry.items.empty() ? "" : TextItem(entry, entry.items.front());
  for (const std::string& item : entry.items) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", TextItem(entry, item));
  }
  return absl::StrCat("[", out, "]");
}

std::string RenderText(const std::vector<ConfigEntry>& entries, std::string_view config_file) {
  std::string out =
      "# tallyd: the configuration in force (secrets masked); JSON: /debug/config?format=json\n";
  absl::StrAppend(&out, "# config file: ",
                  config_file.empty() ? "none (defaults and flags)" : QuotedText(config_file),
                  "\n");
  for (const ConfigEntry& entry : entries) {
    std::string line = absl::StrCat(entry.key, ": ", TextValue(entry));
    // Columns are characters: UTF-8 continuation bytes take none.
    const size_t width = line.size() - std::count_if(line.begin(), line.end(), [](char c) {
                           return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
                         });
    line.append(std::max(kOriginColumn, width + 2) - width, ' ');
    absl::StrAppend(&out, line, "# ", Escaped(entry.origin.ToString()), "\n");
  }
  return out;
}

// --- JSON ------------------------------------------------------------------------------------

// A config value may come from a flag in any bytes; JSON text must be UTF-8, so a string that
// is not shows its other bytes as \xNN.
void AppendString(std::string& out, std::string_view text) {
  if (protocol::IsValidUtf8(text)) {
    backends::AppendJsonString(out, text);
    return;
  }
  std::string shown;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x80) {
      shown.push_back(c);
    } else {
      absl::StrAppendFormat(&shown, "\\x%02x", byte);
    }
  }
  backends::AppendJsonString(out, shown);
}

void AppendItem(std::string& out, const ConfigEntry& entry, const std::string& item) {
  int64_t integer = 0;
  double number = 0;
  if (entry.type == Type::kBool && (item == "true" || item == "false")) {
    out += item;
  } else if (entry.type == Type::kInteger && absl::SimpleAtoi(item, &integer)) {
    backends::AppendJsonInteger(out, integer);
  } else if (entry.type == Type::kNumber && absl::SimpleAtod(item, &number)) {
    backends::AppendJsonNumber(out, number);
  } else {
    AppendString(out, item);
  }
}

void AppendValue(std::string& out, const ConfigEntry& entry) {
  if (entry.map) {
    out += '{';
    for (size_t i = 0; i < entry.items.size(); ++i) {
      const auto [name, value] = SplitEntry(entry.items[i]);
      if (i > 0) out += ',';
      AppendString(out, name);
      out += ':';
      AppendString(out, value);
    }
    out += '}';
    return;
  }
  if (!entry.list) {
    AppendItem(out, entry, entry.items.empty() ? "" : entry.items.front());
    return;
  }
  out += '[';
  for (size_t i = 0; i < entry.items.size(); ++i) {
    if (i > 0) out += ',';
    AppendItem(out, entry, entry.items[i]);
  }
  out += ']';
}

void AppendField(std::string& out, std::string_view name) {
  out += ',';
  backends::AppendJsonString(out, name);
  out += ':';
}

std::string RenderJson(const std::vector<ConfigEntry>& entries, std::string_view config_file) {
  std::string out = "{\"config_file\":";
  AppendString(out, config_file);
  out += ",\"keys\":{";
  for (size_t i = 0; i < entries.size(); ++i) {
    const ConfigEntry& entry = entries[i];
    if (i > 0) out += ',';
    AppendString(out, entry.key);
    out += ":{\"value\":";
    AppendValue(out, entry);
    if (entry.masked) out += ",\"masked\":true";
    AppendField(out, "origin");
    AppendString(out, entry.origin.ToString());
    AppendField(out, "source");
    AppendString(out, SourceName(entry.origin.source));
    switch (entry.origin.source) {
      case ConfigOrigin::Source::kDefault:
        break;
      case ConfigOrigin::Source::kFile:
        AppendField(out, "file");
        AppendString(out, entry.origin.name);
        if (entry.origin.line > 0) {
          AppendField(out, "line");
          backends::AppendJsonInteger(out, entry.origin.line);
        }
        break;
      case ConfigOrigin::Source::kFlag:
        AppendField(out, "flag");
        AppendString(out, absl::StrCat("--", entry.origin.name));
        break;
      case ConfigOrigin::Source::kEnvironment:
        AppendField(out, "variable");
        AppendString(out, entry.origin.name);
        break;
    }
    out += '}';
  }
  out += "}}\n";
  return out;
}

}  // namespace

backends::ConfigPage RenderConfigPage(const Config& config, const ConfigOrigins& origins,
                                      std::string_view config_file) {
  const std::vector<ConfigEntry> entries = DescribeConfig(config, origins);
  return {RenderText(entries, config_file), RenderJson(entries, config_file)};
}

}  // namespace tallyd::server
