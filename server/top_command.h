// server/top_command.h: `tallyd top`, what floods a running tallyd, read from its scrape port's
// GET /debug/series (backends/series_report.h) and printed as a table; `--watch` redraws it
// every flush interval, as top(1) does. Handled by main() before the server's own flags.
#ifndef TALLYD_SERVER_TOP_COMMAND_H_
#define TALLYD_SERVER_TOP_COMMAND_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace tallyd::server {

// `args` are the words after "top". Returns the exit status: 0, 1 when tallyd cannot be read,
// 2 for bad flags.
int RunTopCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_TOP_COMMAND_H_
