#include "server/malloc_huge_pages.h"

#include <gnu/libc-version.h>
#include <limits.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace tallyd::server {
namespace {

constexpr const char* kTunable = "glibc.malloc.hugetlb";

// The path of the running binary, as the kernel resolved it; "" if it cannot be read or the file
// was replaced or removed since (then only /proc/self/exe still reaches the image).
std::string OwnBinary() {
  char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return "";
  path[n] = '\0';
  std::string resolved(path, n);
  if (resolved.ends_with(" (deleted)") || access(path, X_OK) != 0) return "";
  return resolved;
}

// After an exec through /proc/self/exe the process is called "exe": take argv[0]'s name back.
void KeepName(const char* argv0) {
  std::string comm;
  std::getline(std::ifstream("/proc/self/comm"), comm);
  if (comm != "exe" || argv0 == nullptr) return;
  const char* slash = std::strrchr(argv0, '/');
  prctl(PR_SET_NAME, slash != nullptr ? slash + 1 : argv0, 0, 0, 0);  // cut to 15 by the kernel
}

}  // namespace

void ReexecWithMallocHugePages(char** argv) {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::string(tunables).find(kTunable) != std::string::npos) {
    KeepName(argv[0]);
    return;
  }
  if (const char* opt = std::getenv("TALLYD_MALLOC_HUGEPAGES"); opt != nullptr && opt[0] == '0') {
    return;
  }
  int major = 0, minor = 0;
  if (std::sscanf(gnu_get_libc_version(), "%d.%d", &major, &minor) != 2 ||
      major * 100 + minor < 235) {
    return;
  }
  std::string thp;
  std::getline(std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled"), thp);
  if (thp.empty() || thp.find("[never]") != std::string::npos) return;
  std::string value = tunables != nullptr && tunables[0] != '\0' ? std::string(tunables) + ":" : "";
  value += std::string(kTunable) + "=1";
  if (setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0) return;
  if (std::string binary = OwnBinary(); !binary.empty()) execv(binary.c_str(), argv);
  execv("/proc/self/exe", argv);  // the binary moved: its image is still there
  // Still here: run on as we are, without the tunable in the environment of our children.
  if (tunables != nullptr) {
    setenv("GLIBC_TUNABLES", tunables, 1);
  } else {
    unsetenv("GLIBC_TUNABLES");
  }
}

}  // namespace tallyd::server
