// The DogStatsD / Etsy StatsD line parser. One pass over the line, no allocation, no locale:
// std::from_chars does the number conversions and memchr finds the separators.
#include "protocol/parser.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <system_error>

namespace tallyd::protocol {
namespace {

// Position of `c` in `s` at or after `from`, or s.size() when absent. memchr instead of
// string_view::find so the compiler does not have to prove anything about npos.
inline size_t FindFrom(std::string_view s, size_t from, char c) {
  const void* hit = std::memchr(s.data() + from, c, s.size() - from);
  return hit == nullptr ? s.size() : static_cast<size_t>(static_cast<const char*>(hit) - s.data());
}

inline bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && std::memcmp(s.data(), prefix.data(), prefix.size()) == 0;
}

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A finite decimal float: optional '+' or '-', then a digit or '.' (which keeps from_chars away
// from "inf" / "nan"), and nothing after the number (which rules out hex, "1_0", spaces).
// Overflow ("1e999") is out of range and so rejected.
inline bool ParseDecimal(std::string_view s, double* value, bool* is_signed) {
  const char* p = s.data();
  const char* end = p + s.size();
  if (p == end) return false;
  bool plus = false;
  if (*p == '+') {
    plus = true;
    ++p;
  }
  const char* first = (p != end && *p == '-' && !plus) ? p + 1 : p;
  if (first == end || !(IsDigit(*first) || *first == '.')) return false;
  double v;
  auto [ptr, ec] = std::from_chars(p, end, v, std::chars_format::general);
  if (ec != std::errc() || ptr != end || !std::isfinite(v)) return false;
  *value = v;
  *is_signed = plus || first != p;
  return true;
}

// A positive decimal integer (digits only, no sign), as used by |T and d: timestamps.
inline bool ParsePositiveInt(std::string_view s, int64_t* out) {
  if (s.empty() || !IsDigit(s[0])) return false;
  int64_t v;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v <= 0) return false;
  *out = v;
  return true;
}

// A non-negative decimal integer (digits only), as used by the event header lengths.
inline bool ParseLength(std::string_view s, uint64_t* out) {
  if (s.empty() || !IsDigit(s[0])) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

inline bool ParseType(std::string_view t, MetricType* type) {
  if (t.size() == 1) {
    switch (t[0]) {
      case 'c':
        *type = MetricType::kCounter;
        return true;
      case 'g':
        *type = MetricType::kGauge;
        return true;
      case 'h':
        *type = MetricType::kHistogram;
        return true;
      case 'd':
        *type = MetricType::kDistribution;
        return true;
      case 's':
        *type = MetricType::kSet;
        return true;
      default:
        return false;
    }
  }
  if (t.size() == 2 && t[0] == 'm' && t[1] == 's') {
    *type = MetricType::kTimer;
    return true;
  }
  return false;
}

// Checks a raw tag list (after '#'): not empty, no empty tag, at most max_tags tags.
inline bool CheckTags(std::string_view tags, size_t max_tags, uint32_t* count,
                      RejectReason* reason) {
  if (tags.empty()) {
    *reason = RejectReason::kBadTags;
    return false;
  }
  size_t n = 0;
  size_t pos = 0;
  while (true) {
    size_t comma = FindFrom(tags, pos, ',');
    if (comma == pos) {  // ",a", "a,,b"
      *reason = RejectReason::kBadTags;
      return false;
    }
    if (++n > max_tags) {
      *reason = RejectReason::kTooManyTags;
      return false;
    }
    if (comma == tags.size()) break;
    pos = comma + 1;
    if (pos == tags.size()) {  // "a,"
      *reason = RejectReason::kBadTags;
      return false;
    }
  }
  *count = static_cast<uint32_t>(n);
  return true;
}

inline void CountUnknown(uint16_t* unknown) {
  if (*unknown != std::numeric_limits<uint16_t>::max()) ++*unknown;
}

// `line` is a whole metric line, not empty, no trailing '\r'.
void ParseMetric(std::string_view line, const ParserOptions& options, ParsedLine* result) {
  MetricLine& m = result->metric;
  result->kind = LineKind::kRejected;

  const size_t bar = FindFrom(line, 0, '|');
  const size_t colon = FindFrom(line.substr(0, bar), 0, ':');
  if (colon == bar) {
    result->reason = RejectReason::kMissingValue;
    return;
  }
  if (colon == 0) {
    result->reason = RejectReason::kEmptyName;
    return;
  }
  if (bar == line.size()) {
    result->reason = RejectReason::kMissingType;
    return;
  }
  const size_t type_end = FindFrom(line, bar + 1, '|');
  std::string_view type = line.substr(bar + 1, type_end - bar - 1);
  if (type.empty()) {
    result->reason = RejectReason::kMissingType;
    return;
  }
  if (!ParseType(type, &m.type)) {
    result->reason = RejectReason::kUnknownType;
    return;
  }

  m.name = line.substr(0, colon);
  m.values = line.substr(colon + 1, bar - colon - 1);
  const std::string_view values = m.values;
  if (m.type == MetricType::kSet) {
    if (values.empty()) {
      result->reason = RejectReason::kMissingValue;
      return;
    }
    m.value_count = 1;
  } else if (values.empty()) {
    if (m.type != MetricType::kCounter) {
      result->reason = RejectReason::kMissingValue;
      return;
    }
    m.value_count = 1;
    m.first_value = 1;
  } else {
    size_t sep = FindFrom(values, 0, ':');
    if (!ParseDecimal(values.substr(0, sep), &m.first_value, &m.value_signed)) {
      result->reason = RejectReason::kBadValue;
      return;
    }
    uint32_t count = 1;
    while (sep != values.size()) {
      const size_t start = sep + 1;
      sep = FindFrom(values, start, ':');
      double v;
      bool is_signed;
      if (!ParseDecimal(values.substr(start, sep - start), &v, &is_signed)) {
        result->reason = RejectReason::kBadValue;
        return;
      }
      ++count;
    }
    m.value_count = count;
  }

  // Optional fields, in any order.
  size_t pos = type_end;
  while (pos != line.size()) {
    const size_t start = pos + 1;
    pos = FindFrom(line, start, '|');
    std::string_view field = line.substr(start, pos - start);
    if (field.empty()) {
      CountUnknown(&m.unknown_fields);
      continue;
    }
    switch (field[0]) {
      case '@': {
        bool is_signed;
        double rate;
        if (!ParseDecimal(field.substr(1), &rate, &is_signed) || !(rate > 0 && rate <= 1)) {
          result->reason = RejectReason::kBadSampleRate;
          return;
        }
        m.sample_rate = rate;
        break;
      }
      case '#': {
        std::string_view tags = field.substr(1);
        if (!CheckTags(tags, options.max_tags, &m.tag_count, &result->reason)) return;
        m.tags = tags;
        break;
      }
      case 'T':
        if (!ParsePositiveInt(field.substr(1), &m.timestamp)) {
          result->reason = RejectReason::kBadTimestamp;
          return;
        }
        break;
      case 'c':
        if (field.size() >= 2 && field[1] == ':') {
          m.container_id = field.substr(2);
        } else if (StartsWith(field, "card:")) {
          m.cardinality = field.substr(5);
        } else {
          CountUnknown(&m.unknown_fields);
        }
        break;
      case 'e':
        if (field.size() >= 2 && field[1] == ':') {
          m.external_data = field.substr(2);
        } else {
          CountUnknown(&m.unknown_fields);
        }
        break;
      default:
        CountUnknown(&m.unknown_fields);
        break;
    }
  }
  result->kind = LineKind::kMetric;
}

// `line` starts with "_e{".
void ParseEvent(std::string_view line, const ParserOptions& options, ParsedLine* result) {
  Event& e = result->event;
  result->kind = LineKind::kRejected;
  result->reason = RejectReason::kBadEvent;

  const size_t comma = FindFrom(line, 3, ',');
  const size_t brace = FindFrom(line, 3, '}');
  if (comma >= brace || brace == line.size() || brace + 1 == line.size() ||
      line[brace + 1] != ':') {
    return;
  }
  uint64_t title_len;
  uint64_t text_len;
  if (!ParseLength(line.substr(3, comma - 3), &title_len) ||
      !ParseLength(line.substr(comma + 1, brace - comma - 1), &text_len) || title_len == 0) {
    return;
  }
  const std::string_view body = line.substr(brace + 2);
  // title '|' text, checked without overflow: title_len and text_len may be huge.
  if (title_len >= body.size() || body[title_len] != '|') return;
  const size_t text_start = static_cast<size_t>(title_len) + 1;
  if (text_len > body.size() - text_start) return;
  const size_t text_end = text_start + static_cast<size_t>(text_len);
  if (text_end != body.size() && body[text_end] != '|') return;
  e.title = body.substr(0, title_len);
  e.text = body.substr(text_start, text_len);

  size_t pos = text_end;
  while (pos != body.size()) {
    const size_t start = pos + 1;
    pos = FindFrom(body, start, '|');
    std::string_view field = body.substr(start, pos - start);
    if (!field.empty() && field[0] == '#') {
      std::string_view tags = field.substr(1);
      uint32_t count;
      if (!CheckTags(tags, options.max_tags, &count, &result->reason)) return;
      e.tags = tags;
      continue;
    }
    if (field.size() >= 2 && field[1] == ':') {
      std::string_view v = field.substr(2);
      switch (field[0]) {
        case 'd':
          if (!ParsePositiveInt(v, &e.timestamp)) return;
          continue;
        case 'h':
          e.hostname = v;
          continue;
        case 'k':
          e.aggregation_key = v;
          continue;
        case 'p':
          if (v != "normal" && v != "low") return;
          e.priority = v;
          continue;
        case 's':
          e.source_type = v;
          continue;
        case 't':
          if (v != "info" && v != "warning" && v != "error" && v != "success") return;
          e.alert_type = v;
          continue;
        default:
          break;
      }
    }
    CountUnknown(&e.unknown_fields);
  }
  result->kind = LineKind::kEvent;
}

// `line` starts with "_sc|".
void ParseServiceCheck(std::string_view line, const ParserOptions& options, ParsedLine* result) {
  ServiceCheck& sc = result->service_check;
  result->kind = LineKind::kRejected;
  result->reason = RejectReason::kBadServiceCheck;

  const size_t name_end = FindFrom(line, 4, '|');
  if (name_end == 4 || name_end == line.size()) return;
  const size_t status_end = FindFrom(line, name_end + 1, '|');
  if (status_end != name_end + 2) return;
  const char status = line[name_end + 1];
  if (status < '0' || status > '3') return;
  sc.name = line.substr(4, name_end - 4);
  sc.status = status - '0';

  size_t pos = status_end;
  while (pos != line.size()) {
    const size_t start = pos + 1;
    pos = FindFrom(line, start, '|');
    std::string_view field = line.substr(start, pos - start);
    if (!field.empty() && field[0] == '#') {
      std::string_view tags = field.substr(1);
      uint32_t count;
      if (!CheckTags(tags, options.max_tags, &count, &result->reason)) return;
      sc.tags = tags;
      continue;
    }
    if (field.size() >= 2 && field[1] == ':') {
      switch (field[0]) {
        case 'd':
          if (!ParsePositiveInt(field.substr(2), &sc.timestamp)) return;
          continue;
        case 'h':
          sc.hostname = field.substr(2);
          continue;
        case 'm':
          // The message is last by definition and may itself contain '|'.
          sc.message = line.substr(start + 2);
          pos = line.size();
          continue;
        default:
          break;
      }
    }
    CountUnknown(&sc.unknown_fields);
  }
  result->kind = LineKind::kServiceCheck;
}

}  // namespace

std::string_view MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kTimer:
      return "timer";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kDistribution:
      return "distribution";
    case MetricType::kSet:
      return "set";
  }
  return "unknown";
}

