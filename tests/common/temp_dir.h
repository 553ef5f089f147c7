// tests/common/temp_dir.h: scratch files for any test, unit or end-to-end: a directory removed
// with its contents at destruction, and whole-file reads and writes. Tests that hand a path to
// the code under test (a config or mapping file, a Unix socket) write it here.
#ifndef TALLYD_TESTS_COMMON_TEMP_DIR_H_
#define TALLYD_TESTS_COMMON_TEMP_DIR_H_

#include <string>

namespace tallyd::testing {

// A fresh directory under the system's temp directory, removed at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The whole file ("" if it cannot be read).
std::string ReadFile(const std::string& path);
// Replaces the file's contents with `text`.
void WriteFile(const std::string& path, const std::string& text);

}  // namespace tallyd::testing

#endif  // TALLYD_TESTS_COMMON_TEMP_DIR_H_
