// tallyd-sink: the ceiling a StatsD receiver can approach on this machine. It reads UDP datagrams
// with recvmmsg exactly as a receiver would (64 per call, 64 KiB each, one blocking socket) and
// only counts their lines (newlines + 1 per datagram, as the load generator sends no trailing
// newline); it parses and aggregates nothing. bench/e2e runs it beside tallyd and Etsy statsd.
//
//   tallyd-sink [--udp=127.0.0.1:0] [--receive_buffer=8388608] [--ports_file=PATH]
//
// On SIGTERM or SIGINT it reads what the socket still holds, prints one line
// ("sink lines=N datagrams=N bytes=N") and exits 0. On SIGUSR1 it prints the same line for what
// it has read so far (once the socket is drained, that is all it was sent, less kernel drops) and
// goes on: bench/e2e's warm-up reads it before the measured run.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

volatile sig_atomic_t stop = 0;
volatile sig_atomic_t report = 0;

void OnSignal(int) { stop = 1; }
void OnReport(int) { report = 1; }

constexpr int kBatch = 64;
constexpr size_t kDatagramBytes = 65536;

struct Counts {
  uint64_t lines = 0, datagrams = 0, bytes = 0;
};

void Print(const Counts& counts) {
  std::printf("sink lines=%llu datagrams=%llu bytes=%llu\n",
              static_cast<unsigned long long>(counts.lines),
              static_cast<unsigned long long>(counts.datagrams),
              static_cast<unsigned long long>(counts.bytes));
  std::fflush(stdout);
}

// One recvmmsg call; returns false when nothing was read (EINTR, EAGAIN).
bool ReadBatch(int fd, int flags, std::vector<mmsghdr>& msgs, Counts& counts) {
  const int n = recvmmsg(fd, msgs.data(), kBatch, flags, nullptr);
  if (n <= 0) return false;
  for (int i = 0; i < n; ++i) {
    const auto* data = static_cast<const char*>(msgs[i].msg_hdr.msg_iov->iov_base);
    const size_t size = msgs[i].msg_len;
    counts.lines += static_cast<uint64_t>(std::count(data, data + size, '\n')) + (size ? 1 : 0);
    counts.bytes += size;
  }
  counts.datagrams += static_cast<uint64_t>(n);
  return true;
}

int Run(std::string_view host, int port, int receive_buffer, const char* ports_file) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, std::string(host).c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "--udp: want an IPv4 host:port\n");
    return 2;
  }
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  // As tallyd: SO_RCVBUFFORCE past net.core.rmem_max when allowed, SO_RCVBUF otherwise.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer, sizeof receive_buffer) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("bind");
    return 1;
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (ports_file != nullptr) {
    const std::string tmp = std::string(ports_file) + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) return 1;
    std::fprintf(f, "udp %.*s:%d\n", static_cast<int>(host.size()), host.data(),
                 ntohs(addr.sin_port));
    std::fclose(f);
    std::rename(tmp.c_str(), ports_file);
  }

  struct sigaction action {};
  action.sa_handler = OnSignal;  // no SA_RESTART: the blocking recvmmsg returns EINTR
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  struct sigaction report_action {};
  report_action.sa_handler = OnReport;
  sigaction(SIGUSR1, &report_action, nullptr);

  std::vector<char> buffer(kBatch * kDatagramBytes);
  std::vector<iovec> iov(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  for (int i = 0; i < kBatch; ++i) {
    iov[i] = {buffer.data() + i * kDatagramBytes, kDatagramBytes};
    msgs[i].msg_hdr = {};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  Counts counts;
  while (!stop) {
    if (!ReadBatch(fd, MSG_WAITFORONE, msgs, counts) && errno != EINTR) {
      std::perror("recvmmsg");
      return 1;
    }
    if (report) {
      report = 0;
      Print(counts);
    }
  }
  while (ReadBatch(fd, MSG_DONTWAIT, msgs, counts)) {
  }
  Print(counts);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string udp = "127.0.0.1:0";
  int receive_buffer = 8 << 20;
  const char* ports_file = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.rfind("--udp=", 0) == 0) {
      udp = arg.substr(6);
    } else if (arg.rfind("--receive_buffer=", 0) == 0) {
      receive_buffer = std::atoi(argv[i] + 17);
    } else if (arg.rfind("--ports_file=", 0) == 0) {
      ports_file = argv[i] + 13;
    } else {
      std::fprintf(stderr,
                   "usage: tallyd-sink [--udp=127.0.0.1:0] [--receive_buffer=BYTES] "
                   "[--ports_file=PATH]\n");
      return 2;
    }
  }
  const size_t colon = udp.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "--udp: want host:port\n");
    return 2;
  }
  return Run(std::string_view(udp).substr(0, colon), std::atoi(udp.c_str() + colon + 1),
             receive_buffer, ports_file);
}
