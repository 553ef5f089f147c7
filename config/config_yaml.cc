// YAML in and out: ParseConfigYaml walks the file's maps against the key table
// (config_keys.cc). Strict: an unknown key, a repeated key or a wrong type is an error naming
// file, line and key path; all such errors are reported together. FormatConfig writes YAML back.
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "config/config.h"
#include "config/config_keys.h"
#include "yaml-cpp/yaml.h"

namespace tallyd {
namespace {

using config_internal::ConfigKey;
using config_internal::ConfigKeys;
using config_internal::FindKey;
using config_internal::FormatNumber;
using config_internal::FormatSize;
using config_internal::IsSection;
using config_internal::KeyKind;
using config_internal::Name;

absl::string_view KindOf(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "a single value";
  }
}

// The keys allowed directly under `prefix`, for the unknown-key message.
std::string KeysUnder(absl::string_view prefix) {
  std::set<std::string> names;
  for (const ConfigKey& key : ConfigKeys()) {
    absl::string_view path = key.path;
    if (!prefix.empty()) {
      if (path.size() <= prefix.size() || path.substr(0, prefix.size()) != prefix ||
          path[prefix.size()] != '.') {
        continue;
      }
      path.remove_prefix(prefix.size() + 1);
    }
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
  std::string Where(const YAML::Mark& mark) const {
    return mark.is_null() ? filename_ : absl::StrCat(filename_, ":", mark.line + 1);
  }

  void Fail(const YAML::Mark& mark, absl::string_view path, absl::string_view message) {
    errors_.push_back(path.empty() ? absl::StrCat(Where(mark), ": ", message)
                                   : absl::StrCat(Where(mark), ": ", path, ": ", message));
  }

  void ReadSection(const YAML::Node& map, const std::string& prefix) {
    std::set<std::string> seen;
    // A backend's `enabled` is applied after its other keys, which would turn it back on.
    std::optional<std::pair<const ConfigKey*, YAML::Node>> enabled;
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
      origins_->where[path] = Where(key.Mark());
      if (IsSection(path)) {
        if (path == "backends") config_internal::ClearBackends(*config_);
        config_internal::SetBackend(*config_, path, true);  // present means on
        if (value.IsNull()) continue;
        if (!value.IsMap()) {
          Fail(MarkOf(value, key), path,
               absl::StrCat("must be a map of keys (", KeysUnder(path), "), got ", KindOf(value)));
          continue;
        }
        ReadSection(value, path);
        continue;
      }
      const ConfigKey* known = FindKey(path);
      if (known == nullptr) {
        Fail(key.Mark(), path, absl::StrCat("unknown key; valid here: ", KeysUnder(prefix)));
        continue;
      }
      if (name == "enabled") {
        enabled.emplace(known, value);
        continue;
      }
      ReadLeaf(*known, key, value);
    }
    if (enabled.has_value()) {
      ReadLeaf(*enabled->first, enabled->second, enabled->second);
    }
  }

  // An empty value's mark is where the parser noticed it, often a later line: use the key's.
  static YAML::Mark MarkOf(const YAML::Node& value, const YAML::Node& key) {
    return value.IsNull() || value.Mark().is_null() ? key.Mark() : value.Mark();
  }

  // The scalar's text with ${VAR} expanded, or nullopt after reporting why not.
  std::optional<std::string> Text(const YAML::Node& node, const YAML::Mark& mark,
                                  absl::string_view path) {
    auto expanded = ExpandEnv(node.Scalar());
    if (!expanded.ok()) {
      Fail(mark, path, expanded.status().message());
      return std::nullopt;
    }
    return *expanded;
  }

  void ReadLeaf(const ConfigKey& key, const YAML::Node& key_node, const YAML::Node& value) {
    const std::string path(key.path);
    const YAML::Mark mark = MarkOf(value, key_node);
    if (key.kind != KeyKind::kList) {
      if (!value.IsScalar()) {
        Fail(mark, path, absl::StrCat("must be a single value, got ", KindOf(value)));
        return;
      }
      std::optional<std::string> text = Text(value, mark, path);
      if (!text.has_value()) return;
      if (absl::Status status = key.set_scalar(*config_, *text); !status.ok()) {
        Fail(mark, path, status.message());
      }
      return;
    }
    // A list; `key:` with nothing after it is an empty list.
    std::vector<std::string> items;
    std::vector<YAML::Mark> marks;
    if (!value.IsNull()) {
      if (!value.IsSequence()) {
        Fail(mark, path, absl::StrCat("must be a list like [a, b], got ", KindOf(value)));
        return;
      }
      for (size_t i = 0; i < value.size(); ++i) {
        const YAML::Node item = value[i];
        const std::string item_path = absl::StrCat(path, "[", i, "]");
        const YAML::Mark item_mark = item.Mark().is_null() ? mark : item.Mark();
        if (!item.IsScalar()) {
          Fail(item_mark, item_path, absl::StrCat("must be a single value, got ", KindOf(item)));
          return;
        }
        std::optional<std::string> text = Text(item, item_mark, item_path);
        if (!text.has_value()) return;
        origins_->where[item_path] = Where(item_mark);
        items.push_back(*std::move(text));
        marks.push_back(item_mark);
      }
    }
    size_t bad = 0;
    if (absl::Status status = key.set_list(*config_, items, &bad); !status.ok()) {
      Fail(bad < marks.size() ? marks[bad] : mark, absl::StrCat(path, "[", bad, "]"),
           status.message());
    }
  }

  std::string filename_;
  Config* config_;
  ConfigOrigins* origins_;
  std::vector<std::string> errors_;
};

}  // namespace

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
    ResolveConfig(config);
    if (absl::Status status = ValidateConfig(config, origins); !status.ok()) return status;
  }
  return config;
}

