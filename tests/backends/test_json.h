// A minimal strict JSON parser for tests that check the bodies backends send (no JSON library is
// installed). Numbers are doubles; objects keep their members in order.
#ifndef TALLYD_TESTS_BACKENDS_TEST_JSON_H_
#define TALLYD_TESTS_BACKENDS_TEST_JSON_H_

#include <cctype>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tallyd::testing {

struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::vector<std::pair<std::string, Json>> object;

  bool Has(std::string_view key) const {
    for (const auto& [k, v] : object) {
      if (k == key) return true;
    }
    return false;
  }
  // A missing member or index reads as null.
  const Json& operator[](std::string_view key) const {
    for (const auto& [k, v] : object) {
      if (k == key) return v;
    }
    return Null();
  }
  const Json& operator[](size_t i) const { return i < array.size() ? array[i] : Null(); }
  size_t size() const { return type == Type::kObject ? object.size() : array.size(); }
  bool is_null() const { return type == Type::kNull; }

  static const Json& Null() {
    static const Json null;
    return null;
  }
};

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  std::optional<Json> Parse() {
    Json value;
    if (!Value(value)) return std::nullopt;
    Space();
    if (pos_ != text_.size()) return std::nullopt;
    return value;
  }

 private:
  void Space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool Literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool Value(Json& out) {
    Space();
    if (pos_ >= text_.size()) return false;
    char c = text_[pos_];
    if (c == '{') return Object(out);
    if (c == '[') return Array(out);
    if (c == '"') {
      out.type = Json::Type::kString;
      return String(out.string);
    }
    if (Literal("true")) {
      out.type = Json::Type::kBool;
      out.boolean = true;
      return true;
    }
    if (Literal("false")) {
      out.type = Json::Type::kBool;
      return true;
    }
    if (Literal("null")) return true;
    return Number(out);
  }
  bool Number(Json& out) {
    size_t start = pos_;
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    if (pos_ >= text_.size() || !std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      return false;
    }
    while (pos_ < text_.size() &&
           (std::isdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.' ||
            text_[pos_] == 'e' || text_[pos_] == 'E' || text_[pos_] == '+' || text_[pos_] == '-')) {
      ++pos_;
    }
    std::string digits(text_.substr(start, pos_ - start));
    char* end = nullptr;
    out.number = std::strtod(digits.c_str(), &end);
    out.type = Json::Type::kNumber;
    return end == digits.c_str() + digits.size();
  }
  bool String(std::string& out) {
    ++pos_;  // opening quote
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) return false;
      char e = text_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out.push_back(e);
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          if (pos_ + 4 > text_.size()) return false;
          unsigned code = std::stoul(std::string(text_.substr(pos_, 4)), nullptr, 16);
          pos_ += 4;
          if (code < 0x80) {
            out.push_back(static_cast<char>(code));
          } else if (code < 0x800) {
            out.push_back(static_cast<char>(0xc0 | (code >> 6)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
          } else {
            out.push_back(static_cast<char>(0xe0 | (code >> 12)));
            out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
          }
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }
  bool Array(Json& out) {
    out.type = Json::Type::kArray;
    ++pos_;
    Space();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      Json item;
      if (!Value(item)) return false;
      out.array.push_back(std::move(item));
      Space();
      if (pos_ >= text_.size()) return false;
      char c = text_[pos_++];
      if (c == ']') return true;
      if (c != ',') return false;
    }
  }
  bool Object(Json& out) {
    out.type = Json::Type::kObject;
    ++pos_;
    Space();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      Space();
      std::string key;
      if (pos_ >= text_.size() || text_[pos_] != '"' || !String(key)) return false;
      Space();
      if (pos_ >= text_.size() || text_[pos_++] != ':') return false;
      Json value;
      if (!Value(value)) return false;
      out.object.emplace_back(std::move(key), std::move(value));
      Space();
      if (pos_ >= text_.size()) return false;
      char c = text_[pos_++];
      if (c == '}') return true;
      if (c != ',') return false;
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

inline std::optional<Json> ParseJson(std::string_view text) { return JsonParser(text).Parse(); }

}  // namespace tallyd::testing

#endif  // TALLYD_TESTS_BACKENDS_TEST_JSON_H_
