// JSON text pieces shared by the backends that write JSON (console, Datadog): string escaping
// and shortest round-trip numbers, appended to a std::string without locale or iostreams.
#ifndef TALLYD_BACKENDS_JSON_TEXT_H_
#define TALLYD_BACKENDS_JSON_TEXT_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace tallyd::backends {

// `text` as a quoted JSON string; control characters escaped, UTF-8 passed through as is.
void AppendJsonString(std::string& out, std::string_view text);
// Shortest form that reads back to the same double; NaN and infinities (which JSON cannot carry)
// become null.
void AppendJsonNumber(std::string& out, double value);
void AppendJsonInteger(std::string& out, int64_t value);

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_JSON_TEXT_H_
