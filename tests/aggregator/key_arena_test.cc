// The key blocks' arena: 8-byte size classes, freed blocks reused, empty runs shared between
// classes (memory bounded by the peak), large blocks from malloc, safe from any thread.
#include "aggregator/key_arena.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

namespace tallyd::aggregator {
namespace {

TEST(KeyArenaTest, BlocksOfEveryClassAreDistinctAlignedAndKeepTheirBytes) {
  const KeyArena::Stats before = KeyArena::stats();
  std::vector<std::pair<char*, size_t>> blocks;
  for (size_t size = 8; size <= KeyArena::kMaxBlock; size += 8) {
    for (int i = 0; i < 3; ++i) {
      auto* p = static_cast<char*>(KeyArena::Allocate(size));
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 8, 0u);
      std::memset(p, static_cast<int>(size / 8 + i), size);
      blocks.emplace_back(p, size);
    }
  }
  EXPECT_EQ(KeyArena::stats().blocks_live, before.blocks_live + blocks.size());
  std::set<char*> seen;
  for (auto [p, size] : blocks) {
    EXPECT_TRUE(seen.insert(p).second);
    const int i = static_cast<int>(seen.size() - 1) % 3;
    for (size_t b = 0; b < size; ++b) {
      ASSERT_EQ(p[b], static_cast<char>(size / 8 + i)) << size << " " << b;
    }
  }
  for (auto [p, size] : blocks) KeyArena::Free(p, size);
  EXPECT_EQ(KeyArena::stats().blocks_live, before.blocks_live);
  EXPECT_EQ(KeyArena::stats().bytes_live, before.bytes_live);
}

TEST(KeyArenaTest, SizesRoundToEightBytesAndFreedBlocksAreReused) {
  const KeyArena::Stats before = KeyArena::stats();
  void* a = KeyArena::Allocate(61);
  EXPECT_EQ(KeyArena::stats().bytes_live, before.bytes_live + 64);  // malloc: 80
  KeyArena::Free(a, 61);
  void* b = KeyArena::Allocate(64);  // the same class
  EXPECT_EQ(b, a);
  KeyArena::Free(b, 64);
}

TEST(KeyArenaTest, EmptyRunsServeOtherClassesSoMemoryIsBoundedByThePeak) {
  // Many runs' worth of one class, all freed, then as much of another class: no new region.
  const size_t n = 8 * KeyArena::kRunBytes / 64;
  std::vector<void*> blocks;
  for (size_t i = 0; i < n; ++i) blocks.push_back(KeyArena::Allocate(64));
  const KeyArena::Stats peak = KeyArena::stats();
  for (void* p : blocks) KeyArena::Free(p, 64);
  EXPECT_LE(KeyArena::stats().runs_in_use + 8, peak.runs_in_use);
  blocks.clear();
  for (size_t i = 0; i < n / 4; ++i) blocks.push_back(KeyArena::Allocate(128));
  EXPECT_EQ(KeyArena::stats().mapped_bytes, peak.mapped_bytes);
  for (void* p : blocks) KeyArena::Free(p, 128);
}

TEST(KeyArenaTest, LargeBlocksComeFromMalloc) {
  const KeyArena::Stats before = KeyArena::stats();
  auto* p = static_cast<char*>(KeyArena::Allocate(KeyArena::kMaxBlock + 8));
  std::memset(p, 1, KeyArena::kMaxBlock + 8);
  EXPECT_EQ(KeyArena::stats().blocks_live, before.blocks_live);
  KeyArena::Free(p, KeyArena::kMaxBlock + 8);
}

// Keys are created on workers and freed wherever their last reference goes.
TEST(KeyArenaTest, ThreadsAllocateAndFreeEachOthersBlocks) {
  const KeyArena::Stats before = KeyArena::stats();
  constexpr int kThreads = 4, kBlocks = 20000;
  std::vector<std::vector<void*>> made(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&made, t] {
      for (int i = 0; i < kBlocks; ++i) {
        const size_t size = 24 + 8 * ((i * 7 + t) % 20);
        auto* p = static_cast<uint64_t*>(KeyArena::Allocate(size));
        p[0] = size;
        made[t].push_back(p);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  threads.clear();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&made, t] {  // each frees another's blocks
      for (void* p : made[(t + 1) % kThreads]) KeyArena::Free(p, *static_cast<uint64_t*>(p));
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(KeyArena::stats().blocks_live, before.blocks_live);
  EXPECT_EQ(KeyArena::stats().bytes_live, before.bytes_live);
}

}  // namespace
}  // namespace tallyd::aggregator
