#include "backends/graphite.h"

#include <errno.h>
#include <fcntl.h>
#include <glog/logging.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tallyd::backends {
namespace {

// One send() at most this much, so the acknowledged count is sampled often on big flushes.
constexpr size_t kMaxWriteChunk = 256 << 10;

// poll() timeout for the time left until `deadline`, rounded up so we never spin on 0.
int PollMillis(absl::Time deadline, absl::Time now) {
  absl::Duration left = deadline - now;
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
}

}  // namespace

void GraphitePayload::Reset(GraphiteChunkSource* source) {
  source_ = source;
  chunk_.clear();
  chunk_start_ = 0;
  exhausted_ = source_ == nullptr;
  sent_ = 0;
  acknowledged_ = 0;
  if (source_ != nullptr) source_->Restart();
}

void GraphitePayload::LoadPast(size_t offset) {
  while (chunk_end() <= offset && !exhausted_) {
    chunk_start_ = chunk_end();
    if (!source_->Next(chunk_)) {
      chunk_.clear();
      exhausted_ = true;
    }
  }
}

std::string_view GraphitePayload::unsent() {
  LoadPast(sent_);
  return std::string_view(chunk_).substr(sent_ - chunk_start_);
}

void GraphitePayload::Sent(size_t n) {
  LoadPast(sent_);
  sent_ = std::min(chunk_end(), sent_ + n);
}

void GraphitePayload::Unacknowledged(size_t unacknowledged) {
  size_t acked = sent_ - std::min(sent_, unacknowledged);
  acknowledged_ = std::max(acknowledged_, acked);
}

void GraphitePayload::Rewind() {
  size_t start = 0;
  if (acknowledged_ > 0) {
    if (acknowledged_ < chunk_start_) {
      // The line is in a chunk already let go: produce the chunks again up to it.
      source_->Restart();
      chunk_.clear();
      chunk_start_ = 0;
      exhausted_ = false;
    }
    // The chunk holding the first unacknowledged byte (or the end of the last chunk).
    LoadPast(acknowledged_);
    // The start of the line holding that byte; a chunk starts at a line start.
    size_t within = std::min(acknowledged_ - chunk_start_, chunk_.size());
    size_t newline = std::string_view(chunk_).substr(0, within).rfind('\n');
    start = chunk_start_ + (newline == std::string_view::npos ? 0 : newline + 1);
  } else if (chunk_start_ > 0) {
    source_->Restart();
    chunk_.clear();
    chunk_start_ = 0;
    exhausted_ = false;
  }
  sent_ = start;
  acknowledged_ = start;
}

absl::StatusOr<std::unique_ptr<GraphiteBackend>> GraphiteBackend::Create(GraphiteOptions options) {
  std::string_view address = options.address;
  size_t colon = address.rfind(':');
  std::string_view host = colon == std::string_view::npos ? "" : address.substr(0, colon);
  std::string_view port = colon == std::string_view::npos ? "" : address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port_number = 0;
  if (host.empty() ||
      !absl::SimpleAtoi(absl::string_view(port.data(), port.size()), &port_number) ||
      port_number < 1 || port_number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("graphite address \"", std::string(address),
                                                   "\": expected host:port with a port 1-65535"));
  }
  if (options.connect_timeout <= absl::ZeroDuration() ||
      options.write_timeout <= absl::ZeroDuration() ||
      options.max_backoff <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "graphite: connect_timeout, write_timeout and max_backoff must be > 0");
  }
  int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    return absl::InternalError(absl::StrCat("graphite: eventfd: ", std::strerror(errno)));
  }
  return std::unique_ptr<GraphiteBackend>(
      new GraphiteBackend(std::move(options), std::string(host), std::string(port), wake_fd));
}

GraphiteBackend::GraphiteBackend(GraphiteOptions options, std::string host, std::string port,
                                 int wake_fd)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : DefaultClock()),
      host_(std::move(host)),
      port_(std::move(port)),
      wake_fd_(wake_fd) {}

GraphiteBackend::~GraphiteBackend() {
  if (fd_ >= 0) close(fd_);
  close(wake_fd_);
}

// Why a deadline plus an eventfd rather than shutdown(2) on the socket from here: the stop comes
// with a deadline still ahead, until which the flush should keep going out, so cutting the socket
// now would be too early and cutting it later would need a timer; and fd_ is closed and reopened
// by the backend's thread, so shutting it down from this thread could hit a closed socket, or
// whatever else reused its number, unless every close took a lock. Here the backend's thread
// alone touches its sockets and bounds each of its own waits by the deadline. The eventfd only
// shortens a poll already running: the deadline is stored before the eventfd is written, and
// Await drains the eventfd before it re-reads the deadline, so a wake-up that lands before or
// during a poll is seen by it (the counter stays readable until drained) and never lost.
void GraphiteBackend::StopBy(absl::Time deadline) {
  stop_deadline_ns_.store(deadline == absl::InfiniteFuture() ? INT64_MAX
                                                             : absl::ToUnixNanos(deadline));
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));  // fails only when the counter would overflow
}

