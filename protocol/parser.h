// protocol/: bytes -> parsed lines (SPEC.md section 2). Knows no state and no sockets.
//
// Everything returned here is a view into the caller's buffer (the datagram or TCP read): nothing
// is allocated per line, and a result is valid only as long as that buffer is.
//
// Grammar decisions (SPEC.md section 2 leaves these open; tests/protocol/parser_test.cc pins them):
// - The name ends at the first ':'; it is kept byte for byte (backends sanitize).
// - Values are split on ':' and each must be a finite decimal float: an optional '+' or '-',
//   then a digit or '.'; "nan", "inf", hex and empty values ("1::2", "1:") reject the line.
// - A set's value is ONE opaque string: everything between the first ':' and the first '|',
//   ':' included ("users:a:b|s" is the single member "a:b"). value_count is always 1.
// - Tags: an empty tag section ("|#") means no tags and an empty value ("#key:") is the tag
//   "key:", as DogStatsD has it (SPEC 2); empty tags in a list ("#a,,b", "#a,", "#,a") are
//   kBadTags, so a tag list that passed ParseLine never yields an empty tag from ForEachTag.
// - A sampled line's weight 1/rate must be finite (else kBadSampleRate), and so must a counter's
//   weighted value value/rate (else kBadValue): "x:1e308|c|@0.001" is rejected.
// - A repeated optional field (two "|#", two "|@") keeps the last one, as DogStatsD does.
// - Events and service checks are strict: a bad length, priority, alert type, status or
//   timestamp rejects the whole line (DogStatsD itself only drops the bad optional field).
//   Their tags follow the metric rules (kBadTags, kTooManyTags); "d:" and "|T" timestamps are
//   positive decimal integers. The whole line must be valid UTF-8 (kInvalidUtf8). A metric
//   line's name and tags are not checked here but where the line would create a series
//   (aggregator/shard.h), so known series never pay for it.
#ifndef TALLYD_PROTOCOL_PARSER_H_
#define TALLYD_PROTOCOL_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tallyd::protocol {

enum class MetricType : uint8_t {
  kCounter,       // c
  kGauge,         // g
  kTimer,         // ms
  kHistogram,     // h
  kDistribution,  // d
  kSet,           // s
};
inline constexpr int kMetricTypeCount = 6;
// "counter", "gauge", "timer", "histogram", "distribution", "set".
std::string_view MetricTypeName(MetricType type);

// Why a line was rejected. Each value is counted separately by the server
// (tallyd_lines_rejected_total{reason}); RejectReasonName gives the label.
enum class RejectReason : uint8_t {
  kEmptyName,        // "empty_name": nothing before the first ':'
  kMissingValue,     // "missing_value": no ':' or an empty value for a type that needs one
  kBadValue,         // "bad_value": not a finite decimal float
  kMissingType,      // "missing_type": no '|<type>' section
  kUnknownType,      // "unknown_type"
  kBadSampleRate,    // "bad_sample_rate": not a float in (0, 1]
  kBadTags,          // "bad_tags": an empty tag in the list
  kBadTimestamp,     // "bad_timestamp": |T not followed by a positive integer
  kLineTooLong,      // "line_too_long": longer than ParserOptions::max_line_length
  kTooManyTags,      // "too_many_tags": more than ParserOptions::max_tags
  kBadEvent,         // "bad_event"
  kBadServiceCheck,  // "bad_service_check"
  // "invalid_utf8": an event or service check (here), or a metric line that would create a
  // series (Shard::Add), whose text is not valid UTF-8 (protocol/utf8.h).
  kInvalidUtf8,
  // "mixed_tagging_styles" (statsd_exporter's name): tags in the name and a "|#" field.
  kMixedTagStyles,
};
inline constexpr int kRejectReasonCount = 14;
std::string_view RejectReasonName(RejectReason reason);

// The tag styles a line may use; ParserOptions::tag_formats holds a bit (1 << value) for each.
enum class TagFormat : uint8_t {
  kDogStatsD,  // name:1|c|#k:v
  kInfluxDB,   // name,k=v:1|c
  kLibrato,    // name#k=v:1|c
  kSignalFX,   // name[k=v]:1|c
};
inline constexpr uint8_t TagFormatBit(TagFormat format) {
  return static_cast<uint8_t>(1u << static_cast<int>(format));
}
inline constexpr uint8_t kAllTagFormats = 0x0f;

struct ParserOptions {
  size_t max_line_length = 65535;
  size_t max_tags = 256;
  uint8_t tag_formats = kAllTagFormats;  // TagFormatBit()s
};

