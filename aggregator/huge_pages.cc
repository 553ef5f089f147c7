#include "aggregator/huge_pages.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>

namespace tallyd::aggregator {
namespace {

std::atomic<size_t> huge_bytes{0};

// Whole pages, not whole huge pages: the last part of a huge page is left to small pages rather
// than mapped and counted in full (8 MB of cells would map 8.4).
size_t Rounded(size_t bytes) {
  constexpr size_t kPage = 4096;
  return (bytes + kPage - 1) & ~(kPage - 1);
}

}  // namespace

void* AllocateHugeAware(size_t bytes) {
  if (bytes < kHugePageSize) return std::malloc(bytes == 0 ? 1 : bytes);
  const size_t size = Rounded(bytes);
  // One huge page more than needed, then the head before the huge-page boundary and the tail
  // unmapped.
  void* p = mmap(nullptr, size + kHugePageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  if (p == MAP_FAILED) return nullptr;
  const auto base = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = (base + kHugePageSize - 1) & ~(kHugePageSize - 1);
  if (aligned > base) munmap(p, aligned - base);
  const uintptr_t end = base + size + kHugePageSize;
  if (end > aligned + size) munmap(reinterpret_cast<void*>(aligned + size), end - aligned - size);
  // Best effort: without THP (or with it disabled) this is an ordinary mapping.
  madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);
  huge_bytes.fetch_add(size, std::memory_order_relaxed);
  return reinterpret_cast<void*>(aligned);
}

void FreeHugeAware(void* p, size_t bytes) {
  if (bytes < kHugePageSize) {
    std::free(p);
    return;
  }
  if (p == nullptr) return;
  munmap(p, Rounded(bytes));
  huge_bytes.fetch_sub(Rounded(bytes), std::memory_order_relaxed);
}

size_t HugeAwareBytesMapped() { return huge_bytes.load(std::memory_order_relaxed); }

}  // namespace tallyd::aggregator
