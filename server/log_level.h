// `log_level` (SPEC 1) applied to glog: main() sets it at start-up, the server changes it live on
// SIGHUP. Main thread only; other threads may log meanwhile (see log_level.cc).
#ifndef TALLYD_SERVER_LOG_LEVEL_H_
#define TALLYD_SERVER_LOG_LEVEL_H_

#include "config/config.h"

namespace tallyd::server {

// Sets glog's minimum severity and VLOG verbosity for `level` (debug: INFO and VLOG(1)).
void ApplyLogLevel(LogLevel level);

// Goes from `before` to `after` and logs the change, so that the line shows under whichever of
// the two levels is the more verbose. Does nothing when they are equal.
void ChangeLogLevel(LogLevel before, LogLevel after);

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_LOG_LEVEL_H_