// Where the parser writes the name and tags of a line with tags in its name (they are neither
// contiguous nor in DogStatsD form in the line). The caller owns it and clears it when nothing
// viewing it is used any more (the worker: after each batch handed to the shard). A line needs
// at most line.size() + 2 bytes of it. Allocated once; nothing else allocates.
class LineScratch {
 public:
  explicit LineScratch(size_t capacity) : bytes_(new char[capacity]), capacity_(capacity) {}
  LineScratch(const LineScratch&) = delete;
  LineScratch& operator=(const LineScratch&) = delete;
  ~LineScratch() { delete[] bytes_; }

  size_t available() const { return capacity_ - used_; }
  size_t capacity() const { return capacity_; }
  void Clear() { used_ = 0; }
  // `n` bytes to write, n <= available().
  char* Take(size_t n) {
    char* p = bytes_ + used_;
    used_ += n;
    return p;
  }

 private:
  char* bytes_;
  size_t capacity_;
  size_t used_ = 0;
};

// One metric line: `name:v[:v...]|type[|@rate][|#tags][|c:cid][|Tts]`.
struct MetricLine {
  std::string_view name;
  MetricType type = MetricType::kCounter;
  // Raw value section ("1:2:3"), already validated. value_count >= 1. For counters an empty
  // section ("name:|c") counts as one sample of 1. For sets each value is an opaque string.
  std::string_view values;
  uint32_t value_count = 0;
  double first_value = 0;  // parsed value of the first sample (not meaningful for sets)
  double sample_rate = 1.0;
  std::string_view tags;          // raw tag list after '#', without it; "" when absent or empty
  std::string_view container_id;  // after "c:", "" when absent
  int64_t timestamp = 0;          // seconds; 0 when the line had no |T field
  uint16_t unknown_fields = 0;    // optional fields that were not understood (ignored); saturates
  bool value_signed = false;      // first value had a leading '+' or '-' (Etsy gauge deltas)
  // Tags in the name that were not kept (see the grammar notes above); saturates. A byte, in
  // what was padding: MetricLine is reset per line, and its size is the hot path's.
  uint8_t malformed_tags = 0;
  uint32_t tag_count = 0;  // number of tags in `tags` (each non-empty)
  // DogStatsD origin-detection fields, kept raw so they are not counted as unknown.
  std::string_view external_data;  // after "e:", "" when absent
  std::string_view cardinality;    // after "card:", "" when absent
  // HashSeries(type, name, tags), computed by the parser while the line's bytes are in the cache
  // (STYLE: hash once): the aggregator's tables are probed with it, nothing walks the key bytes
  // again for a known series. 0 in a line built by hand (tests): the shard computes it then.
  uint64_t series_hash = 0;
};

// The hash of a series as a line names it: (type, name, tag bytes as given). Seeded once per
// process, so crafted lines cannot aim at one probe sequence of a table that reaches the
// network. The aggregator keys its series tables with it (aggregator/series_key.h), so a line's
// series_hash finds keys created from canonical tags elsewhere.
uint64_t HashSeries(MetricType type, std::string_view name, std::string_view tags);

// Iterates the values of a MetricLine. Values were validated by the parser, so Next() only
// re-splits and re-converts; lines with a single value should just use first_value.
class ValueCursor {
 public:
  explicit ValueCursor(const MetricLine& line)
      : rest_(line.values), done_(line.value_count == 0), opaque_(line.type == MetricType::kSet) {}
  // Next raw value ("" for a counter without a value; the whole section for a set).
  // Returns false when exhausted.
  bool NextRaw(std::string_view* raw);
  // Next numeric value (1 for an empty counter value). Returns false when exhausted, and
  // always for sets, whose values are not numbers (use NextRaw).
  bool Next(double* value, bool* is_signed = nullptr);

 private:
  std::string_view rest_;
  bool done_;
  bool opaque_;  // set: the section is one value, ':' is not a separator
};

// A DogStatsD event: `_e{title_len,text_len}:title|text[|d:ts][|h:host][|k:key][|p:prio]
// [|s:source][|t:alert][|#tags]`. The lengths are bytes and must match exactly: the title (not
// empty) is followed by '|', the text by '|' or the end of the line; so both may hold '|'.
struct Event {
  std::string_view title;
  std::string_view text;  // as sent: the aggregator turns "\\n" escapes into newlines
  int64_t timestamp = 0;
  std::string_view hostname;
  std::string_view aggregation_key;
  std::string_view priority;  // "normal" or "low"; "" when absent
  std::string_view source_type;
  std::string_view alert_type;  // "info", "warning", "error", "success"; "" when absent
  std::string_view tags;
  uint16_t unknown_fields = 0;  // optional fields that were not understood (ignored); saturates
};

// A DogStatsD service check: `_sc|name|status[|d:ts][|h:host][|#tags][|m:message]`.
// "m:" must come last and takes the rest of the line, '|' included.
struct ServiceCheck {
  std::string_view name;
  int status = 0;  // 0 ok, 1 warning, 2 critical, 3 unknown
  int64_t timestamp = 0;
  std::string_view hostname;
  std::string_view tags;
  std::string_view message;     // as sent, like Event::text
  uint16_t unknown_fields = 0;  // optional fields that were not understood (ignored); saturates
};

