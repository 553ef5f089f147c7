// tests/backends/output_readers.h: each output checked by its real reader, for the backend tests
// and the end-to-end tests alike:
// - Prometheus text: `promtool check metrics` (Debian `prometheus`) must parse it, plus the
//   semantic checks Prometheus' parser leaves out (one family per sample name, one sample per
//   series, counters and summary/histogram sums finite);
// - JSON (Datadog bodies, console lines): nlohmann::json;
// - Carbon plaintext: carbon's own line receiver and TaggedSeries.parse (carbon_check.py).
// Each returns the problems found, empty when the reader accepts everything.
#ifndef TALLYD_TESTS_BACKENDS_OUTPUT_READERS_H_
#define TALLYD_TESTS_BACKENDS_OUTPUT_READERS_H_

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tallyd::testing {

inline constexpr char kPromtool[] = "/usr/bin/promtool";
inline constexpr char kSystemPython[] = "/usr/bin/python3";

struct CommandResult {
  int exit_status = -1;
  std::string output;  // stdout and stderr together
};

// Runs `command` through the shell with `input` on its stdin.
inline CommandResult RunWithInput(const std::string& command, const std::string& input) {
  char path[] = "/tmp/tallyd_reader_XXXXXX";
  int fd = mkstemp(path);
  CommandResult result;
  if (fd < 0) return result;
  for (size_t done = 0; done < input.size();) {
    ssize_t n = write(fd, input.data() + done, input.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(fd);
  FILE* pipe = popen(absl::StrCat(command, " < ", path, " 2>&1").c_str(), "r");
  if (pipe != nullptr) {
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
    int status = pclose(pipe);
    result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  unlink(path);
  return result;
}

inline bool PromtoolInstalled() { return access(kPromtool, X_OK) == 0; }

// promtool 2.42 `check metrics` exits 1 and prints "error while linting: text format parsing
// error ..." when the text does not parse; exit 3 with one line per finding is a lint warning
// (naming conventions such as a counter without "_total"), which tallyd cannot always follow
// since the names are the clients' (statsd_exporter's names have the same lint findings).
inline std::vector<std::string> PromtoolParseErrors(const std::string& exposition) {
  CommandResult result = RunWithInput(absl::StrCat(kPromtool, " check metrics"), exposition);
  std::vector<std::string> errors;
  if (result.exit_status == 1 || result.exit_status < 0 ||
      result.output.find("error while linting") != std::string::npos) {
    errors.push_back(absl::StrCat("promtool exit ", result.exit_status, ": ", result.output));
  }
  return errors;
}

namespace internal {

// One sample line of the text format that promtool already accepted: name, labels, value.
struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped
  std::string value;
};

inline bool ParseSample(std::string_view line, Sample* out) {
  size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  out->name = std::string(line.substr(0, i));
  out->labels.clear();
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      size_t equals = line.find('=', i);
      if (equals == std::string_view::npos || equals + 1 >= line.size()) return false;
      std::string name(line.substr(i, equals - i));
      i = equals + 2;  // past ="
      std::string value;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\' && i + 1 < line.size()) {
          ++i;
          value.push_back(line[i] == 'n' ? '\n' : line[i]);
        } else {
          value.push_back(line[i]);
        }
        ++i;
      }
      ++i;  // past the closing quote
      if (i < line.size() && line[i] == ',') ++i;
      out->labels.emplace_back(std::move(name), std::move(value));
    }
    ++i;  // past '}'
  }
  if (i >= line.size() || line[i] != ' ') return false;
  out->value = std::string(line.substr(i + 1));
  return true;
}

}  // namespace internal

