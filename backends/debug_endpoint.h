// backends/debug_endpoint.h: the /debug/ pages of the Prometheus scrape port (issue 13).
//
// The Prometheus backend's civetweb callback hands every /debug/ request here with its report.
#ifndef TALLYD_BACKENDS_DEBUG_ENDPOINT_H_
#define TALLYD_BACKENDS_DEBUG_ENDPOINT_H_

#include "backends/series_report.h"

struct mg_connection;

namespace tallyd::backends {

// Answers GET /debug/series from `report` (a table; JSON with ?format=json; ?n=N names per
// ranking) and 404s other /debug/ paths; returns 0 (not handled) for any other path.
int AnswerDebugRequest(mg_connection* conn, const SeriesReport& report);

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_DEBUG_ENDPOINT_H_