enum class LineKind : uint8_t { kMetric, kEvent, kServiceCheck, kRejected };

struct ParsedLine {
  LineKind kind = LineKind::kRejected;
  RejectReason reason = RejectReason::kEmptyName;  // meaningful when kind == kRejected
  MetricLine metric;
  Event event;
  ServiceCheck service_check;
};

// Parses one line (no '\n'; a trailing '\r' is tolerated). Never throws, never allocates.
// A line with tags in its name views a thread-local LineScratch, valid until the next call on
// this thread (for tests, bench and fuzz; the worker uses the form with its own scratch).
ParsedLine ParseLine(std::string_view line, const ParserOptions& options = {});

// The same, into a caller-owned ParsedLine that can be reused from line to line: only what the
// line's kind needs is written, which saves initializing the whole (~350-byte) ParsedLine per
// line. Always sets out->kind and, when rejected, out->reason; for kMetric out->metric, for
// kEvent out->event and for kServiceCheck out->service_check are set exactly as the by-value
// ParseLine sets them. The other members are left as they were (for a rejected line the member
// of the kind it looked like may be partly written). Returns out->kind != kRejected.
bool ParseLine(std::string_view line, const ParserOptions& options, ParsedLine* out);
// The same, writing the name and tags of a line with tags in its name into `scratch` (needs
// line.size() + 2 bytes available; else the line is kLineTooLong). Lines in DogStatsD form
// never touch it. This is the worker's form: nothing allocates.
bool ParseLine(std::string_view line, const ParserOptions& options, ParsedLine* out,
               LineScratch* scratch);
// The worker's form: a metric line is written straight into *metric (a slot of the batch the
// worker hands to the shard, so it is not copied there), everything else into *other (kind,
// reason, event, service check; other->metric is not touched). Returns other->kind. For a
// rejected line *metric may be partly written.
LineKind ParseLine(std::string_view line, const ParserOptions& options, MetricLine* metric,
                   ParsedLine* other, LineScratch* scratch);

namespace detail {

// Bit i set when p[i] == '\n', for i in [0, 16 * kChunks). Reads exactly 16 * kChunks bytes.
template <int kChunks>
inline uint64_t NewlineMask(const char* p) {
#if defined(__SSE2__)
  const __m128i newline = _mm_set1_epi8('\n');
  uint64_t mask = 0;
  for (int i = 0; i < kChunks; ++i) {
    const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
    mask |= static_cast<uint64_t>(
                static_cast<uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, newline))))
            << (16 * i);
  }
  return mask;
#else
  uint64_t mask = 0;
  for (int i = 0; i < 16 * kChunks; ++i) mask |= static_cast<uint64_t>(p[i] == '\n') << i;
  return mask;
#endif
}

}  // namespace detail

// Calls fn(std::string_view line) for every non-empty line of a datagram or TCP chunk.
// Lines are separated by '\n'; a '\r' before it is dropped; a trailing newline is fine.
// The newlines are found 64 bytes at a time as a bit mask, not with one search per line.
template <typename Fn>
void ForEachLine(std::string_view data, Fn&& fn) {
  const char* p = data.data();
  const char* const end = p + data.size();
  const char* line_start = p;
  auto emit = [&](const char* line_end) {
    std::string_view line(line_start, static_cast<size_t>(line_end - line_start));
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) fn(line);
  };
  auto emit_all = [&](const char* base, uint64_t mask) {
    while (mask != 0) {
      const char* nl = base + __builtin_ctzll(mask);
      emit(nl);
      line_start = nl + 1;
      mask &= mask - 1;
    }
  };
  for (; end - p >= 64; p += 64) emit_all(p, detail::NewlineMask<4>(p));
  for (; end - p >= 16; p += 16) emit_all(p, detail::NewlineMask<1>(p));
  if (p != end && data.size() >= 16) {
    // The last, overlapping 16 bytes, minus the ones already seen.
    emit_all(p, detail::NewlineMask<1>(end - 16) >> (16 - (end - p)));
    p = end;
  }
  for (; p != end; ++p) {
    if (*p == '\n') {
      emit(p);
      line_start = p + 1;
    }
  }
  if (line_start != end) emit(end);
}

// Splits a raw tag list ("a:1,b,c:x:y") on ','. Calls fn(std::string_view tag) per tag.
template <typename Fn>
void ForEachTag(std::string_view tags, Fn&& fn) {
  while (!tags.empty()) {
    size_t comma = tags.find(',');
    fn(tags.substr(0, comma));
    if (comma == std::string_view::npos) break;
    tags.remove_prefix(comma + 1);
  }
}

}  // namespace tallyd::protocol

#endif  // TALLYD_PROTOCOL_PARSER_H_
