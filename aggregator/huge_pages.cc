#include "aggregator/huge_pages.h"

#include <gnu/libc-version.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace tallyd::aggregator {

void* AllocateHugeAware(size_t bytes) {
  if (bytes < kHugePageSize) return std::malloc(bytes == 0 ? 1 : bytes);
  const size_t rounded = (bytes + kHugePageSize - 1) & ~(kHugePageSize - 1);
  void* p = std::aligned_alloc(kHugePageSize, rounded);
  // Best effort: without THP (or with it disabled) this is an ordinary allocation.
  if (p != nullptr) madvise(p, rounded, MADV_HUGEPAGE);
  return p;
}

void FreeHugeAware(void* p) { std::free(p); }

void ReexecWithMallocHugePages(char** argv) {
  constexpr const char* kTunable = "glibc.malloc.hugetlb";
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::string(tunables).find(kTunable) != std::string::npos) return;
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
  execv("/proc/self/exe", argv);
  // Still here: run on as we are, without the tunable in the environment of our children.
  if (tunables != nullptr) {
    setenv("GLIBC_TUNABLES", tunables, 1);
  } else {
    unsetenv("GLIBC_TUNABLES");
  }
}

}  // namespace tallyd::aggregator
