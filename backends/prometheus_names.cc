#include "backends/prometheus_names.h"

namespace tallyd::backends {
namespace {

bool IsNameChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace

void AppendPrometheusName(std::string_view name, std::string* out) {
  // At most one byte more than the name: one resize, then plain stores.
  const size_t start = out->size();
  out->resize(start + name.size() + 1);
  char* next = out->data() + start;
  if (!name.empty() && name[0] >= '0' && name[0] <= '9') *next++ = '_';
  bool in_multibyte = false;
  for (unsigned char c : name) {
    // A UTF-8 continuation byte (10xxxxxx) after a non-ASCII byte belongs to the character
    // already replaced.
    if (in_multibyte && (c & 0xC0) == 0x80) continue;
    in_multibyte = c >= 0x80;
    *next++ = IsNameChar(c) ? static_cast<char>(c) : '_';
  }
  out->resize(static_cast<size_t>(next - out->data()));
}

bool SanitizesBytewise(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (unsigned char c : name) {
    if (c >= 0x80) return false;
  }
  return true;
}

bool IsUsableLabelName(std::string_view sanitized) {
  return !sanitized.empty() && !sanitized.starts_with("__");
}

}  // namespace tallyd::backends
