#include "aggregator/key_arena.h"

#include <sys/mman.h>

#include <cstdint>
#include <mutex>
#include <new>

namespace tallyd::aggregator {
namespace {

constexpr size_t kGrain = 8;
constexpr size_t kClasses = KeyArena::kMaxBlock / kGrain + 1;  // class c: blocks of c * 8 bytes

// The head of each run (kRunBytes-aligned, so a block finds its run by masking its address).
struct Run {
  Run* prev = nullptr;  // in its class's list of runs with room (or the free runs' list)
  Run* next = nullptr;
  void* free = nullptr;  // freed blocks of this run, each holding the next one's address
  uint32_t bump = 0;     // offset of the first block never handed out
  uint32_t live = 0;     // blocks handed out and not freed
  uint32_t block = 0;    // this run's block size
  bool listed = false;   // in its class's list (it has room)
};
constexpr uint32_t kRunHeader = 64;  // a cache line: blocks do not share the header's line
static_assert(sizeof(Run) <= kRunHeader);

class Arena {
 public:
  void* Allocate(size_t bytes) {
    const size_t cls = (bytes + kGrain - 1) / kGrain;
    std::lock_guard lock(mu_);
    Run*& head = classes_[cls];
    Run* run = head;
    if (run == nullptr) {
      run = NewRun(static_cast<uint32_t>(cls * kGrain));
      Link(head, run);
    }
    void* block;
    if (run->free != nullptr) {
      block = run->free;
      run->free = *static_cast<void**>(block);
    } else {
      block = reinterpret_cast<char*>(run) + run->bump;
      run->bump += run->block;
    }
    ++run->live;
    ++stats_.blocks_live;
    stats_.bytes_live += run->block;
    if (run->free == nullptr && run->bump + run->block > KeyArena::kRunBytes) Unlink(head, run);
    return block;
  }

  void Free(void* block, size_t bytes) {
    Run* run =
        reinterpret_cast<Run*>(reinterpret_cast<uintptr_t>(block) & ~(KeyArena::kRunBytes - 1));
    const size_t cls = (bytes + kGrain - 1) / kGrain;
    std::lock_guard lock(mu_);
    *static_cast<void**>(block) = run->free;
    run->free = block;
    --run->live;
    --stats_.blocks_live;
    stats_.bytes_live -= run->block;
    Run*& head = classes_[cls];
    if (run->live == 0) {
      // Empty: any class may take it next (its blocks' bytes are stale, never read).
      if (run->listed) Unlink(head, run);
      run->next = free_runs_;
      free_runs_ = run;
      --stats_.runs_in_use;
    } else if (!run->listed) {
      Link(head, run);
    }
  }

  KeyArena::Stats stats() {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  static void Link(Run*& head, Run* run) {
    run->prev = nullptr;
    run->next = head;
    if (head != nullptr) head->prev = run;
    head = run;
    run->listed = true;
  }
  static void Unlink(Run*& head, Run* run) {
    if (run->prev != nullptr) {
      run->prev->next = run->next;
    } else {
      head = run->next;
    }
    if (run->next != nullptr) run->next->prev = run->prev;
    run->prev = run->next = nullptr;
    run->listed = false;
  }

  Run* NewRun(uint32_t block) {
    Run* run = free_runs_;
    if (run != nullptr) {
      free_runs_ = run->next;
    } else {
      if (region_next_ == region_end_) NewRegion();
      run = reinterpret_cast<Run*>(region_next_);
      region_next_ += KeyArena::kRunBytes;
    }
    new (run) Run();
    run->bump = kRunHeader;
    run->block = block;
    ++stats_.runs_in_use;
    return run;
  }

  // A kRegionBytes-aligned region straight from mmap (malloc's aligned allocation would keep
  // up to a region's worth of leading bytes mapped beside it).
  void NewRegion() {
    const size_t size = KeyArena::kRegionBytes;
    void* p = mmap(nullptr, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    const auto base = reinterpret_cast<uintptr_t>(p);
    const uintptr_t aligned = (base + size - 1) & ~(size - 1);
    if (aligned > base) munmap(p, aligned - base);
    if (base + 2 * size > aligned + size) {
      munmap(reinterpret_cast<void*>(aligned + size), base + 2 * size - (aligned + size));
    }
    // Best effort: without THP this is an ordinary mapping.
    madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);
    region_next_ = reinterpret_cast<char*>(aligned);
    region_end_ = region_next_ + size;
    stats_.mapped_bytes += size;
  }

  std::mutex mu_;
  Run* classes_[kClasses] = {};  // per class, the runs with room
  Run* free_runs_ = nullptr;     // empty runs, for any class
  char* region_next_ = nullptr;  // the current region's runs not yet handed out
  char* region_end_ = nullptr;
  KeyArena::Stats stats_;
};

// Never destroyed: keys may be released during static destruction (a static SeriesKeyRef).
Arena& TheArena() {
  static Arena* const arena = new Arena();
  return *arena;
}

}  // namespace

void* KeyArena::Allocate(size_t bytes) {
  if (bytes > kMaxBlock) return ::operator new(bytes);
  return TheArena().Allocate(bytes);
}

void KeyArena::Free(void* block, size_t bytes) {
  if (bytes > kMaxBlock) {
    ::operator delete(block);
    return;
  }
  TheArena().Free(block, bytes);
}

KeyArena::Stats KeyArena::stats() { return TheArena().stats(); }

}  // namespace tallyd::aggregator
