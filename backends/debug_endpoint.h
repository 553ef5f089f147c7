// backends/debug_endpoint.h: the /debug/ pages of the Prometheus scrape port (issue 13).
//
// The Prometheus backend's civetweb callback hands every /debug/ request here with its report.
#ifndef TALLYD_BACKENDS_DEBUG_ENDPOINT_H_
#define TALLYD_BACKENDS_DEBUG_ENDPOINT_H_

#include <memory>
#include <string>

#include "backends/series_report.h"

struct mg_connection;

namespace tallyd::backends {

// GET /debug/config: the running configuration with each value's origin, rendered by server/
// (backends/ cannot read config/) at start-up and after each SIGHUP reload, secrets masked.
struct ConfigPage {
  std::string text;  // one line per key: `key: value  # file.yaml:12` (or default, flag --k)
  std::string json;  // the same, for ?format=json
};

// Answers GET /debug/series from `report` (a table; JSON with ?format=json; ?n=N names per
// ranking), GET /debug/config from `config` (404 while none was set) and 404s other /debug/
// paths; returns 0 (not handled) for any other path.
int AnswerDebugRequest(mg_connection* conn, const SeriesReport& report,
                       const std::shared_ptr<const ConfigPage>& config);

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_DEBUG_ENDPOINT_H_
