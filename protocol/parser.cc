// The DogStatsD / Etsy StatsD line parser. One pass over the line, no allocation, no locale.
// Separators are found 16 bytes at a time (SSE2, inline: typical spans are 5-40 bytes, too short
// for a memchr call to pay off); short plain decimals are converted inline and everything else
// by std::from_chars.
#include "protocol/parser.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <system_error>

#include "protocol/parser_detail.h"
#include "protocol/utf8.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tallyd::protocol {
namespace {

#if defined(__SSE2__)
inline uint32_t Mask16(const char* p, __m128i needle) {
  const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, needle)));
}
inline uint32_t Mask16(const char* p, __m128i a, __m128i b) {
  const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return static_cast<uint32_t>(
      _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(chunk, a), _mm_cmpeq_epi8(chunk, b))));
}
#endif

// First byte of [p, end) equal to `c`, or end. Never reads outside [p, end).
inline const char* Find(const char* p, const char* end, char c) {
#if defined(__SSE2__)
  if (end - p >= 16) {
    const __m128i needle = _mm_set1_epi8(c);
    do {
      const uint32_t mask = Mask16(p, needle);
      if (mask != 0) return p + __builtin_ctz(mask);
      p += 16;
    } while (end - p >= 16);
    if (p == end) return end;
    // The last, overlapping 16 bytes: the ones already seen hold no match.
    const uint32_t mask = Mask16(end - 16, needle);
    return mask != 0 ? end - 16 + __builtin_ctz(mask) : end;
  }
#endif
  while (p != end && *p != c) ++p;
  return p;
}

// First byte of [p, end) equal to `a` or `b`, or end. Never reads outside [p, end).
inline const char* FindEither(const char* p, const char* end, char a, char b) {
#if defined(__SSE2__)
  if (end - p >= 16) {
    const __m128i na = _mm_set1_epi8(a);
    const __m128i nb = _mm_set1_epi8(b);
    do {
      const uint32_t mask = Mask16(p, na, nb);
      if (mask != 0) return p + __builtin_ctz(mask);
      p += 16;
    } while (end - p >= 16);
    if (p == end) return end;
    const uint32_t mask = Mask16(end - 16, na, nb);
    return mask != 0 ? end - 16 + __builtin_ctz(mask) : end;
  }
#endif
  while (p != end && *p != a && *p != b) ++p;
  return p;
}

// Position of `c` in `s` at or after `from`, or s.size() when absent.
inline size_t FindFrom(std::string_view s, size_t from, char c) {
  return static_cast<size_t>(Find(s.data() + from, s.data() + s.size(), c) - s.data());
}

