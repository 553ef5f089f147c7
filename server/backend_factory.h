// Builds the backends the config turns on, each behind its own BackendRunner (SPEC 4).
#ifndef TALLYD_SERVER_BACKEND_FACTORY_H_
#define TALLYD_SERVER_BACKEND_FACTORY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/backend.h"
#include "server/config.h"

namespace tallyd::server {

// Starts every configured backend. Listening backends (Prometheus) append what they bound to
// `bound` ("prometheus 0.0.0.0:9102").
absl::StatusOr<std::vector<std::unique_ptr<backends::BackendRunner>>> StartBackends(
    const Config& config, std::vector<std::string>* bound);

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_BACKEND_FACTORY_H_