absl::Time GraphiteBackend::StopDeadline() const {
  int64_t ns = stop_deadline_ns_.load();
  return ns == INT64_MAX ? absl::InfiniteFuture() : absl::FromUnixNanos(ns);
}

absl::StatusOr<GraphiteBackend::Wait> GraphiteBackend::Await(int fd, short events,
                                                             absl::Time deadline) {
  while (true) {
    const absl::Time stop = StopDeadline();
    const absl::Time now = Now();
    if (now >= stop) return Wait::kStopped;
    if (now >= deadline) return Wait::kTimedOut;
    pollfd p[2] = {{fd, events, 0}, {wake_fd_, POLLIN, 0}};
    int rc = poll(p, 2, PollMillis(std::min(deadline, stop), now));
    if (rc < 0) {
      if (errno == EINTR) continue;
      return Error("poll", errno);
    }
    if (p[0].revents != 0) return Wait::kReady;  // or an error the caller's next call reports
    if (p[1].revents != 0) {
      uint64_t count;
      (void)!read(wake_fd_, &count, sizeof(count));  // drain, then re-read the deadline above
    }
  }
}

absl::Status GraphiteBackend::Stopped(std::string_view what) const {
  return absl::DeadlineExceededError(absl::StrCat(
      "graphite ", options_.address, ": ", std::string(what), " abandoned at the stop deadline"));
}

GraphiteBackendStats GraphiteBackend::stats() const {
  GraphiteBackendStats s;
  s.connects = stats_.connects.load(std::memory_order_relaxed);
  s.connect_failures = stats_.connect_failures.load(std::memory_order_relaxed);
  s.disconnects = stats_.disconnects.load(std::memory_order_relaxed);
  s.bytes_written = stats_.bytes_written.load(std::memory_order_relaxed);
  s.bytes_rewritten = stats_.bytes_rewritten.load(std::memory_order_relaxed);
  s.lines = stats_.lines.load(std::memory_order_relaxed);
  s.invalid_names = stats_.invalid_names.load(std::memory_order_relaxed);
  s.dropped_tags = stats_.dropped_tags.load(std::memory_order_relaxed);
  s.non_finite_values = stats_.non_finite_values.load(std::memory_order_relaxed);
  s.long_lines = stats_.long_lines.load(std::memory_order_relaxed);
  return s;
}

absl::Status GraphiteBackend::Error(std::string_view what, int error) const {
  return absl::UnavailableError(absl::StrCat("graphite ", options_.address, ": ", std::string(what),
                                             ": ", std::strerror(error)));
}

Delivery GraphiteBackend::Deliver(const Flush& flush) {
  // Past the stop deadline nothing is started (the runner does not call Deliver then either).
  if (Now() >= StopDeadline()) return Delivery::Retry(Stopped("flush"));
  if (flush.snapshot != current_.snapshot || flush.self_metrics != current_.self_metrics ||
      (flush.snapshot == nullptr && flush.self_metrics == nullptr)) {
    // A new flush (the previous one was delivered, or dropped from the runner's queue).
    current_ = flush;
    chunks_ = std::make_unique<GraphiteChunks>(current_, options_.format);
    counted_ = {};
    payload_.Reset(chunks_.get());
  }
  if (fd_ >= 0 && PeerClosed()) Abort();
  if (fd_ < 0) {
    if (absl::Status status = Connect(); !status.ok()) {
      stats_.connect_failures.fetch_add(1, std::memory_order_relaxed);
      return Delivery::Retry(std::move(status));
    }
  }
  absl::Status written = WritePayload();
  CountFormatStats();
  if (absl::Status status = std::move(written); !status.ok()) {
    size_t before = payload_.sent();
    payload_.Rewind();
    stats_.bytes_rewritten.fetch_add(before - payload_.sent(), std::memory_order_relaxed);
    Abort();
    if (Now() >= StopDeadline()) {  // stopping: there is no next attempt to resume
      return Delivery::Retry(absl::DeadlineExceededError(absl::StrCat(
          status.message(), " (", payload_.sent(), " bytes of this flush acknowledged)")));
    }
    return Delivery::Retry(
        absl::UnavailableError(absl::StrCat(status.message(), " (", payload_.sent(),
                                            " bytes of this flush acknowledged, resuming there)")));
  }
  payload_.Reset(nullptr);
  chunks_.reset();
  current_ = Flush{};  // release the snapshot; the next Deliver is a new flush
  return Delivery::Delivered();
}

