// Resolution of the defaults that depend on the host (listen addresses, Datadog's), validation
// (each key's check from the table, then the cross-key rules in CheckRules) and what changed
// between two configs.
#include "config/config.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/keys.h"

namespace tallyd {
namespace {

using config_internal::Key;
using config_internal::Keys;

// Every problem, each prefixed with where the value came from.
struct Problems {
  const ConfigOrigins* origins;
  std::vector<std::string> errors;

  void Add(absl::string_view path, absl::string_view message) {
    const std::string origin = origins != nullptr ? origins->Find(path) : "";
    errors.push_back(absl::StrCat(origin, origin.empty() ? "" : ": ", path, ": ", message));
  }

  template <typename T>
  void Unique(absl::string_view path, const std::vector<T>& values) {
    for (size_t i = 0; i < values.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (values[i] == values[j]) {
          Add(absl::StrCat(path, "[", i, "]"), absl::StrCat("repeats item ", j));
          break;
        }
      }
    }
  }
};

// The rules that involve more than one value: the rest is in each key's check.
void CheckRules(const Config& config, Problems& problems) {
  const ListenConfig& listen = config.listen;
  if (listen.udp.empty() && listen.tcp.empty() && listen.unix.empty()) {
    problems.Add("listen", "no listener: udp, tcp and unix are all empty");
  }
  problems.Unique("aggregation.percentiles", config.aggregation.percentiles);
  if (const auto& prometheus = config.prometheus) {
    problems.Unique("backends.prometheus.quantiles", prometheus->quantiles);
    if (prometheus->buckets.empty()) {
      problems.Add("backends.prometheus.buckets", "must not be empty");
    }
    for (size_t i = 1; i < prometheus->buckets.size(); ++i) {
      if (!(prometheus->buckets[i] > prometheus->buckets[i - 1])) {
        problems.Add(absl::StrCat("backends.prometheus.buckets[", i, "]"),
                     absl::StrCat("must be greater than the bucket before it, got ",
                                  FormatNumber(prometheus->buckets[i])));
      }
    }
  }
  if (const auto& datadog = config.datadog) {
    if (datadog->url.empty() && datadog->site.empty()) {
      problems.Add("backends.datadog.site", "must not be empty when url is not set");
    }
    const std::string url = datadog->url.empty() ? "https://api." + datadog->site : datadog->url;
    if (!absl::StartsWith(url, "https://") && !absl::StartsWith(url, "http://")) {
      problems.Add(datadog->url.empty() ? "backends.datadog.site" : "backends.datadog.url",
                   absl::StrCat("must give an http:// or https:// URL, got ", Quote(url)));
    }
    if (datadog->api_key.empty()) {
      problems.Add("backends.datadog.api_key", "is empty: set it, or the DD_API_KEY variable");
    }
    problems.Unique("backends.datadog.datadog_percentiles", datadog->datadog_percentiles);
    problems.Unique("backends.datadog.histogram_aggregates", datadog->histogram_aggregates);
  }
  if (const auto& remote = config.remote_write) {
    if (!absl::StartsWith(remote->url, "https://") && !absl::StartsWith(remote->url, "http://")) {
      problems.Add("backends.remote_write.url",
                   absl::StrCat("must give an http:// or https:// URL, got ", Quote(remote->url)));
    }
    problems.Unique("backends.remote_write.quantiles", remote->quantiles);
    if (remote->buckets.empty()) problems.Add("backends.remote_write.buckets", "must not be empty");
    for (size_t i = 1; i < remote->buckets.size(); ++i) {
      if (!(remote->buckets[i] > remote->buckets[i - 1])) {
        problems.Add(absl::StrCat("backends.remote_write.buckets[", i, "]"),
                     absl::StrCat("must be greater than the bucket before it, got ",
                                  FormatNumber(remote->buckets[i])));
      }
    }
    if (!remote->password.empty() && remote->username.empty()) {
      problems.Add("backends.remote_write.password", "is set without a username");
    }
    if (!remote->username.empty() && !remote->bearer_token.empty()) {
      problems.Add("backends.remote_write.bearer_token",
                   "and username are both set: use basic auth or a bearer token, not both");
    }
    for (const char* map : {"external_labels", "headers"}) {
      const std::vector<std::string>& entries =
          std::string_view(map) == "headers" ? remote->headers : remote->external_labels;
      std::vector<std::string> names;
      for (const std::string& entry : entries) {
        names.push_back(absl::AsciiStrToLower(entry.substr(0, entry.find('='))));
      }
      problems.Unique(absl::StrCat("backends.remote_write.", map), names);
    }
  }
}

}  // namespace

ConfigOrigin ConfigOrigin::File(std::string file, int line) {
  return {Source::kFile, std::move(file), line};
}
ConfigOrigin ConfigOrigin::Flag(std::string flag) { return {Source::kFlag, std::move(flag), 0}; }
ConfigOrigin ConfigOrigin::Environment(std::string variable) {
  return {Source::kEnvironment, std::move(variable), 0};
}

