#include "server/log_level.h"

#include <glog/logging.h>

#include <atomic>

namespace tallyd::server {
namespace {

// The least severe message `level` shows. Debug shows INFO too, plus VLOG(1).
google::LogSeverity LeastShown(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
    case LogLevel::kInfo:
      return google::GLOG_INFO;
    case LogLevel::kWarning:
      return google::GLOG_WARNING;
    case LogLevel::kError:
      return google::GLOG_ERROR;
  }
  return google::GLOG_INFO;
}

}  // namespace

void ApplyLogLevel(LogLevel level) {
  // glog reads FLAGS_minloglevel and FLAGS_v (through each VLOG site's cached pointer to it)
  // with plain loads and no lock, from every thread that logs; setting them at run time while
  // other threads log is how glog expects them to be changed. Each is one aligned 4-byte int:
  // the atomic_ref stores keep our writes whole, and a thread logging meanwhile sees either the
  // old or the new level, never anything else. (The loads on glog's side stay plain, so a
  // ThreadSanitizer build would still report the pair.)
  std::atomic_ref<int32_t>(FLAGS_minloglevel).store(LeastShown(level), std::memory_order_relaxed);
  std::atomic_ref<int32_t>(FLAGS_v).store(level == LogLevel::kDebug ? 1 : 0,
                                          std::memory_order_relaxed);
}

void ChangeLogLevel(LogLevel before, LogLevel after) {
  if (before == after) return;
  // LogLevel runs from the most verbose (debug) to the least (error).
  const bool more_verbose = after < before;
  if (more_verbose) ApplyLogLevel(after);
  LOG_AT_LEVEL(LeastShown(more_verbose ? after : before))
      << "reload: log_level " << Name(before) << " -> " << Name(after);
  if (!more_verbose) ApplyLogLevel(after);
}

}  // namespace tallyd::server