// Adds what the chunks formatted since the last call left out (each chunk once, see
// GraphiteChunks::stats) to the backend's counters.
void GraphiteBackend::CountFormatStats() {
  const GraphiteFormatStats& total = chunks_->stats();
  GraphiteFormatStats d;
  d.lines = total.lines - counted_.lines;
  d.invalid_names = total.invalid_names - counted_.invalid_names;
  d.dropped_tags = total.dropped_tags - counted_.dropped_tags;
  d.non_finite_values = total.non_finite_values - counted_.non_finite_values;
  d.long_lines = total.long_lines - counted_.long_lines;
  counted_ = total;
  stats_.lines.fetch_add(d.lines, std::memory_order_relaxed);
  stats_.invalid_names.fetch_add(d.invalid_names, std::memory_order_relaxed);
  stats_.dropped_tags.fetch_add(d.dropped_tags, std::memory_order_relaxed);
  stats_.non_finite_values.fetch_add(d.non_finite_values, std::memory_order_relaxed);
  stats_.long_lines.fetch_add(d.long_lines, std::memory_order_relaxed);
  if (d.invalid_names + d.dropped_tags + d.non_finite_values + d.long_lines > 0) {
    LOG_EVERY_T(WARNING, 60) << "graphite: left out " << d.invalid_names
                             << " series with an empty name after sanitizing, " << d.dropped_tags
                             << " empty tags, " << d.non_finite_values << " non-finite values and "
                             << d.long_lines << " lines over 16384 bytes";
  }
}

absl::Status GraphiteBackend::Connect() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host_.c_str(), port_.c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("graphite ", options_.address, ": resolving: ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, &freeaddrinfo);
  absl::Time deadline = Now() + options_.connect_timeout;
  absl::Status last = absl::UnavailableError(
      absl::StrCat("graphite ", options_.address, ": no address to connect to"));
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = Error("socket", errno);
      continue;
    }
    if (options_.send_buffer_bytes > 0) {
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &options_.send_buffer_bytes,
                 sizeof(options_.send_buffer_bytes));
    }
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc < 0 && errno == EINPROGRESS) {
      absl::StatusOr<Wait> wait = Await(fd, POLLOUT, deadline);
      if (!wait.ok()) {
        close(fd);
        last = wait.status();
        continue;
      }
      if (*wait != Wait::kReady) {
        close(fd);
        last = *wait == Wait::kStopped
                   ? Stopped("connect")
                   : absl::DeadlineExceededError(
                         absl::StrCat("graphite ", options_.address, ": connect timed out after ",
                                      absl::FormatDuration(options_.connect_timeout)));
        break;  // the time is spent; the runner retries later (or is stopping)
      }
      int error = 0;
      socklen_t length = sizeof(error);
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) error = errno;
      rc = error == 0 ? 0 : -1;
      errno = error;
    }
    if (rc < 0) {
      last = Error("connect", errno);
      close(fd);
      continue;
    }
    fd_ = fd;
    stats_.connects.fetch_add(1, std::memory_order_relaxed);
    VLOG(1) << "graphite: connected to " << options_.address;
    return absl::OkStatus();
  }
  return last;
}

bool GraphiteBackend::PeerClosed() {
  // Carbon never writes: anything readable is EOF, an error, or bytes to discard.
  char buffer[512];
  while (true) {
    ssize_t n = recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n > 0) continue;
    if (n == 0) return true;
    if (errno == EINTR) continue;
    return errno != EAGAIN && errno != EWOULDBLOCK;
  }
}

void GraphiteBackend::SampleUnacknowledged() {
  int unacknowledged = 0;
  if (ioctl(fd_, SIOCOUTQ, &unacknowledged) == 0 && unacknowledged >= 0) {
    payload_.Unacknowledged(static_cast<size_t>(unacknowledged));
  }
}

absl::Status GraphiteBackend::WritePayload() {
  absl::Time deadline = Now() + options_.write_timeout;  // without progress
  while (!payload_.done()) {
    // Checked per chunk too, so a peer that keeps reading slowly cannot hold a stop either.
    if (Now() >= StopDeadline()) return Stopped("write");
    std::string_view unsent = payload_.unsent();
    ssize_t n = send(fd_, unsent.data(), std::min(unsent.size(), kMaxWriteChunk),
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      payload_.Sent(static_cast<size_t>(n));
      stats_.bytes_written.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
      SampleUnacknowledged();
      deadline = Now() + options_.write_timeout;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return Error("write", errno);
    absl::StatusOr<Wait> wait = Await(fd_, POLLOUT, deadline);
    if (!wait.ok()) return wait.status();
    if (*wait != Wait::kReady) {
      SampleUnacknowledged();  // the peer's window is full: what it holds is acknowledged
      if (*wait == Wait::kStopped) return Stopped("write");
      return absl::DeadlineExceededError(
          absl::StrCat("graphite ", options_.address, ": write made no progress for ",
                       absl::FormatDuration(options_.write_timeout), " (the peer is not reading)"));
    }
    // Writable, or an error/hang-up that the next send() reports.
  }
  return absl::OkStatus();
}

void GraphiteBackend::Abort() {
  if (fd_ < 0) return;
  // Reset rather than linger: the peer may never read what is still queued.
  linger reset{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  close(fd_);
  fd_ = -1;
  stats_.disconnects.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace tallyd::backends