inline bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && std::memcmp(s.data(), prefix.data(), prefix.size()) == 0;
}

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Powers of ten that are exact doubles.
inline constexpr double kExactPowersOfTen[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                               1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

// The common case of ParseDecimal: `digits[.digits]` with at most 15 digits in all (and at least
// one on each side of a '.'). Then the mantissa m < 10^15 < 2^53 and 10^k (k <= 15) are exact
// doubles, and IEEE division rounds m / 10^k correctly, so the result is bit for bit what
// std::from_chars (correctly rounded) gives. Returns false for anything else, e.g. "1.", ".5",
// "1e3", 16 or more characters; the caller then uses std::from_chars.
inline bool ParseShortDecimal(const char* p, const char* end, double* value) {
  if (end - p > 15) return false;
  const char* q = p;
  uint64_t m = 0;
  while (q != end && IsDigit(*q)) {
    m = m * 10 + static_cast<uint64_t>(*q - '0');
    ++q;
  }
  if (q == p) return false;  // no integer digit
  if (q == end) {
    *value = static_cast<double>(m);
    return true;
  }
  if (*q != '.') return false;
  const char* fraction = ++q;
  while (q != end && IsDigit(*q)) {
    m = m * 10 + static_cast<uint64_t>(*q - '0');
    ++q;
  }
  if (q != end || q == fraction) return false;
  *value = static_cast<double>(m) / kExactPowersOfTen[q - fraction];
  return true;
}

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
  if (ParseShortDecimal(first, end, &v)) {
    *value = first != p ? -v : v;  // "-0" is -0.0, as from_chars gives
    *is_signed = plus || first != p;
    return true;
  }
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

// Checks a raw tag list (after '#'): no empty tag, at most max_tags tags; an empty list is no
// tags (SPEC 2). The reason is that of the first problem met from the left: an empty tag, or the
// (max_tags + 1)-th tag.
bool CheckTagsSlow(std::string_view tags, size_t max_tags, uint32_t* count, RejectReason* reason) {
  if (tags.empty()) {
    *count = 0;
    return true;
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

// 16-bit population count without relying on a POPCNT instruction.
inline uint32_t Popcount16(uint32_t x) {
  x = x - ((x >> 1) & 0x5555u);
  x = (x & 0x3333u) + ((x >> 2) & 0x3333u);
  x = (x + (x >> 4)) & 0x0F0Fu;
  return (x + (x >> 8)) & 0x1Fu;
}

// CheckTagsSlow in one pass without branches per tag: counts the commas and notes whether any
// tag is empty (a leading or trailing ',' or ",,"). Only a list with an empty tag goes to
// CheckTagsSlow, which finds which problem comes first.
inline bool CheckTags(std::string_view tags, size_t max_tags, uint32_t* count,
                      RejectReason* reason) {
  const char* p = tags.data();
  const char* const end = p + tags.size();
  uint32_t previous = 1;  // 1 when the byte before p was a ',' (or p is the start)
  uint32_t empty = 0;
  size_t commas = 0;
#if defined(__SSE2__)
  const __m128i comma = _mm_set1_epi8(',');
  for (; end - p >= 16; p += 16) {
    const uint32_t mask = Mask16(p, comma);
    empty |= mask & ((mask << 1) | previous);
    commas += Popcount16(mask);
    previous = mask >> 15;
  }
#endif
  for (; p != end; ++p) {
    const uint32_t is_comma = *p == ',';
    empty |= is_comma & previous;
    commas += is_comma;
    previous = is_comma;
  }
  empty |= previous;  // trailing ',' or an empty list (no tags: CheckTagsSlow says so)
  if (empty != 0) return CheckTagsSlow(tags, max_tags, count, reason);
  if (commas + 1 > max_tags) {
    *reason = RejectReason::kTooManyTags;
    return false;
  }
  *count = static_cast<uint32_t>(commas + 1);
  return true;
}

// ---- The series hash (HashSeries) ----
// Runs once per metric line on its name and tags (~40-150 bytes): a wyhash-style hash, 16 bytes
// per 64x64->128 multiply. The length is folded into the last multiply of each part through a
// per-process key of the length (computed beside the chain, not in it), so a 45-byte name with
// no tags costs three chained multiplies.
inline uint64_t Read8(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint64_t Read4(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t Mum(uint64_t a, uint64_t b) {
#if defined(__x86_64__)
  // g++ 12 spills the __int128 product to the stack and reloads it (a store-forwarding delay in
  // the hash's chain of multiplies, seen in perf annotate); one mulq leaves it in rdx:rax.
  uint64_t lo, hi;
  asm("mulq %3" : "=a"(lo), "=d"(hi) : "a"(a), "rm"(b) : "cc");
  return lo ^ hi;
#else
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
#endif
}
constexpr uint64_t kP0 = 0xa0761d6478bd642fULL;
constexpr uint64_t kP1 = 0xe7037ed1a0b428dbULL;
constexpr uint64_t kP2 = 0x8ebc6af09c88c6e3ULL;

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
// Per process (the binary's load address, randomized by ASLR), as absl::Hash is.
const uint64_t kSeriesSeed = SplitMix64(reinterpret_cast<uintptr_t>(&kP0) ^ 0x7a11d);

// The bytes [p, p + n) into the running hash h. The length goes in through a secret function of
// it, so equal blocks of different lengths cannot be made to collide without the seed.
inline uint64_t HashPart(const char* p, size_t n, uint64_t h) {
  const uint64_t length_key = Mum(kSeriesSeed ^ n, kP2);
  uint64_t a = 0, b = 0;
  if (n > 16) {
    const char* q = p;
    size_t left = n;
    do {
      h = Mum(Read8(q) ^ kP1, Read8(q + 8) ^ h);
      q += 16;
      left -= 16;
    } while (left > 16);
    a = Read8(p + n - 16);  // the last 16 bytes, overlapping the blocks already taken
    b = Read8(p + n - 8);
  } else if (n >= 8) {
    a = Read8(p);
    b = Read8(p + n - 8);
  } else if (n >= 4) {
    a = Read4(p);
    b = Read4(p + n - 4);
  } else if (n > 0) {
    a = (uint64_t{static_cast<uint8_t>(p[0])} << 16) |
        (uint64_t{static_cast<uint8_t>(p[n >> 1])} << 8) | static_cast<uint8_t>(p[n - 1]);
  }
  return Mum(a ^ kP1 ^ h, b ^ length_key);
}

inline uint64_t HashSeriesInline(MetricType type, std::string_view name, std::string_view tags) {
  uint64_t h = kSeriesSeed ^ ((static_cast<uint64_t>(type) + 1) * kP0);
  h = HashPart(name.data(), name.size(), h);
  // No tags is its own case (the name's length already ends the name).
  if (!tags.empty()) h = HashPart(tags.data(), tags.size(), h ^ kP2);
  return h;
}

inline void CountUnknown(uint16_t* unknown) {
  if (*unknown != std::numeric_limits<uint16_t>::max()) ++*unknown;
}

inline constexpr uint8_t kNameTagFormats = TagFormatBit(TagFormat::kInfluxDB) |
                                           TagFormatBit(TagFormat::kLibrato) |
                                           TagFormatBit(TagFormat::kSignalFX);

// First byte of [p, end) that ends a DogStatsD name (':' or '|') or may start tags in the name
// for an enabled style (',' InfluxDB, '#' Librato, '[' or ']' SignalFX), or end. One pass: the
// plain DogStatsD line pays a few more compares per 16 bytes of its name, nothing per line.
[[gnu::always_inline]] inline const char* FindNameStop(const char* p, const char* end,
                                                       uint8_t formats) {
  const char comma = (formats & TagFormatBit(TagFormat::kInfluxDB)) ? ',' : ':';
  const char hash = (formats & TagFormatBit(TagFormat::kLibrato)) ? '#' : ':';
  const bool signalfx = (formats & TagFormatBit(TagFormat::kSignalFX)) != 0;
  const char open = signalfx ? '[' : ':';
  const char close = signalfx ? ']' : ':';
#if defined(__SSE2__)
  if (end - p >= 16) {
    const __m128i n0 = _mm_set1_epi8(':'), n1 = _mm_set1_epi8('|'), n2 = _mm_set1_epi8(comma),
                  n3 = _mm_set1_epi8(hash), n4 = _mm_set1_epi8(open), n5 = _mm_set1_epi8(close);
    auto mask = [&](const char* q) {
      const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
      const __m128i any =
          _mm_or_si128(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(c, n0), _mm_cmpeq_epi8(c, n1)),
                                    _mm_or_si128(_mm_cmpeq_epi8(c, n2), _mm_cmpeq_epi8(c, n3))),
                       _mm_or_si128(_mm_cmpeq_epi8(c, n4), _mm_cmpeq_epi8(c, n5)));
      return static_cast<uint32_t>(_mm_movemask_epi8(any));
    };
    do {
      const uint32_t m = mask(p);
      if (m != 0) return p + __builtin_ctz(m);
      p += 16;
    } while (end - p >= 16);
    if (p == end) return end;
    const uint32_t m = mask(end - 16);
    return m != 0 ? end - 16 + __builtin_ctz(m) : end;
  }
#endif
  while (p != end && *p != ':' && *p != '|' && *p != comma && *p != hash && *p != open &&
         *p != close) {
    ++p;
  }
  return p;
}

// The name section (before the first ':') split as statsd_exporter's parseNameAndTags does.
struct NameTags {
  std::string_view head;  // the name, or its part before a SignalFX '['
  std::string_view tail;  // the part after a SignalFX ']', "" otherwise
  std::string_view tags;  // "k=v,k2=v2", "" when none
  bool bad_brackets = false;
};

inline NameTags SplitNameTags(std::string_view name, uint8_t formats) {
  NameTags out;
  out.head = name;
  if (formats & TagFormatBit(TagFormat::kSignalFX)) {
    const size_t open = name.find('[');
    const size_t close = name.find(']');
    if (open != std::string_view::npos && close != std::string_view::npos && open < close) {
      out.head = name.substr(0, open);
      out.tags = name.substr(open + 1, close - open - 1);
      out.tail = name.substr(close + 1);
      return out;
    }
    // One bracket, or "]...[" (statsd_exporter does not handle that order either): the name
    // is kept whole and InfluxDB / Librato tags are not looked for, as statsd_exporter does.
    if (open != std::string_view::npos || close != std::string_view::npos) {
      out.bad_brackets = true;
      return out;
    }
  }
  const bool influx = (formats & TagFormatBit(TagFormat::kInfluxDB)) != 0;
  const bool librato = (formats & TagFormatBit(TagFormat::kLibrato)) != 0;
  for (size_t i = 0; i < name.size(); ++i) {
    if ((name[i] == ',' && influx) || (name[i] == '#' && librato)) {
      out.head = name.substr(0, i);
      out.tags = name.substr(i + 1);
      break;
    }
  }
  return out;
}

// Calls fn(key, value) for each well-formed "k=v" of a name's tag list and returns how many
// were not ("", "k", "=v", "k="); an empty last tag (a trailing ',') is no tag.
template <typename Fn>
inline uint32_t ForEachNameTag(std::string_view tags, Fn&& fn) {
  uint32_t malformed = 0;
  size_t pos = 0;
  while (pos < tags.size()) {
    size_t comma = tags.find(',', pos);
    if (comma == std::string_view::npos) comma = tags.size();
    const std::string_view tag = tags.substr(pos, comma - pos);
    const size_t eq = tag.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == tag.size()) {
      ++malformed;
    } else {
      fn(tag.substr(0, eq), tag.substr(eq + 1));
    }
    pos = comma + 1;
  }
  return malformed;
}

// The slow path of a name that may hold tags, kept out of ParseMetric so that plain DogStatsD
// lines do not pay for its code. Splits m->name; false (with *reason) rejects the line.
[[gnu::noinline]] bool SplitNameTagsOf(MetricLine* m, uint8_t formats, size_t max_tags,
                                       NameTags* name_tags, uint32_t* count, RejectReason* reason) {
  *name_tags = SplitNameTags(m->name, formats);
  uint32_t malformed = name_tags->bad_brackets ? 1 : 0;
  malformed +=
      ForEachNameTag(name_tags->tags, [&](std::string_view, std::string_view) { ++*count; });
  m->malformed_tags = static_cast<uint8_t>(std::min<uint32_t>(malformed, 0xff));
  if (name_tags->head.empty() && name_tags->tail.empty()) {
    *reason = RejectReason::kEmptyName;
    return false;
  }
  if (*count > max_tags) {
    *reason = RejectReason::kTooManyTags;
    return false;
  }
  return true;
}

// Once the line is otherwise accepted: the name (head + tail) and the kept tags in DogStatsD
// form ("k:v,..."), written as "name|#tags" so that from the name to the end of the tags reads
// like a DogStatsD line (the worker logs that span).
[[gnu::noinline]] bool WriteNameTags(MetricLine* m, const NameTags& name_tags, uint32_t count,
                                     bool hash_field, LineScratch* scratch, RejectReason* reason) {
  if (count != 0 && hash_field) {
    *reason = RejectReason::kMixedTagStyles;
    return false;
  }
  const size_t need = name_tags.head.size() + name_tags.tail.size() + 2 + name_tags.tags.size();
  if (scratch == nullptr || scratch->available() < need) {
    *reason = RejectReason::kLineTooLong;
    return false;
  }
  char* const out = scratch->Take(need);
  char* w = out;
  auto put = [&w](std::string_view s) {
    if (!s.empty()) std::memcpy(w, s.data(), s.size());
    w += s.size();
  };
  put(name_tags.head);
  put(name_tags.tail);
  m->name = std::string_view(out, static_cast<size_t>(w - out));
  if (count != 0) {
    put("|#");
    char* const tags = w;
    ForEachNameTag(name_tags.tags, [&](std::string_view key, std::string_view value) {
      if (w != tags) *w++ = ',';
      put(key);
      *w++ = ':';
      put(value);
    });
    m->tags = std::string_view(tags, static_cast<size_t>(w - tags));
    m->tag_count = count;
  }
  return true;
}

// The shapes nearly every client sends, `name:<decimal>|<c|g|ms|h|d>[|@<rate>][|#<tags>]` (the
// optional fields in any order), in one left-to-right pass: the value is converted while it is
// scanned, the type is read where the scan stops, and every field of *m is written once, with no
// reset of the whole MetricLine first. Anything else (several values, sets, an empty value, tags
// in the name, a long or exponent value, any other field, anything the line would be rejected
// for) returns false having decided nothing: ParseMetric then parses the line from its start,
// so for every line the result is ParseMetric's (ParserTest.CommonShapesParseAsTheGeneralParser
// compares the two on random and mutated lines).
[[gnu::always_inline]] inline bool ParseCommonMetric(std::string_view line,
                                                     const ParserOptions& options, MetricLine& m) {
  const char* const begin = line.data();
  const char* const end = begin + line.size();
  const uint8_t name_formats = options.tag_formats & kNameTagFormats;
  const char* const colon =
      name_formats != 0 ? FindNameStop(begin, end, name_formats) : FindEither(begin, end, ':', '|');
  if (colon == end || *colon != ':' || colon == begin) return false;

  // [+-]digits[.digits], at most 15 characters after the sign: ParseShortDecimal's domain, and
  // the same arithmetic, so the double is bit for bit what ParseDecimal gives.
  const char* q = colon + 1;
  bool negative = false;
  bool is_signed = false;
  if (q != end && (*q == '-' || *q == '+')) {
    negative = *q == '-';
    is_signed = true;
    ++q;
  }
  const char* const digits = q;
  uint64_t mantissa = 0;
  while (q != end && IsDigit(*q)) {
    mantissa = mantissa * 10 + static_cast<uint64_t>(*q - '0');
    ++q;
  }
  if (q == digits) return false;
  double value;
  if (q != end && *q == '.') {
    const char* const fraction = ++q;
    while (q != end && IsDigit(*q)) {
      mantissa = mantissa * 10 + static_cast<uint64_t>(*q - '0');
      ++q;
    }
    if (q == fraction || q - digits > 15) return false;
    value = static_cast<double>(mantissa) / kExactPowersOfTen[q - fraction];
  } else {
    if (q - digits > 15) return false;
    value = static_cast<double>(mantissa);
  }
  if (negative) value = -value;  // "-0" is -0.0, as from_chars gives
  if (q == end || *q != '|') return false;
  const char* const values_end = q;

  // The type section, read as the general parser reads it; sets (an opaque value) are its.
  const char* t = Find(q + 1, end, '|');
  MetricType type;
  if (!ParseType(std::string_view(q + 1, static_cast<size_t>(t - q - 1)), &type) ||
      type == MetricType::kSet) {
    return false;
  }

  double rate = 1.0;
  std::string_view tags;
  uint32_t tag_count = 0;
  const bool dogstatsd_tags = (options.tag_formats & TagFormatBit(TagFormat::kDogStatsD)) != 0;
  while (t != end) {
    const char* const field = t + 1;
    const char* const field_end = Find(field, end, '|');
    if (field == field_end) return false;
    const std::string_view body(field + 1, static_cast<size_t>(field_end - field - 1));
    if (*field == '@') {
      bool rate_signed;
      if (!ParseDecimal(body, &rate, &rate_signed) || !(rate > 0 && rate <= 1)) return false;
    } else if (*field == '#' && dogstatsd_tags) {
      RejectReason unused;
      if (!CheckTags(body, options.max_tags, &tag_count, &unused)) return false;
      tags = body;
    } else {
      return false;
    }
    t = field_end;
  }
  if (rate != 1.0 && (!std::isfinite(1 / rate) ||
                      (type == MetricType::kCounter && !std::isfinite(std::fabs(value) / rate)))) {
    return false;
  }

  m.name = std::string_view(begin, static_cast<size_t>(colon - begin));
  m.type = type;
  m.values = std::string_view(colon + 1, static_cast<size_t>(values_end - colon - 1));
  m.value_count = 1;
  m.first_value = value;
  m.sample_rate = rate;
  m.tags = tags;
  m.container_id = std::string_view();
  m.timestamp = 0;
  m.unknown_fields = 0;
  m.value_signed = is_signed;
  m.malformed_tags = 0;
  m.tag_count = tag_count;
  m.external_data = std::string_view();
  m.cardinality = std::string_view();
  m.series_hash = HashSeriesInline(type, m.name, tags);
  return true;
}

// `line` is a whole metric line, not empty, no trailing '\r'.
// Fresh: *result was just default-constructed, so the MetricLine need not be reset.
template <bool kFresh>
void ParseMetric(std::string_view line, const ParserOptions& options, MetricLine& m,
                 ParsedLine* result, LineScratch* scratch) {
  if constexpr (!kFresh) m = MetricLine{};
  result->kind = LineKind::kRejected;

  // The name ends at the first ':', which must come before the first '|'.
  const char* const begin = line.data();
  const char* const end = begin + line.size();
  const uint8_t name_formats = options.tag_formats & kNameTagFormats;
  const char* colon_ptr =
      name_formats != 0 ? FindNameStop(begin, end, name_formats) : FindEither(begin, end, ':', '|');
  // Set when the name may hold tags: the slow path below.
  const bool name_stop = colon_ptr != end && *colon_ptr != ':' && *colon_ptr != '|';
  if (name_stop) colon_ptr = FindEither(colon_ptr, end, ':', '|');
  if (colon_ptr == end || *colon_ptr == '|') {
    result->reason = RejectReason::kMissingValue;
    return;
  }
  if (colon_ptr == begin) {
    result->reason = RejectReason::kEmptyName;
    return;
  }
  const size_t colon = static_cast<size_t>(colon_ptr - begin);
  const size_t bar = static_cast<size_t>(Find(colon_ptr + 1, end, '|') - begin);
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
  NameTags name_tags;
  uint32_t name_tag_count = 0;
  if (name_stop && !SplitNameTagsOf(&m, name_formats, options.max_tags, &name_tags, &name_tag_count,
                                    &result->reason)) {
    return;
  }
  m.values = line.substr(colon + 1, bar - colon - 1);
  const std::string_view values = m.values;
  double largest = 0;  // the largest magnitude among the values, for the sample-rate check
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
    largest = 1;
  } else {
    size_t sep = FindFrom(values, 0, ':');
    if (!ParseDecimal(values.substr(0, sep), &m.first_value, &m.value_signed)) {
      result->reason = RejectReason::kBadValue;
      return;
    }
    largest = std::fabs(m.first_value);
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
      largest = std::max(largest, std::fabs(v));
      ++count;
    }
    m.value_count = count;
  }

  // Optional fields, in any order.
  const bool dogstatsd_tags = (options.tag_formats & TagFormatBit(TagFormat::kDogStatsD)) != 0;
  bool hash_field = false;  // a "|#" field, even when DogStatsD tags are off (statsd_exporter)
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
        hash_field = true;
        if (!dogstatsd_tags) {
          CountUnknown(&m.unknown_fields);
          break;
        }
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
  if (m.sample_rate != 1.0) {
    // The aggregator weights every sample's count by 1/rate and a counter's value by value/rate:
    // a rate so small (subnormal) or a value so large that these overflow would report Inf.
    if (!std::isfinite(1 / m.sample_rate)) {
      result->reason = RejectReason::kBadSampleRate;
      return;
    }
    if (m.type == MetricType::kCounter && !std::isfinite(largest / m.sample_rate)) {
      result->reason = RejectReason::kBadValue;
      return;
    }
  }
  if (name_stop &&
      !WriteNameTags(&m, name_tags, name_tag_count, hash_field, scratch, &result->reason)) {
    return;
  }
  m.series_hash = HashSeriesInline(m.type, m.name, m.tags);
  result->kind = LineKind::kMetric;
}

