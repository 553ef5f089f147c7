// tallyd_bench's main: Google Benchmark's, after the same malloc huge-page set-up as tallyd's
// (server/malloc_huge_pages.h), so the figures measure what the server runs. Set
// TALLYD_MALLOC_HUGEPAGES=0 to measure without it.
#include <benchmark/benchmark.h>

#include "server/malloc_huge_pages.h"

int main(int argc, char** argv) {
  tallyd::server::ReexecWithMallocHugePages(argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