// What Prometheus' text parser does not check but a scrape must hold: every sample name belongs
// to one family (a gauge "x_count" beside a summary "x" is a conflict), a series appears once,
// empty label values (which Prometheus reads as absent labels) do not make two series one, and
// counters, summary/histogram _sum and _count are finite.
inline std::vector<std::string> ExpositionProblems(const std::string& exposition) {
  std::vector<std::string> problems;
  std::map<std::string, std::string> family_type;
  std::map<std::string, std::string> sample_family;  // sample name -> family
  std::set<std::string> series;
  std::string family, type;
  for (const std::string& line :
       std::vector<std::string>(absl::StrSplit(exposition, '\n', absl::SkipEmpty()))) {
    if (line.starts_with("# TYPE ")) {
      std::vector<std::string> parts = absl::StrSplit(line.substr(7), ' ');
      if (parts.size() != 2) {
        problems.push_back(absl::StrCat("bad TYPE line: ", line));
        continue;
      }
      family = parts[0];
      type = parts[1];
      if (!family_type.emplace(family, type).second) {
        problems.push_back(absl::StrCat("family ", family, " typed twice"));
      }
      continue;
    }
    if (line.starts_with("#")) continue;
    internal::Sample sample;
    if (!internal::ParseSample(line, &sample)) {
      problems.push_back(absl::StrCat("unreadable sample: ", line.substr(0, 200)));
      continue;
    }
    std::string suffix;
    if (sample.name != family) {
      bool ok = false;
      for (std::string_view s : {"_sum", "_count", "_bucket"}) {
        if (sample.name == family + std::string(s) &&
            (type == "histogram" || (type == "summary" && s != "_bucket"))) {
          ok = true;
          suffix = s;
        }
      }
      if (!ok) {
        problems.push_back(absl::StrCat("sample ", sample.name.substr(0, 200),
                                        " outside its family ", family.substr(0, 200)));
      }
    }
    auto [owner, inserted] = sample_family.emplace(sample.name, family);
    if (!inserted && owner->second != family) {
      problems.push_back(absl::StrCat("sample name ", sample.name.substr(0, 200), " in families ",
                                      owner->second.substr(0, 200), " and ",
                                      family.substr(0, 200)));
    }
    std::vector<std::pair<std::string, std::string>> labels;
    std::set<std::string> names;
    for (auto& label : sample.labels) {
      if (!names.insert(label.first).second) {
        problems.push_back(absl::StrCat("label ", label.first, " twice in ", line.substr(0, 200)));
      }
      if (label.first == "__name__") {
        problems.push_back(absl::StrCat("__name__ label in ", line.substr(0, 200)));
      }
      if (!label.second.empty()) labels.push_back(label);  // "" means no label to Prometheus
    }
    std::sort(labels.begin(), labels.end());
    std::string identity = sample.name;
    for (const auto& [name, value] : labels) {
      absl::StrAppend(&identity, "\x1f", name, "\x1e", value);
    }
    if (!series.insert(identity).second) {
      problems.push_back(absl::StrCat("duplicate series: ", line.substr(0, 200)));
    }
    bool must_be_finite =
        type == "counter" || suffix == "_sum" || suffix == "_count" || suffix == "_bucket";
    if (must_be_finite) {
      char* end = nullptr;
      double value = std::strtod(sample.value.c_str(), &end);
      if (!std::isfinite(value) || (type == "counter" && value < 0)) {
        problems.push_back(absl::StrCat("value ", sample.value, " in ", line.substr(0, 200)));
      }
    }
  }
  return problems;
}

// Every problem a Prometheus reader would have with `exposition`.
inline std::vector<std::string> PrometheusProblems(const std::string& exposition) {
  std::vector<std::string> problems = PromtoolParseErrors(exposition);
  for (std::string& p : ExpositionProblems(exposition)) problems.push_back(std::move(p));
  return problems;
}

// `text` must be one JSON value (nlohmann, strict: no NaN, no control characters in strings,
// valid UTF-8). Numbers must be finite (nlohmann reads an overflowing literal as infinity).
inline std::vector<std::string> JsonProblems(const std::string& text) {
  std::vector<std::string> problems;
  try {
    nlohmann::json json = nlohmann::json::parse(text);
    std::vector<const nlohmann::json*> stack = {&json};
    while (!stack.empty()) {
      const nlohmann::json* value = stack.back();
      stack.pop_back();
      if (value->is_number_float() && !std::isfinite(value->get<double>())) {
        problems.push_back(absl::StrCat("non-finite number in ", text.substr(0, 200)));
      }
      if (value->is_null()) problems.push_back(absl::StrCat("null in ", text.substr(0, 200)));
      if (value->is_structured()) {
        for (const nlohmann::json& child : *value) stack.push_back(&child);
      }
    }
  } catch (const nlohmann::json::exception& e) {
    problems.push_back(absl::StrCat(e.what(), " in ", text.substr(0, 200)));
  }
  return problems;
}

// Each '\n'-terminated line of `lines` must be a JSON value (the console's format).
inline std::vector<std::string> JsonLinesProblems(const std::string& lines) {
  std::vector<std::string> problems;
  if (!lines.empty() && lines.back() != '\n') problems.push_back("output does not end in \\n");
  for (const std::string& line :
       std::vector<std::string>(absl::StrSplit(lines, '\n', absl::SkipEmpty()))) {
    for (std::string& p : JsonProblems(line)) problems.push_back(std::move(p));
  }
  return problems;
}

inline bool CarbonInstalled() {
  return RunWithInput(absl::StrCat(kSystemPython, " -c 'import carbon.protocols'"), "")
             .exit_status == 0;
}

// Carbon plaintext through carbon's own receiver (TALLYD_CARBON_CHECK names carbon_check.py).
inline std::vector<std::string> CarbonProblems(const std::string& plaintext,
                                               size_t* received = nullptr) {
  CommandResult result =
      RunWithInput(absl::StrCat(kSystemPython, " ", TALLYD_CARBON_CHECK), plaintext);
  std::vector<std::string> problems;
  std::vector<std::string> lines = absl::StrSplit(result.output, '\n', absl::SkipEmpty());
  if (received != nullptr) {
    *received = lines.empty() ? 0 : std::strtoul(lines.back().c_str(), nullptr, 10);
  }
  if (result.exit_status != 0) {
    lines.insert(lines.begin(), absl::StrCat("carbon_check.py exit ", result.exit_status));
    return lines;
  }
  return problems;
}

}  // namespace tallyd::testing

#endif  // TALLYD_TESTS_BACKENDS_OUTPUT_READERS_H_
