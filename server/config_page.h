// GET /debug/config (issue 13): the configuration in force, each key with its value and where
// it came from (default, file:line, flag, environment), as text and as JSON. Rendered here from
// config/'s DescribeConfig, which has already masked the secrets, for the Prometheus backend to
// serve; the server renders it at start-up and after each SIGHUP reload.
#ifndef TALLYD_SERVER_CONFIG_PAGE_H_
#define TALLYD_SERVER_CONFIG_PAGE_H_

#include <string_view>

#include "backends/debug_endpoint.h"
#include "config/config.h"

namespace tallyd::server {

// `config_file`: the --config file, "" when tallyd runs on the defaults and flags.
//
// Text: a header, then one line per key in table order, `key: value  # origin`, origins
// aligned. JSON: {"config_file": "...", "keys": {"<key>": {"value": ..., "origin": "...",
// "source": "default|file|flag|env", ...}}} with the file and line, the flag or the variable
// beside, `"masked": true` on a masked value; booleans and numbers are JSON's, durations,
// sizes and names strings, lists arrays, maps objects.
backends::ConfigPage RenderConfigPage(const Config& config, const ConfigOrigins& origins,
                                      std::string_view config_file);

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_CONFIG_PAGE_H_
