#include "backends/prometheus_names.h"

namespace tallyd::backends {
namespace {

bool IsNameChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace

std::string SanitizePrometheusName(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 1);
  if (!name.empty() && name[0] >= '0' && name[0] <= '9') out.push_back('_');
  bool in_multibyte = false;
  for (unsigned char c : name) {
    // A UTF-8 continuation byte (10xxxxxx) after a non-ASCII byte belongs to the character
    // already replaced.
    if (in_multibyte && (c & 0xC0) == 0x80) continue;
    in_multibyte = c >= 0x80;
    out.push_back(IsNameChar(c) ? static_cast<char>(c) : '_');
  }
  return out;
}

bool IsUsableLabelName(std::string_view sanitized) {
  return !sanitized.empty() && !sanitized.starts_with("__");
}

}  // namespace tallyd::backends
