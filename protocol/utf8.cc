#include "protocol/utf8.h"

#include <cstdint>
#include <cstring>

namespace tallyd::protocol {
namespace {

constexpr uint64_t kHighBits = 0x8080808080808080ULL;

inline bool InRange(unsigned char c, unsigned char lo, unsigned char hi) {
  return c >= lo && c <= hi;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const unsigned char* const end = p + s.size();
  while (p != end) {
    // Names and tags are mostly ASCII: skip eight bytes at a time while no high bit is set.
    while (end - p >= 8) {
      uint64_t word;
      std::memcpy(&word, p, 8);
      if ((word & kHighBits) != 0) break;
      p += 8;
    }
    if (p == end) break;
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    // The second byte's range depends on the first (Unicode Table 3-7); that rules out overlong
    // forms (C0, C1, E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and > U+10FFFF (F4 90.., F5..).
    size_t length;
    unsigned char lo = 0x80, hi = 0xBF;
    if (InRange(c, 0xC2, 0xDF)) {
      length = 2;
    } else if (InRange(c, 0xE0, 0xEF)) {
      length = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (InRange(c, 0xF0, 0xF4)) {
      length = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;  // 80..BF (a stray continuation), C0, C1, F5..FF
    }
    if (static_cast<size_t>(end - p) < length || !InRange(p[1], lo, hi)) return false;
    for (size_t i = 2; i < length; ++i) {
      if (!InRange(p[i], 0x80, 0xBF)) return false;
    }
    p += length;
  }
  return true;
}

}  // namespace tallyd::protocol
