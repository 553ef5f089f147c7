#include "tests/e2e/mapped_tallyd.h"

#include <gtest/gtest.h>

#include <utility>

#include "absl/strings/str_split.h"
#include "tests/backends/output_readers.h"

namespace tallyd::testing {
namespace {

std::string WrittenTo(const std::string& path, const std::string& text) {
  WriteFile(path, text);
  return path;
}

std::vector<std::string> ArgsFor(const std::string& mapping_path, std::vector<std::string> extra) {
  std::vector<std::string> args = {"--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0",
                                   "--flush_interval=200ms", "--mapping_file=" + mapping_path};
  for (std::string& arg : extra) args.push_back(std::move(arg));
  return args;
}

}  // namespace

std::optional<std::string> SampleValue(const std::string& exposition, const std::string& name,
                                       const Labels& labels) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    internal::Sample s;
    if (!internal::ParseSample(std::string_view(line.data(), line.size()), &s)) continue;
    if (s.name != name) continue;
    Labels got(s.labels.begin(), s.labels.end());
    if (got == labels) return s.value;
  }
  return std::nullopt;
}

// The file is written before the process starts: members are built in declaration order.
MappedTallyd::MappedTallyd(const std::string& mapping, std::vector<std::string> extra_args)
    : mapping_path_(WrittenTo(dir_.File("mapping.yml"), mapping)),
      process_(ArgsFor(mapping_path_, std::move(extra_args))) {}

void MappedTallyd::WriteMapping(const std::string& mapping) const {
  WriteFile(mapping_path_, mapping);
}

void MappedTallyd::Send(const std::string& payload) { SendUdp(process_.Address("udp"), payload); }

std::string MappedTallyd::Scrape() {
  return HttpGet("http://" + process_.Address("prometheus") + "/metrics");
}

std::string MappedTallyd::ScrapeUntil(const std::string& payload,
                                      const std::function<bool(const std::string&)>& ready) {
  std::string body;
  int attempt = 0;
  EXPECT_TRUE(WaitFor([&] {
    std::string sent = payload;
    if (size_t at = sent.find("%d"); at != std::string::npos) {
      sent.replace(at, 2, std::to_string(attempt++));
    }
    if (!sent.empty()) Send(sent);
    body = Scrape();
    return ready(body);
  })) << body
      << process_.Stderr();
  return body;
}

}  // namespace tallyd::testing