// `line` starts with "_e{".
template <bool kFresh>
void ParseEvent(std::string_view line, const ParserOptions& options, ParsedLine* result) {
  Event& e = result->event;
  if constexpr (!kFresh) e = Event{};
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
  // Events are rare: checking the whole line covers title, text, tags and every other field.
  if (!IsValidUtf8(line)) {
    result->reason = RejectReason::kInvalidUtf8;
    return;
  }
  result->kind = LineKind::kEvent;
}

// `line` starts with "_sc|".
template <bool kFresh>
void ParseServiceCheck(std::string_view line, const ParserOptions& options, ParsedLine* result) {
  ServiceCheck& sc = result->service_check;
  if constexpr (!kFresh) sc = ServiceCheck{};
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
  if (!IsValidUtf8(line)) {
    result->reason = RejectReason::kInvalidUtf8;
    return;
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
    case RejectReason::kInvalidUtf8:
      return "invalid_utf8";
    case RejectReason::kMixedTagStyles:
      return "mixed_tagging_styles";
  }
  return "unknown";
}

namespace {

template <bool kFresh>
inline void ParseInto(std::string_view line, const ParserOptions& options, MetricLine& metric,
                      ParsedLine* result, LineScratch* scratch) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > options.max_line_length) {
    result->kind = LineKind::kRejected;
    result->reason = RejectReason::kLineTooLong;
    return;
  }
  if (!line.empty() && line[0] == '_') {
    if (StartsWith(line, "_e{")) {
      ParseEvent<kFresh>(line, options, result);
      return;
    }
    if (StartsWith(line, "_sc|")) {
      ParseServiceCheck<kFresh>(line, options, result);
      return;
    }
  }
  if (!line.empty() && ParseCommonMetric(line, options, metric)) {
    result->kind = LineKind::kMetric;
    return;
  }
  ParseMetric<kFresh>(line, options, metric, result, scratch);
}

