// backends/debug_endpoint.h: the /debug/ pages of the Prometheus scrape port (issue 13).
//
// civetweb's begin_request callback is a plain function with no user pointer, and prometheus-cpp
// hides its CivetServer, so the pages find what to show by the port the request came in on:
// each Prometheus backend registers its report under its listening ports while it runs.
#ifndef TALLYD_BACKENDS_DEBUG_ENDPOINT_H_
#define TALLYD_BACKENDS_DEBUG_ENDPOINT_H_

#include <memory>
#include <vector>

#include "backends/series_report.h"

struct mg_connection;

namespace tallyd::backends {

// From then on, /debug/series on these ports shows `report`.
void ServeDebugPages(const std::vector<int>& ports, std::shared_ptr<const SeriesReport> report);
// Undoes ServeDebugPages for the ports still showing `report`.
void StopServingDebugPages(const std::vector<int>& ports, const SeriesReport* report);

// A civetweb begin_request handler: answers GET /debug/series (a table; JSON with
// ?format=json; ?n=N names per ranking) and 404s other /debug/ paths; returns 0 (not handled)
// for any other path.
int AnswerDebugRequest(mg_connection* conn);

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_DEBUG_ENDPOINT_H_
