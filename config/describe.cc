// The configuration in force as GET /debug/config shows it: every key's value from the key
// table, the origin the YAML reader, the flags and ResolveConfig recorded for it, and secrets
// masked here, before anything leaves config/ (server/config_page.cc only renders).
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "config/config.h"
#include "config/keys.h"

namespace tallyd {
namespace {

using config_internal::Key;
using config_internal::Keys;

constexpr absl::string_view kStars = "***************";

ConfigEntry::Type TypeOf(const Key& key) {
  if (key.is_bool) return ConfigEntry::Type::kBool;
  if (key.kind == Int::kName) return ConfigEntry::Type::kInteger;
  if (key.kind == Number::kName) return ConfigEntry::Type::kNumber;
  return key.quoted ? ConfigEntry::Type::kString : ConfigEntry::Type::kWord;
}

// "https://user:secret@host/x" -> "https://user:***...@host/x": a password may ride in a URL
// (remote write's `url`, a proxy in Datadog's). Other text is returned as is.
bool MaskUrlPassword(std::string& text) {
  const size_t scheme = text.find("://");
  if (scheme == std::string::npos) return false;
  const size_t start = scheme + 3;
  const size_t end = text.find_first_of("/?#", start);
  const size_t at = text.rfind('@', end == std::string::npos ? std::string::npos : end - 1);
  if (at == std::string::npos || at < start) return false;
  const size_t colon = text.find(':', start);
  if (colon == std::string::npos || colon > at) return false;  // a user without a password
  text = absl::StrCat(text.substr(0, colon + 1), MaskSecret(text.substr(colon + 1, at - colon - 1)),
                      text.substr(at));
  return true;
}

bool InKey(const Key& key, absl::string_view path) {
  return path == key.path || absl::StartsWith(path, absl::StrCat(key.path, "["));
}

}  // namespace

std::string MaskSecret(absl::string_view secret) {
  if (secret.empty()) return "";
  if (secret.size() < 12) return std::string(kStars);
  // The last 4 characters, not bytes: a cut inside a UTF-8 sequence would not be text.
  size_t start = secret.size();
  for (int chars = 0; chars < 4 && start > 0; ++chars) {
    do {
      --start;
    } while (start > 0 && (static_cast<unsigned char>(secret[start]) & 0xC0) == 0x80);
  }
  return absl::StrCat(kStars, secret.substr(start));
}

std::vector<ConfigEntry> DescribeConfig(const Config& config, const ConfigOrigins& origins) {
  std::vector<ConfigEntry> entries;
  for (const Key& key : Keys()) {
    std::optional<std::vector<std::string>> items = key.get(config);
    if (!items.has_value()) continue;  // its backend is off: its `enabled` says so
    ConfigEntry& entry = entries.emplace_back();
    entry.key = key.path;
    entry.type = TypeOf(key);
    entry.list = key.list;
    entry.map = key.map;
    // Its own entry, never a parent's: a key that its section holds but does not name is a
    // default.
    entry.origin = origins.Of(key.path);
    entry.items = *std::move(items);
    for (std::string& item : entry.items) {
      if (key.secret && key.map) {  // a header's name stays readable, its value does not
        const size_t equals = item.find('=');
        item = absl::StrCat(item.substr(0, equals), "=",
                            MaskSecret(equals == std::string::npos ? "" : item.substr(equals + 1)));
        entry.masked = true;
      } else if (key.secret) {
        item = MaskSecret(item);
        entry.masked = true;
      } else if (key.quoted && MaskUrlPassword(item)) {
        entry.masked = true;
      }
    }
  }
  return entries;
}

ConfigOrigins OriginsInForce(const Config& in_force, const Config& fresh,
                             const ConfigOrigins& fresh_origins, const ConfigOrigins& running) {
  ConfigOrigins out;
  for (const Key& key : Keys()) {
    const ConfigOrigins& from = key.get(in_force) == key.get(fresh) ? fresh_origins : running;
    for (const auto& [path, origin] : from.where) {
      if (InKey(key, path)) out.where.emplace(path, origin);
    }
  }
  return out;
}

}  // namespace tallyd
