#include "backends/debug_endpoint.h"

#include <civetweb.h>

#include <charconv>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace tallyd::backends {
namespace {

// `extra`: more header lines, each ending in \r\n.
int Respond(mg_connection* conn, int status, std::string_view reason, std::string_view type,
            std::string_view body, const std::string& extra = "") {
  std::string head = absl::StrCat(
      "HTTP/1.1 ", status, " ", std::string(reason), "\r\nContent-Type: ", std::string(type),
      "\r\nContent-Length: ", body.size(), "\r\nCache-Control: no-store\r\n", extra, "\r\n");
  mg_write(conn, head.data(), head.size());
  mg_write(conn, body.data(), body.size());
  return status;
}

}  // namespace

int AnswerDebugRequest(mg_connection* conn, const SeriesReport& report,
                       const std::shared_ptr<const ConfigPage>& config) {
  const mg_request_info* info = mg_get_request_info(conn);
  if (info == nullptr || info->local_uri == nullptr) return 0;
  std::string_view path = info->local_uri;
  if (!path.starts_with("/debug/")) return 0;
  const bool json_asked =
      info->query_string != nullptr &&
      std::string_view(info->query_string).find("format=json") != std::string_view::npos;
  if (path == "/debug/config") {
    if (config == nullptr) {
      return Respond(conn, 404, "Not Found", "text/plain; charset=utf-8",
                     "no configuration page was set\n");
    }
    return json_asked ? Respond(conn, 200, "OK", "application/json", config->json)
                      : Respond(conn, 200, "OK", "text/plain; charset=utf-8", config->text);
  }
  if (path != "/debug/series") {
    return Respond(conn, 404, "Not Found", "text/plain; charset=utf-8",
                   "not found; try /debug/series, /debug/config (each also ?format=json)\n");
  }
  bool json = false;
  size_t top = report.top_names();
  if (info->query_string != nullptr) {
    for (absl::string_view p : absl::StrSplit(info->query_string, '&')) {
      std::string_view param(p.data(), p.size());
      if (param == "format=json") json = true;
      if (param.starts_with("n=")) {
        size_t n = 0;
        auto [ptr, ec] = std::from_chars(param.data() + 2, param.data() + param.size(), n);
        if (ec == std::errc() && ptr == param.data() + param.size()) top = n;
      }
    }
  }
  std::shared_ptr<const SeriesReportData> data = report.Latest();
  // `tallyd top --watch` redraws once per flush by default: it learns the interval here.
  std::string extra;
  if (data->interval_seconds > 0) {
    extra = absl::StrCat("X-Tallyd-Flush-Interval: ",
                         absl::FormatDuration(absl::Seconds(data->interval_seconds)), "\r\n");
  }
  if (json) {
    return Respond(conn, 200, "OK", "application/json", FormatSeriesReportJson(*data, top), extra);
  }
  return Respond(conn, 200, "OK", "text/plain; charset=utf-8", FormatSeriesReportTable(*data, top),
                 extra);
}

}  // namespace tallyd::backends
