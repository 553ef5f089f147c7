// The kernel's own drop count for a UDP socket, for tests that check tallyd's count against it.
#ifndef TALLYD_TESTS_SERVER_PROC_NET_UDP_H_
#define TALLYD_TESTS_SERVER_PROC_NET_UDP_H_

#include <sys/stat.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tallyd::server {

inline ino_t InodeOf(int fd) {
  struct stat st;
  EXPECT_EQ(fstat(fd, &st), 0);
  return st.st_ino;
}

// The `drops` column (the last) of a UDP socket's /proc/net/udp line, by the socket's inode.
inline uint64_t ProcNetUdpDrops(ino_t inode) {
  std::ifstream in("/proc/net/udp");
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string w; fields >> w;) f.push_back(w);
    if (f.size() >= 13 && f[9] == std::to_string(inode)) return std::stoull(f.back());
  }
  ADD_FAILURE() << "inode " << inode << " not in /proc/net/udp";
  return 0;
}

}  // namespace tallyd::server

#endif  // TALLYD_TESTS_SERVER_PROC_NET_UDP_H_