// --- FormatConfig ------------------------------------------------------------------------------

namespace {

std::string Duration(absl::Duration d) { return absl::FormatDuration(d); }

template <typename T>
void EmitList(YAML::Emitter& out, const char* key, const std::vector<T>& values) {
  out << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const T& value : values) {
    if constexpr (std::is_same_v<T, double>) {
      out << FormatNumber(value);
    } else if constexpr (std::is_same_v<T, std::string>) {
      out << YAML::DoubleQuoted << value;
    } else {
      out << std::string(Name(value));
    }
  }
  out << YAML::EndSeq;
}

void EmitString(YAML::Emitter& out, const char* key, const std::string& value) {
  out << YAML::Key << key << YAML::Value << YAML::DoubleQuoted << value;
}

template <typename T>
void Emit(YAML::Emitter& out, const char* key, const T& value) {
  out << YAML::Key << key << YAML::Value << value;
}

}  // namespace

std::string FormatConfig(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  Emit(out, "flush_interval", Duration(config.flush_interval));
  Emit(out, "shutdown_timeout", Duration(config.shutdown_timeout));
  Emit(out, "log_level", std::string(Name(config.log_level)));

  const ListenConfig& listen = config.listen;
  out << YAML::Key << "listen" << YAML::Value << YAML::BeginMap;
  EmitList(out, "udp", listen.udp);
  EmitList(out, "tcp", listen.tcp);
  EmitList(out, "unix", listen.unix_sockets);
  Emit(out, "workers", listen.workers);
  Emit(out, "receive_buffer", FormatSize(listen.receive_buffer));
  Emit(out, "max_packet_size", FormatSize(listen.max_packet_size));
  Emit(out, "tcp_max_connections", listen.tcp_max_connections);
  Emit(out, "tcp_idle_timeout", Duration(listen.tcp_idle_timeout));
  Emit(out, "max_line_length", FormatSize(listen.max_line_length));
  Emit(out, "max_tags", listen.max_tags);
  char mode[16];
  std::snprintf(mode, sizeof(mode), "0%o", listen.unix_socket_mode);
  Emit(out, "unix_socket_mode", std::string(mode));
  out << YAML::EndMap;

  const AggregationConfig& aggregation = config.aggregation;
  out << YAML::Key << "aggregation" << YAML::Value << YAML::BeginMap;
  EmitList(out, "percentiles", aggregation.percentiles);
  Emit(out, "exact_samples", aggregation.exact_samples);
  Emit(out, "sketch_accuracy", FormatNumber(aggregation.sketch_accuracy));
  Emit(out, "exact_set_size", aggregation.exact_set_size);
  Emit(out, "gauge_mode", std::string(Name(aggregation.gauge_mode)));
  Emit(out, "series_ttl", Duration(aggregation.series_ttl));
  Emit(out, "max_series", aggregation.max_series);
  Emit(out, "max_timestamped_points", aggregation.max_timestamped_points);
  Emit(out, "max_events", aggregation.max_events);
  EmitList(out, "global_tags", aggregation.global_tags);
  out << YAML::EndMap;

  // A `backends:` map lists exactly the backends that are on, so it is always written.
  out << YAML::Key << "backends" << YAML::Value << YAML::BeginMap;
  if (const auto& p = config.prometheus) {
    out << YAML::Key << "prometheus" << YAML::Value << YAML::BeginMap;
    EmitString(out, "listen", p->listen);
    Emit(out, "timer_type", std::string(Name(p->timer_type)));
    EmitList(out, "quantiles", p->quantiles);
    EmitList(out, "buckets", p->buckets);
    Emit(out, "max_buffered_flushes", p->max_buffered_flushes);
    out << YAML::EndMap;
  }
  if (const auto& g = config.graphite) {
    out << YAML::Key << "graphite" << YAML::Value << YAML::BeginMap;
    EmitString(out, "address", g->address);
    Emit(out, "legacy_namespace", g->legacy_namespace);
    Emit(out, "tags", std::string(Name(g->tags)));
    EmitString(out, "global_prefix", g->global_prefix);
    EmitString(out, "prefix_counter", g->prefix_counter);
    EmitString(out, "prefix_timer", g->prefix_timer);
    EmitString(out, "prefix_gauge", g->prefix_gauge);
    EmitString(out, "prefix_set", g->prefix_set);
    EmitString(out, "global_suffix", g->global_suffix);
    Emit(out, "max_buffered_flushes", g->max_buffered_flushes);
    Emit(out, "connect_timeout", Duration(g->connect_timeout));
    Emit(out, "write_timeout", Duration(g->write_timeout));
    Emit(out, "self_metrics", g->self_metrics);
    out << YAML::EndMap;
  }
  if (const auto& d = config.datadog) {
    out << YAML::Key << "datadog" << YAML::Value << YAML::BeginMap;
    if (!d->url.empty()) EmitString(out, "url", d->url);
    EmitString(out, "site", d->site);
    if (!d->api_key.empty()) EmitString(out, "api_key", "<redacted>");
    Emit(out, "compression", std::string(Name(d->compression)));
    EmitString(out, "host", d->host);
    EmitList(out, "datadog_percentiles", d->datadog_percentiles);
    EmitList(out, "histogram_aggregates", d->histogram_aggregates);
    Emit(out, "timeout", Duration(d->timeout));
    Emit(out, "max_buffered_flushes", d->max_buffered_flushes);
    Emit(out, "max_distribution_values", d->max_distribution_values);
    Emit(out, "self_metrics", d->self_metrics);
    out << YAML::EndMap;
  }
  if (const auto& c = config.console) {
    out << YAML::Key << "console" << YAML::Value << YAML::BeginMap;
    Emit(out, "self_metrics", c->self_metrics);
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace tallyd
