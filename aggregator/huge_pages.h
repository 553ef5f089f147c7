// aggregator/huge_pages.h: allocation for the shard's big, randomly indexed arrays (table slots,
// cells). Blocks of 2 MiB and more are 2 MiB-aligned and advised for transparent huge
// pages, so a lookup into 100k+ series does not also pay a TLB miss (a nested page walk under
// virtualization) on every array it touches. Internal to aggregator/.
#ifndef TALLYD_AGGREGATOR_HUGE_PAGES_H_
#define TALLYD_AGGREGATOR_HUGE_PAGES_H_

#include <cstddef>
#include <new>

namespace tallyd::aggregator {

inline constexpr size_t kHugePageSize = size_t{2} << 20;

// Like malloc/free; blocks of at least kHugePageSize are mapped on their own, starting at a huge
// page boundary (glibc's aligned_alloc kept a huge page's worth of leading and trailing bytes
// mapped beside each: 2 MiB per table or cell array). `bytes` of the free is that of the
// allocation.
void* AllocateHugeAware(size_t bytes);
void FreeHugeAware(void* p, size_t bytes);
// Bytes mapped for the blocks of at least kHugePageSize now held (malloc's statistics do not
// see them).
size_t HugeAwareBytesMapped();

// A std::allocator that routes through AllocateHugeAware, for std::vector.
template <typename T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: allocators convert implicitly
  T* allocate(size_t n) {
    void* p = AllocateHugeAware(n * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) { FreeHugeAware(p, n * sizeof(T)); }
  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const {
    return true;
  }
};

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_HUGE_PAGES_H_
