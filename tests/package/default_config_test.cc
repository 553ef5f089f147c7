// The packaged /etc/tallyd/tallyd.yaml (debian/default-config.py run on the tallyd binary, as
// debian/rules does) is the binary's defaults: every key is in it, and with each line's first
// `#` removed it loads to exactly the config tallyd runs on without a file.
#include <stdio.h>

#include <array>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "config/config.h"
#include "config/keys.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tallyd {
namespace {

using ::testing::IsEmpty;

// The generator's output for the tallyd binary of this build.
std::string PackagedConfig() {
  std::string command =
      std::string("/usr/bin/python3 ") + TALLYD_DEFAULT_CONFIG_PY + " " + TALLYD_BINARY;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  std::string text;
  std::array<char, 4096> buffer;
  for (size_t n; (n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0;)
    text.append(buffer.data(), n);
  EXPECT_EQ(pclose(pipe), 0) << command;
  return text;
}

// Removes the first character of each line: the `#` that comments every line of the file.
std::string Uncomment(const std::string& text) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    EXPECT_TRUE(line.empty() || line[0] == '#') << "not commented out: " << line;
    if (!line.empty()) line.remove_prefix(1);
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

TEST(PackagedConfigTest, AsShippedIsTheDefaults) {
  std::string text = PackagedConfig();
  ASSERT_FALSE(text.empty());
  absl::StatusOr<Config> shipped = ParseConfigYaml(text, "tallyd.yaml");
  ASSERT_TRUE(shipped.ok()) << shipped.status();
  absl::StatusOr<Config> defaults = LoadConfig(CommandLine{});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_THAT(ChangedKeys(*defaults, *shipped), IsEmpty());
}

TEST(PackagedConfigTest, UncommentedHoldsEveryKeyAtItsDefault) {
  std::string yaml = Uncomment(PackagedConfig());
  ConfigOrigins origins;
  absl::StatusOr<Config> uncommented = ParseConfigYaml(yaml, "tallyd.yaml", &origins);
  ASSERT_TRUE(uncommented.ok()) << uncommented.status() << "\n" << yaml;
  absl::StatusOr<Config> defaults = LoadConfig(CommandLine{});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_THAT(ChangedKeys(*defaults, *uncommented), IsEmpty()) << yaml;
  for (const config_internal::Key& key : config_internal::Keys()) {
    EXPECT_TRUE(origins.where.contains(key.path)) << key.path << " is missing from the file";
  }
}

}  // namespace
}  // namespace tallyd
