// aggregator/key_arena.h: the memory of SeriesKey blocks (internal to aggregator/). A million
// series are a million blocks of 40-200 bytes, allocated when a series is created and freed by
// whichever thread drops the last reference (a shard, the flush side, a backend's snapshot).
// malloc adds an 8-byte chunk header to each and rounds it to 16 bytes (~15 B a block); here a
// block costs its size rounded to 8.
//
// Blocks come in 8-byte size classes from 64 KiB runs, each run serving one class, carved from
// 2 MiB regions advised for huge pages (lines reach keys in random order: see
// server/malloc_huge_pages.h). A freed block is reused by its run; a run whose blocks are all
// free goes back to a list of free runs that any class takes from, so the arena holds at most
// the peak of its live blocks' runs plus one partly used run per class. Regions are kept for the
// process's life. One mutex, taken when a key is created or freed, never on the hot path
// (lookups of known series read the blocks only). Blocks above kMaxBlock go to malloc.
#ifndef TALLYD_AGGREGATOR_KEY_ARENA_H_
#define TALLYD_AGGREGATOR_KEY_ARENA_H_

#include <cstddef>

namespace tallyd::aggregator {

class KeyArena {
 public:
  static constexpr size_t kMaxBlock = 1024;
  static constexpr size_t kRunBytes = size_t{64} << 10;
  static constexpr size_t kRegionBytes = size_t{2} << 20;

  // `bytes` > 0; 8-aligned. Any thread. Throws std::bad_alloc when memory is exhausted.
  static void* Allocate(size_t bytes);
  // `bytes` as given to Allocate. Any thread.
  static void Free(void* block, size_t bytes);

  struct Stats {
    size_t mapped_bytes = 0;  // regions (address space; resident once touched)
    size_t runs_in_use = 0;   // runs holding at least one live block
    size_t blocks_live = 0;   // blocks handed out from runs (not the malloc'd large ones)
    size_t bytes_live = 0;    // their sizes, rounded to the class
  };
  static Stats stats();
};

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_KEY_ARENA_H_
