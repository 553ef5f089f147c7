#include "server/relay.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/socket_address.h"

namespace tallyd::server {

absl::StatusOr<std::unique_ptr<LineRelay>> LineRelay::Create(const RelayOptions& options,
                                                             IngestCounters* counters) {
  std::vector<int> fds;
  auto close_all = [&fds] {
    for (int fd : fds) close(fd);
  };
  for (const std::string& text : options.addresses) {
    absl::StatusOr<SocketAddress> address = ParseSocketAddress(text);
    if (!address.ok()) {
      close_all();
      return absl::InvalidArgumentError(
          absl::StrCat("relay ", text, ": ", address.status().message()));
    }
    const int fd = socket(address->family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, address->get(), address->length) != 0) {
      const int err = errno;
      if (fd >= 0) close(fd);
      close_all();
      return SocketError(absl::StrCat("relay ", text), err);
    }
    fds.push_back(fd);
  }
  return std::unique_ptr<LineRelay>(new LineRelay(options, std::move(fds), counters));
}

LineRelay::LineRelay(const RelayOptions& options, std::vector<int> fds, IngestCounters* counters)
    : options_(options),
      fds_(std::move(fds)),
      counters_(counters),
      bytes_(new char[options.packet_size * options.max_datagrams]),
      sizes_(options.max_datagrams, 0),
      lines_(options.max_datagrams, 0),
      long_lines_(options.max_datagrams),
      messages_(options.max_datagrams),
      iovecs_(options.max_datagrams) {}

LineRelay::~LineRelay() {
  for (int fd : fds_) close(fd);
}

void LineRelay::Add(std::string_view line) {
  const size_t packet = options_.packet_size;
  if (count_ != 0) {
    const size_t i = count_ - 1;
    // The open datagram takes the line if it (and its '\n') fits and it is not a long line's.
    if (long_lines_[i].empty() && sizes_[i] + 1 + line.size() <= packet) {
      char* p = bytes_.get() + i * packet + sizes_[i];
      *p = '\n';
      std::memcpy(p + 1, line.data(), line.size());
      sizes_[i] += 1 + line.size();
      ++lines_[i];
      return;
    }
  }
  if (count_ == options_.max_datagrams) Send();
  const size_t i = count_++;
  lines_[i] = 1;
  if (line.size() > packet) {
    long_lines_[i].assign(line.data(), line.size());  // keeps its capacity from use to use
    sizes_[i] = line.size();
    return;
  }
  std::memcpy(bytes_.get() + i * packet, line.data(), line.size());
  sizes_[i] = line.size();
}

void LineRelay::Send() {
  if (count_ == 0) return;
  mmsghdr* const messages = messages_.data();
  iovec* const iovecs = iovecs_.data();
  uint64_t lines = 0;
  for (size_t i = 0; i < count_; ++i) {
    iovecs[i].iov_base =
        long_lines_[i].empty() ? bytes_.get() + i * options_.packet_size : long_lines_[i].data();
    iovecs[i].iov_len = sizes_[i];
    std::memset(&messages[i], 0, sizeof(messages[i]));
    messages[i].msg_hdr.msg_iov = &iovecs[i];
    messages[i].msg_hdr.msg_iovlen = 1;
    lines += lines_[i];
  }
  for (int fd : fds_) {
    size_t sent = 0;
    while (sent < count_) {
      const int n = sendmmsg(fd, messages + sent, static_cast<unsigned>(count_ - sent), 0);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        break;  // would block, receiver gone (ECONNREFUSED), ...: drop the rest
      }
      sent += static_cast<size_t>(n);
    }
    uint64_t sent_lines = 0;
    for (size_t i = 0; i < sent; ++i) sent_lines += lines_[i];
    counters_->relay_datagrams.Add(sent);
    counters_->relay_lines.Add(sent_lines);
    if (sent_lines != lines) counters_->relay_dropped_lines.Add(lines - sent_lines);
  }
  for (size_t i = 0; i < count_; ++i) long_lines_[i].clear();
  count_ = 0;
}

void LineRelay::Attach(uv_loop_t* loop) {
  uv_check_init(loop, &check_);
  check_.data = this;
  uv_check_start(&check_,
                 [](uv_check_t* handle) { static_cast<LineRelay*>(handle->data)->Send(); });
  attached_ = true;
}

void LineRelay::Close() {
  Send();
  if (!attached_) return;
  uv_check_stop(&check_);
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
  attached_ = false;
}

}  // namespace tallyd::server
