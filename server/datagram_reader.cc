#include "server/datagram_reader.h"

#include <fcntl.h>
#include <linux/sock_diag.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tallyd::server {
namespace {

void SetReceiveBuffer(int fd, int size) {
  if (size <= 0) return;
  // SO_RCVBUFFORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN; fall back quietly.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
}

// How much to read at the stop so that every datagram the socket holds now is read, while one
// that keeps arriving does not hold the stop (SPEC 1).
struct DrainBudget {
  size_t bytes = SIZE_MAX;
  size_t datagrams = SIZE_MAX;
};

DrainBudget QueuedNow(int fd, Transport transport) {
  DrainBudget budget;
  if (transport == Transport::kUnix) {
    // A Unix datagram is charged to its sender, not to the receiver's memory, but the receive
    // queue holds at most net.unix.max_dgram_qlen (+1) of them: senders wait beyond that.
    // Generously rounded up (the sysctl may have been lowered since the socket was made).
    size_t qlen = 0;
    std::ifstream("/proc/sys/net/unix/max_dgram_qlen") >> qlen;
    budget.datagrams = std::max<size_t>(qlen + 1, 1024);
    return budget;
  }
  // A UDP datagram is charged to the receiver at its true size (payload plus overhead), so the
  // payload of what is queued never exceeds the memory in use: reading that many bytes reads
  // all of it (and maybe some that came after, which is harmless).
  uint32_t meminfo[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof meminfo;
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, meminfo, &len) == 0 && len > SK_MEMINFO_RMEM_ALLOC) {
    budget.bytes = meminfo[SK_MEMINFO_RMEM_ALLOC];
    return budget;
  }
  int rcvbuf = 0;  // the most that can be queued
  len = sizeof rcvbuf;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len) == 0 && rcvbuf > 0) {
    budget.bytes = static_cast<size_t>(rcvbuf);
  }
  return budget;
}

}  // namespace

absl::StatusOr<int> OpenUdpSocket(const SocketAddress& address, int receive_buffer,
                                  PortSharing sharing) {
  std::string name = absl::StrCat("udp ", address.ToString());
  int fd = socket(address.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return SocketError(absl::StrCat(name, ": socket"), errno);
  int one = 1;
  if (sharing == PortSharing::kJoin) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (address.family() == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  SetReceiveBuffer(fd, receive_buffer);
  if (bind(fd, address.get(), address.length) != 0) {
    int err = errno;
    close(fd);
    return SocketError(name, err);
  }
  return fd;
}

absl::StatusOr<int> OpenUnixDatagramSocket(const std::string& path, int mode, int receive_buffer) {
  std::string name = absl::StrCat("unix ", path);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": path empty or too long"));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    // Replace a socket file left by a previous run; refuse to delete anything else.
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(name, ": exists and is not a socket"));
    }
    unlink(path.c_str());
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat(name, ": socket: ", std::strerror(errno)));
  SetReceiveBuffer(fd, receive_buffer);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat(name, ": ", std::strerror(err)));
  }
  if (chmod(path.c_str(), mode) != 0) {
    int err = errno;
    close(fd);
    return absl::InternalError(absl::StrCat(name, ": chmod: ", std::strerror(err)));
  }
  return fd;
}

DatagramReader::DatagramReader(uv_loop_t* loop, int fd, Transport transport, size_t max_packet_size,
                               DatagramSink* sink, IngestCounters* counters,
                               bool counts_kernel_drops)
    : fd_(fd),
      transport_(transport),
      max_packet_size_(max_packet_size),
      sink_(sink),
      counters_(counters),
      counts_kernel_drops_(counts_kernel_drops),
      buffers_(new char[kBatch * max_packet_size]),
      messages_(kBatch),
      iovecs_(kBatch) {
  uv_poll_init(loop, &poll_, fd_);
  poll_.data = this;
  for (int i = 0; i < kBatch; ++i) {
    iovecs_[i] = {buffers_.get() + i * max_packet_size_, max_packet_size_};
    std::memset(&messages_[i], 0, sizeof(mmsghdr));
    messages_[i].msg_hdr.msg_iov = &iovecs_[i];
    messages_[i].msg_hdr.msg_iovlen = 1;
  }
}

DatagramReader::~DatagramReader() {
  if (fd_ >= 0) close(fd_);
}

void DatagramReader::Start() {
  polling_ = true;
  uv_poll_start(&poll_, UV_READABLE, &DatagramReader::OnReadable);
}

void DatagramReader::OnReadable(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<DatagramReader*>(handle->data);
  // Bounded so that a flood cannot starve the loop's other handles (the flush hand-over).
  size_t unlimited = SIZE_MAX;
  self->ReadBatches(64, &unlimited, &unlimited);
}

bool DatagramReader::ReadBatches(int max_batches, size_t* bytes_left, size_t* datagrams_left) {
  for (int b = 0; b < max_batches; ++b) {
    if (*bytes_left == 0 || *datagrams_left == 0) return false;  // what the budget allowed, read
    const int want = static_cast<int>(std::min<size_t>(kBatch, *datagrams_left));
    for (int i = 0; i < want; ++i) messages_[i].msg_hdr.msg_flags = 0;
    int n = recvmmsg(fd_, messages_.data(), want, MSG_DONTWAIT, nullptr);
    if (n <= 0) return false;  // EAGAIN: another reader of a shared socket took them
    sink_->OnReceive();
    const int t = static_cast<int>(transport_);
    for (int i = 0; i < n; ++i) {
      const msghdr& hdr = messages_[i].msg_hdr;
      size_t len = messages_[i].msg_len;
      // An empty datagram still takes memory in the queue: count it as one byte.
      *bytes_left -= std::min(*bytes_left, std::max<size_t>(len, 1));
      counters_->packets[t].Add();
      counters_->bytes[t].Add(len);
      if (hdr.msg_flags & MSG_TRUNC) {
        counters_->packets_truncated[t].Add();
        continue;
      }
      sink_->OnData(std::string_view(static_cast<char*>(iovecs_[i].iov_base), len), transport_);
    }
    sink_->OnReceiveEnd();  // before the next recvmmsg reuses the buffers
    *datagrams_left -= std::min(*datagrams_left, static_cast<size_t>(n));
    if (n < want) return false;
  }
  return *bytes_left > 0 && *datagrams_left > 0;  // stopped by max_batches: there may be more
}

void DatagramReader::DrainAndClose() {
  if (polling_) uv_poll_stop(&poll_);
  polling_ = false;
  DrainBudget budget = QueuedNow(fd_, transport_);
  while (ReadBatches(1024, &budget.bytes, &budget.datagrams)) {
  }
  CollectKernelDrops();  // the last flush reports what was dropped since the one before
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), nullptr);
}

void DatagramReader::CollectKernelDrops() {
  if (!counts_kernel_drops_) return;
  uint32_t meminfo[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof meminfo;
  // A kernel without SK_MEMINFO_DROPS answers shorter than that: nothing to count then.
  if (getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, meminfo, &len) != 0 ||
      len < (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t)) {
    return;
  }
  const uint32_t total = meminfo[SK_MEMINFO_DROPS];
  if (total != kernel_drops_seen_) counters_->kernel_drops.Add(total - kernel_drops_seen_);
  kernel_drops_seen_ = total;
}

}  // namespace tallyd::server
