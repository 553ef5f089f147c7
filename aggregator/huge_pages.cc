#include "aggregator/huge_pages.h"

#include <sys/mman.h>

#include <cstdlib>

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

}  // namespace tallyd::aggregator
