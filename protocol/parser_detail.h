// protocol/parser_detail.h: the parser's two halves one by one, for the tests and the fuzz target
// that check they agree (ParseLine tries the common-shape fast path, then the general parser).
// Nothing on the hot path includes this.
#ifndef TALLYD_PROTOCOL_PARSER_DETAIL_H_
#define TALLYD_PROTOCOL_PARSER_DETAIL_H_

#include <string_view>

#include "protocol/parser.h"

namespace tallyd::protocol::detail {

// The fast path for the common metric shapes alone, after ParseLine's own checks (line length,
// events, service checks): false when the line is not one of them (*out is then meaningless),
// else *out as ParseLine would write it.
bool ParseCommonMetricLine(std::string_view line, const ParserOptions& options, MetricLine* out);
// ParseLine without the fast path: the general parser, the reference the fast path must equal.
ParsedLine ParseLineGeneral(std::string_view line, const ParserOptions& options);

}  // namespace tallyd::protocol::detail

#endif  // TALLYD_PROTOCOL_PARSER_DETAIL_H_