std::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kEmptyName:
      return "empty_name";
    case RejectReason::kMissingValue:
      return "missing_value";
    case RejectReason::kBadValue:
      return "bad_value";
    case RejectReason::kMissingType:
      return "missing_type";
    case RejectReason::kUnknownType:
      return "unknown_type";
    case RejectReason::kBadSampleRate:
      return "bad_sample_rate";
    case RejectReason::kBadTags:
      return "bad_tags";
    case RejectReason::kBadTimestamp:
      return "bad_timestamp";
    case RejectReason::kLineTooLong:
      return "line_too_long";
    case RejectReason::kTooManyTags:
      return "too_many_tags";
    case RejectReason::kBadEvent:
      return "bad_event";
    case RejectReason::kBadServiceCheck:
      return "bad_service_check";
  }
  return "unknown";
}

ParsedLine ParseLine(std::string_view line, const ParserOptions& options) {
  ParsedLine result;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > options.max_line_length) {
    result.reason = RejectReason::kLineTooLong;
    return result;
  }
  if (!line.empty() && line[0] == '_') {
    if (StartsWith(line, "_e{")) {
      ParseEvent(line, options, &result);
      return result;
    }
    if (StartsWith(line, "_sc|")) {
      ParseServiceCheck(line, options, &result);
      return result;
    }
  }
  ParseMetric(line, options, &result);
  return result;
}

bool ValueCursor::NextRaw(std::string_view* raw) {
  if (done_) return false;
  size_t colon = opaque_ ? std::string_view::npos : rest_.find(':');
  if (colon == std::string_view::npos) {
    *raw = rest_;
    done_ = true;
  } else {
    *raw = rest_.substr(0, colon);
    rest_.remove_prefix(colon + 1);
  }
  return true;
}

bool ValueCursor::Next(double* value, bool* is_signed) {
  if (opaque_) return false;
  std::string_view raw;
  if (!NextRaw(&raw)) return false;
  bool sign = false;
  if (raw.empty()) {
    *value = 1;  // "name:|c"
  } else if (!ParseDecimal(raw, value, &sign)) {
    // Only reachable for a MetricLine that did not come from ParseLine.
    done_ = true;
    return false;
  }
  if (is_signed != nullptr) *is_signed = sign;
  return true;
}

}  // namespace tallyd::protocol
