// Value syntax: durations, sizes, ${VAR}, addresses, and the kinds' parsers (config/values.h).
#include "config/values.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace tallyd {
namespace {

bool IsDigits(absl::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), absl::ascii_isdigit);
}

bool IsHostname(absl::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '-' || host.front() == '.') {
    return false;
  }
  return std::all_of(host.begin(), host.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_';
  });
}

}  // namespace

absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text) {
  if (text == "0") return absl::ZeroDuration();
  if (!text.empty() && (absl::ascii_isdigit(text.back()) || text.back() == '.')) {
    return Expected("a duration with a unit (ms, s, m, h) like 10s", text);
  }
  absl::Duration duration;
  if (!absl::ParseDuration(text, &duration) || duration == absl::InfiniteDuration() ||
      duration < absl::ZeroDuration()) {
    return Expected("a duration like 10s, 500ms, 5m or 1h", text);
  }
  return duration;
}

absl::StatusOr<int64_t> ParseSize(absl::string_view text) {
  const size_t digits = std::min(text.find_first_not_of("0123456789"), text.size());
  const absl::string_view unit = absl::StripLeadingAsciiWhitespace(text.substr(digits));
  int shift = -1;
  for (auto [name, bits] : {std::pair{"", 0}, {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}}) {
    if (unit == name) shift = bits;
  }
  int64_t value = 0;
  if (shift < 0 || digits == 0 || !absl::SimpleAtoi(text.substr(0, digits), &value) ||
      value > (std::numeric_limits<int64_t>::max() >> shift)) {
    return Expected("a size in bytes like 65535, 512KiB, 8MiB or 1GiB (powers of 1024)", text);
  }
  return value << shift;
}

absl::StatusOr<std::string> ExpandEnv(absl::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text.substr(i, 3) == "$${") {
      out += "${";
      i += 3;
      continue;
    }
    if (text.substr(i, 2) != "${") {
      out += text[i++];
      continue;
    }
    const size_t close = text.find('}', i + 2);
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("unterminated ${ in ", Quote(text), " (write $${ for a literal ${)"));
    }
    const std::string name(text.substr(i + 2, close - i - 2));
    const bool valid = !name.empty() && !absl::ascii_isdigit(name[0]) &&
                       std::all_of(name.begin(), name.end(),
                                   [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
    if (!valid) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad environment variable name ", Quote(name), " in ", Quote(text)));
    }
    if (const char* value = std::getenv(name.c_str())) out += value;
    i = close + 1;
  }
  return out;
}

std::string EscapeEnv(absl::string_view value) {
  return absl::StrReplaceAll(value, {{"${", "$${"}});
}

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text) {
  auto error = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(why, ", got ", Quote(text)));
  };
  HostPort result;
  absl::string_view port;
  if (absl::StartsWith(text, "[")) {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos || text.substr(close + 1, 1) != ":") {
      return error("must be [ipv6]:port");
    }
    result.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
    // A zone ("fe80::1%eth0") is allowed; inet_pton does not know it.
    const std::string address = result.host.substr(0, result.host.find('%'));
    in6_addr unused;
    if (inet_pton(AF_INET6, address.c_str(), &unused) != 1) {
      return error("must be [ipv6]:port with a valid IPv6 address");
    }
  } else {
    const size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) return error("must be host:port");
    result.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (absl::StrContains(result.host, ':')) {
      return error("must be host:port; an IPv6 address needs brackets, as in [::1]:8125");
    }
    if (result.host.empty()) return error("must be host:port with a host (0.0.0.0 for any)");
    const bool looks_ipv4 = std::all_of(result.host.begin(), result.host.end(),
                                        [](char c) { return absl::ascii_isdigit(c) || c == '.'; });
    in_addr unused;
    if (looks_ipv4 ? inet_pton(AF_INET, result.host.c_str(), &unused) != 1
                   : !IsHostname(result.host)) {
      return error("must be host:port with a valid host name or IPv4 address");
    }
  }
  uint32_t number = 0;
  if (!IsDigits(port) || port.size() > 5 || !absl::SimpleAtoi(port, &number) || number > 65535) {
    return error("must end in a port 0..65535");
  }
  result.port = static_cast<uint16_t>(number);
  return result;
}

std::string Quote(absl::string_view text) { return absl::StrCat("\"", absl::CEscape(text), "\""); }

std::string FormatNumber(double value) {
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  for (int precision = 1; precision < 17; ++precision) {
    std::string text = absl::StrFormat("%.*g", precision, value);
    double back = 0;
    if (absl::SimpleAtod(text, &back) && back == value) return text;
  }
  return absl::StrFormat("%.17g", value);
}

std::string FormatSize(int64_t bytes) {
  for (auto [shift, unit] : {std::pair{30, "GiB"}, {20, "MiB"}, {10, "KiB"}}) {
    if (bytes != 0 && bytes % (int64_t{1} << shift) == 0) return absl::StrCat(bytes >> shift, unit);
  }
  return absl::StrCat(bytes);
}

// --- Kinds ------------------------------------------------------------------------------------

absl::Status Expected(absl::string_view what, absl::string_view text) {
  return absl::InvalidArgumentError(absl::StrCat("must be ", what, ", got ", Quote(text)));
}

absl::StatusOr<double> ParseNumber(absl::string_view text) {
  double value = 0;
  if (!absl::SimpleAtod(text, &value) || !std::isfinite(value)) return Expected("a number", text);
  return value;
}

absl::StatusOr<uint32_t> ParseMode(absl::string_view text) {
  absl::string_view digits = text;
  if (absl::StartsWith(digits, "0o") || absl::StartsWith(digits, "0O")) digits.remove_prefix(2);
  uint32_t mode = 0;
  const char* end = digits.data() + digits.size();
  if (auto [last, error] = std::from_chars(digits.data(), end, mode, 8);
      digits.empty() || error != std::errc() || last != end) {
    return Expected("an octal file mode like 0722", text);
  }
  return mode;
}

std::string FormatMode(uint32_t mode) { return absl::StrFormat("0%o", mode); }

absl::StatusOr<bool> ParseBool(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "true" || lower == "yes" || lower == "on" || lower == "1") return true;
  if (lower == "false" || lower == "no" || lower == "off" || lower == "0") return false;
  return Expected("true or false", text);
}

std::string FormatBool(bool value) { return value ? "true" : "false"; }

absl::StatusOr<std::string> ParseString(absl::string_view text) { return std::string(text); }
std::string FormatString(std::string text) { return text; }

}  // namespace tallyd
