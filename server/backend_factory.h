// Builds the backends the config turns on, each behind its own BackendRunner (SPEC 4), and tells
// which of them a new config leaves unchanged, so that a SIGHUP restarts only the others.
#ifndef TALLYD_SERVER_BACKEND_FACTORY_H_
#define TALLYD_SERVER_BACKEND_FACTORY_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "backends/backend.h"
#include "config/config.h"

namespace tallyd::server {

// The backends tallyd can run, in the order they start and report.
enum class BackendKind { kPrometheus, kConsole, kGraphite, kDatadog, kRemoteWrite };
inline constexpr BackendKind kBackendKinds[] = {BackendKind::kPrometheus, BackendKind::kConsole,
                                                BackendKind::kGraphite, BackendKind::kDatadog,
                                                BackendKind::kRemoteWrite};

// "prometheus", "console", "graphite", "datadog", "remote_write": the name the backend reports
// under.
std::string_view BackendName(BackendKind kind);

// Whether `config` turns `kind` on.
bool BackendEnabled(const Config& config, BackendKind kind);

// Whether `kind`, running as `running` set it up, would be built differently from `fresh`: on in
// one and off in the other, or any of the settings it is built from changed. Settings applied
// to a running backend in place (ApplyLiveSettings) do not count.
bool BackendSettingsChanged(const Config& running, const Config& fresh, BackendKind kind);

// Sets `to`'s settings for `kind` to `from`'s: the section, on or off.
void CopyBackendSettings(BackendKind kind, const Config& from, Config* to);

struct StartedBackend {
  BackendKind kind;
  std::unique_ptr<backends::BackendRunner> runner;
  std::string bound;  // what a listening backend bound ("prometheus 0.0.0.0:9102"); else ""
};

// Starts `kind`, which `config` turns on. An address that cannot be bound fails here, named.
absl::StatusOr<StartedBackend> StartBackend(const Config& config, BackendKind kind);

// Gives a running backend the settings it takes without a restart (Prometheus and remote write:
// series_ttl).
void ApplyLiveSettings(const Config& config, StartedBackend* backend);

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_BACKEND_FACTORY_H_
