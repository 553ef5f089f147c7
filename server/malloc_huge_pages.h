// Huge pages for malloc, from main(): glibc reads GLIBC_TUNABLES only at process start, so
// tallyd re-executes itself once with the tunable added. The aggregator's own large arrays are
// advised for huge pages by aggregator/huge_pages.h; this covers the many small key blocks that
// malloc hands out (see below).
#ifndef TALLYD_SERVER_MALLOC_HUGE_PAGES_H_
#define TALLYD_SERVER_MALLOC_HUGE_PAGES_H_

namespace tallyd::server {

// The series' key blocks are malloc'd one by one (they are shared across threads and freed by
// whichever drops them last), and lines reach them in random order. On 4 KiB pages that is a TLB
// miss per line past ~100k series; glibc >= 2.35 can advise its own heaps for transparent huge
// pages, but reads that setting (GLIBC_TUNABLES=glibc.malloc.hugetlb=1) only at process start.
// This re-executes the program once (same binary, same argv, same pid) with the tunable added.
// It returns without doing anything when the tunable is already set, TALLYD_MALLOC_HUGEPAGES=0,
// THP is "never", glibc is older, or the exec fails. Call it first thing in main(), before any
// thread or file descriptor exists that an exec would lose.
//
// The process keeps its name (SPEC 1: ps, pidof, systemd): the exec names the binary's own path,
// not /proc/self/exe (the kernel names a process after the file it executes, here "exe").
void ReexecWithMallocHugePages(char** argv);

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_MALLOC_HUGE_PAGES_H_