std::string ConfigOrigin::Where() const {
  switch (source) {
    case Source::kDefault:
      return "";
    case Source::kFile:
      return line > 0 ? absl::StrCat(name, ":", line) : name;
    case Source::kFlag:
      return absl::StrCat("--", name);
    case Source::kEnvironment:
      return absl::StrCat("$", name);
  }
  return "";
}

std::string ConfigOrigin::ToString() const {
  switch (source) {
    case Source::kDefault:
      return "default";
    case Source::kFile:
      return Where();
    case Source::kFlag:
      return absl::StrCat("flag --", name);
    case Source::kEnvironment:
      return absl::StrCat("env $", name);
  }
  return "";
}

ConfigOrigin ConfigOrigins::Of(absl::string_view path) const {
  auto it = where.find(path);
  return it == where.end() ? ConfigOrigin{} : it->second;
}

std::string ConfigOrigins::Find(absl::string_view path) const {
  while (!path.empty()) {
    if (auto it = where.find(path); it != where.end()) return it->second.Where();
    const size_t cut = path.back() == ']' ? path.rfind('[') : path.rfind('.');
    path = path.substr(0, cut == absl::string_view::npos ? 0 : cut);
  }
  return "";
}

bool HasIpv6Loopback() {
  const int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 address = {};
  address.sin6_family = AF_INET6;
  address.sin6_addr = in6addr_loopback;
  const bool bound = bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return bound;
}

void ResolveListenAddresses(ListenConfig& listen, bool has_ipv6_loopback) {
  if (!has_ipv6_loopback && listen.udp == ListenConfig{}.udp) {
    std::erase_if(listen.udp, [](const std::string& a) { return absl::StartsWith(a, "[::1]:"); });
  }
  if (!listen.non_local_traffic) return;
  for (std::vector<std::string>* addresses : {&listen.udp, &listen.tcp}) {
    std::vector<std::string> opened;
    for (std::string address : *addresses) {
      if (absl::StatusOr<HostPort> parsed = ParseHostPort(address); parsed.ok()) {
        if (parsed->host == "127.0.0.1" || parsed->host == "localhost") {
          address = absl::StrCat("0.0.0.0:", parsed->port);
        } else if (parsed->host == "::1") {
          address = absl::StrCat("[::]:", parsed->port);
        }
      }
      if (std::find(opened.begin(), opened.end(), address) == opened.end()) {
        opened.push_back(std::move(address));
      }
    }
    *addresses = std::move(opened);
  }
}

namespace {

void ResolveRemoteWrite(RemoteWriteConfig& remote, ConfigOrigins& origins) {
  const bool has_host =
      std::any_of(remote.external_labels.begin(), remote.external_labels.end(),
                  [](const std::string& entry) { return absl::StartsWith(entry, "host="); });
  if (!has_host) {
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) == 0) {
      remote.external_labels.push_back(absl::StrCat("host=", name));
    }
  }
  if (remote.bearer_token.empty() && remote.username.empty()) {
    if (const char* token = std::getenv("TALLYD_REMOTE_WRITE_BEARER_TOKEN")) {
      remote.bearer_token = token;
      origins.where["backends.remote_write.bearer_token"] =
          ConfigOrigin::Environment("TALLYD_REMOTE_WRITE_BEARER_TOKEN");
    }
  }
}

}  // namespace

void ResolveConfig(Config& config, ConfigOrigins* out_origins) {
  ConfigOrigins local_origins;
  ConfigOrigins& origins = out_origins != nullptr ? *out_origins : local_origins;
  ResolveListenAddresses(config.listen, HasIpv6Loopback());
  if (config.remote_write.has_value()) ResolveRemoteWrite(*config.remote_write, origins);
  if (!config.datadog.has_value()) return;
  DatadogConfig& datadog = *config.datadog;
  if (datadog.url.empty() && !datadog.site.empty()) datadog.url = "https://api." + datadog.site;
  if (datadog.api_key.empty()) {
    if (const char* key = std::getenv("DD_API_KEY")) {
      datadog.api_key = key;
      origins.where["backends.datadog.api_key"] = ConfigOrigin::Environment("DD_API_KEY");
    }
  }
  if (datadog.host.empty()) {
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) == 0) datadog.host = name;
  }
}

absl::Status ValidateConfig(const Config& config, const ConfigOrigins* origins) {
  Problems problems{origins, {}};
  for (const Key& key : Keys()) {
    for (const auto& [item, message] : key.problems(key, config)) {
      problems.Add(key.ItemPath(item), message);
    }
  }
  CheckRules(config, problems);
  if (problems.errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(problems.errors, "\n"));
}

std::vector<std::string> ChangedKeys(const Config& a, const Config& b) {
  std::vector<std::string> changed;
  for (const Key& key : Keys()) {
    if (key.get(a) != key.get(b)) changed.push_back(key.path);
  }
  return changed;
}

std::vector<std::string> KeysNeedingRestart(const Config& running, const Config& fresh) {
  std::vector<std::string> keys;
  for (const Key& key : Keys()) {
    if (key.reload == config_internal::Reload::kRestart && key.get(running) != key.get(fresh)) {
      keys.push_back(key.path);
    }
  }
  return keys;
}

int EffectiveWorkers(const ListenConfig& listen) {
  if (listen.workers > 0) return listen.workers;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace tallyd
