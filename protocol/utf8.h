// protocol/utf8.h: strict UTF-8 validation (SPEC 2: names, tags, event and service-check text
// must be valid UTF-8, so no output becomes unparsable because of what a client sent).
//
// The parser checks event and service-check lines with it; the aggregator checks a metric line's
// name and tags once, when the line would create a series (known series never pay).
#ifndef TALLYD_PROTOCOL_UTF8_H_
#define TALLYD_PROTOCOL_UTF8_H_

#include <string_view>

namespace tallyd::protocol {

// True when `s` is well-formed UTF-8 as Unicode defines it (Table 3-7): no overlong encodings,
// no surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated or stray continuation
// bytes. NUL and other control characters are valid (they are code points).
bool IsValidUtf8(std::string_view s);

}  // namespace tallyd::protocol

#endif  // TALLYD_PROTOCOL_UTF8_H_