// The scratch of the forms without one: cleared at each call, regrown for a longer line.
LineScratch* ThreadScratch(size_t line_size) {
  thread_local std::unique_ptr<LineScratch> scratch;
  if (scratch == nullptr || scratch->capacity() < line_size + 2) {
    scratch = std::make_unique<LineScratch>(std::max<size_t>(line_size + 2, 4096));
  }
  scratch->Clear();
  return scratch.get();
}

}  // namespace

ParsedLine ParseLine(std::string_view line, const ParserOptions& options) {
  ParsedLine result;
  ParseInto<true>(line, options, result.metric, &result, ThreadScratch(line.size()));
  return result;
}

bool ParseLine(std::string_view line, const ParserOptions& options, ParsedLine* out) {
  ParseInto<false>(line, options, out->metric, out, ThreadScratch(line.size()));
  return out->kind != LineKind::kRejected;
}

bool ParseLine(std::string_view line, const ParserOptions& options, ParsedLine* out,
               LineScratch* scratch) {
  ParseInto<false>(line, options, out->metric, out, scratch);
  return out->kind != LineKind::kRejected;
}

LineKind ParseLine(std::string_view line, const ParserOptions& options, MetricLine* metric,
                   ParsedLine* other, LineScratch* scratch) {
  ParseInto<false>(line, options, *metric, other, scratch);
  return other->kind;
}

uint64_t HashSeries(MetricType type, std::string_view name, std::string_view tags) {
  return HashSeriesInline(type, name, tags);
}

namespace detail {

bool ParseCommonMetricLine(std::string_view line, const ParserOptions& options, MetricLine* out) {
  // What ParseInto checks before it tries the fast path.
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty() || line.size() > options.max_line_length || StartsWith(line, "_e{") ||
      StartsWith(line, "_sc|")) {
    return false;
  }
  return ParseCommonMetric(line, options, *out);
}

ParsedLine ParseLineGeneral(std::string_view line, const ParserOptions& options) {
  ParsedLine result;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > options.max_line_length) {
    result.reason = RejectReason::kLineTooLong;
    return result;
  }
  if (StartsWith(line, "_e{")) {
    ParseEvent<true>(line, options, &result);
  } else if (StartsWith(line, "_sc|")) {
    ParseServiceCheck<true>(line, options, &result);
  } else {
    ParseMetric<true>(line, options, result.metric, &result, ThreadScratch(line.size()));
  }
  return result;
}

}  // namespace detail

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
