// JSON for the tests that check the bodies backends send: nlohmann::json (Debian
// nlohmann-json3-dev), strict as Datadog's intake is (no NaN, valid UTF-8, no trailing text).
#ifndef TALLYD_TESTS_BACKENDS_TEST_JSON_H_
#define TALLYD_TESTS_BACKENDS_TEST_JSON_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

namespace tallyd::testing {

using Json = nlohmann::json;

// The value `text` holds, or nullopt when it is not exactly one JSON value.
inline std::optional<Json> ParseJson(std::string_view text) {
  Json json = Json::parse(text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return std::nullopt;
  return json;
}

}  // namespace tallyd::testing

#endif  // TALLYD_TESTS_BACKENDS_TEST_JSON_H_
