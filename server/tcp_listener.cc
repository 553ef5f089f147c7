#include "server/tcp_listener.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tallyd::server {
namespace {
constexpr size_t kReadBufferSize = 64 * 1024;
constexpr int kBacklog = 512;
constexpr uint64_t kNever = UINT64_MAX;

uint64_t ToMs(absl::Duration d) {
  return d == absl::InfiniteDuration() ? kNever
                                       : static_cast<uint64_t>(absl::ToInt64Milliseconds(d));
}
uint64_t After(uint64_t at, uint64_t ms) { return ms == kNever ? kNever : at + ms; }
}  // namespace

// Times are the loop's (uv_now, monotonic milliseconds).
struct TcpListener::Connection {
  uv_tcp_t tcp;
  uv_timer_t timer;  // fires at the earliest deadline; reads only move the deadlines
  TcpListener* owner;
  std::string carry;                // start of a line split across reads
  bool skipping = false;            // inside an over-long line: drop bytes until the next '\n'
  int pending_closes = 2;           // tcp + timer handles
  bool counted = false;             // holds a slot in TcpOptions::open_connections
  uint64_t last_read_ms = 0;        // or accepted
  uint64_t last_read_seq = 0;       // orders the reads of one listener (ms ties)
  uint64_t line_since_ms = kNever;  // when the incomplete line held started arriving
  uint64_t armed_ms = kNever;       // when the timer fires
  bool holding_line() const { return skipping || !carry.empty(); }
};

absl::StatusOr<int> OpenTcpSocket(const SocketAddress& address, PortSharing sharing) {
  std::string name = absl::StrCat("tcp ", address.ToString());
  int fd = socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return SocketError(absl::StrCat(name, ": socket"), errno);
  int one = 1;
  // SO_REUSEADDR, on the claim too: connections of a previous run left in TIME_WAIT on the port
  // must not stop a restart. It also lets the claim's bind pass beside another SO_REUSEADDR
  // socket that is bound but not listening yet; the listen() right after bind settles it, as
  // two sockets on one port cannot both listen unless both had SO_REUSEPORT by then.
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (sharing == PortSharing::kJoin) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (address.family() == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  // Listening from here on: the worker accepts once it runs; until then connections wait in the
  // backlog.
  if (bind(fd, address.get(), address.length) != 0 || listen(fd, kBacklog) != 0) {
    int err = errno;
    close(fd);
    return SocketError(name, err);
  }
  return fd;
}

TcpListener::TcpListener(uv_loop_t* loop, int fd, const TcpOptions& options, DatagramSink* sink,
                         IngestCounters* counters)
    : loop_(loop),
      options_(options),
      sink_(sink),
      counters_(counters),
      idle_timeout_ms_(ToMs(options.idle_timeout)),
      line_timeout_ms_(ToMs(options.line_timeout)),
      read_buffer_(new char[kReadBufferSize]) {
  uv_tcp_init(loop, &server_);
  uv_tcp_open(&server_, fd);
  server_.data = this;
}

TcpListener::~TcpListener() = default;

absl::Status TcpListener::Start() {
  int rc =
      uv_listen(reinterpret_cast<uv_stream_t*>(&server_), kBacklog, &TcpListener::OnConnection);
  if (rc != 0) return absl::UnavailableError(absl::StrCat("tcp listen: ", uv_strerror(rc)));
  return absl::OkStatus();
}

void TcpListener::OnConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<TcpListener*>(server->data);
  if (status < 0) return;
  auto* conn = new Connection;
  conn->owner = self;
  uv_tcp_init(self->loop_, &conn->tcp);
  uv_timer_init(self->loop_, &conn->timer);
  conn->tcp.data = conn;
  conn->timer.data = conn;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&conn->tcp)) != 0) {
    self->connections_.insert(conn);
    self->Close(conn);
    return;
  }
  self->connections_.insert(conn);
  if (self->options_.open_connections != nullptr) {
    conn->counted = true;
    self->options_.open_connections->fetch_add(1);
  }
  if (conn->counted && self->options_.open_connections->load() > self->options_.max_connections) {
    // Slow or stuck senders must not lock out new ones: the longest idle connection makes room.
    if (self->connections_.size() > 1) {
      self->EvictLongestIdle(conn);
    } else {
      self->counters_->tcp_connections_rejected.Add();
      self->Close(conn);
      return;
    }
  }
  conn->last_read_ms = uv_now(self->loop_);
  conn->last_read_seq = ++self->reads_;
  self->ArmTimer(conn);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&conn->tcp), &TcpListener::OnAlloc,
                &TcpListener::OnRead);
}

void TcpListener::OnAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* conn = static_cast<Connection*>(handle->data);
  *buf = uv_buf_init(conn->owner->read_buffer_.get(), kReadBufferSize);
}

void TcpListener::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* conn = static_cast<Connection*>(stream->data);
  TcpListener* self = conn->owner;
  if (nread < 0) {
    // EOF or error: a final unterminated line still counts, as netcat users expect.
    if (!conn->carry.empty() && !conn->skipping) self->sink_->OnData(conn->carry, Transport::kTcp);
    conn->carry.clear();
    self->Close(conn);
    return;
  }
  if (nread == 0) return;
  const uint64_t now = uv_now(self->loop_);
  conn->last_read_ms = now;
  conn->last_read_seq = ++self->reads_;
  self->counters_->packets[static_cast<int>(Transport::kTcp)].Add();
  self->counters_->bytes[static_cast<int>(Transport::kTcp)].Add(nread);
  const bool line_ended = self->Consume(conn, std::string_view(buf->base, nread));
  if (!conn->holding_line()) {
    conn->line_since_ms = kNever;
  } else if (line_ended || conn->line_since_ms == kNever) {
    conn->line_since_ms = now;
    // The line deadline may come before the timer's (a long idle timeout): fire then.
    if (After(now, self->line_timeout_ms_) < conn->armed_ms) self->ArmTimer(conn);
  }
}

bool TcpListener::Consume(Connection* conn, std::string_view data) {
  const size_t max = options_.max_line_length;
  auto reject_long = [&] {
    counters_->rejected[static_cast<int>(protocol::RejectReason::kLineTooLong)].Add();
  };
  // Finish the line carried over from the previous read (or the over-long line being skipped).
  if (conn->skipping || !conn->carry.empty()) {
    size_t nl = data.find('\n');
    if (nl == std::string_view::npos) {
      if (!conn->skipping) {
        if (conn->carry.size() + data.size() > max) {
          conn->skipping = true;
          conn->carry.clear();
          reject_long();
        } else {
          conn->carry.append(data);
        }
      }
      return false;
    }
    if (!conn->skipping) {
      if (conn->carry.size() + nl > max + 1) {  // +1: a '\r' before the '\n' is not content
        reject_long();
      } else {
        conn->carry.append(data.substr(0, nl));
        sink_->OnData(conn->carry, Transport::kTcp);
      }
    }
    conn->carry.clear();
    conn->skipping = false;
    data.remove_prefix(nl + 1);
  }
  // Whole lines straight from the read buffer; only the unterminated tail is copied.
  size_t last_nl = data.rfind('\n');
  std::string_view tail = data;
  if (last_nl != std::string_view::npos) {
    sink_->OnData(data.substr(0, last_nl + 1), Transport::kTcp);
    tail = data.substr(last_nl + 1);
  }
  if (tail.size() > max) {
    conn->skipping = true;
    reject_long();
  } else {
    conn->carry.assign(tail);
  }
  return true;
}

void TcpListener::ArmTimer(Connection* conn) {
  uint64_t due = After(conn->last_read_ms, idle_timeout_ms_);
  if (conn->line_since_ms != kNever) {
    due = std::min(due, After(conn->line_since_ms, line_timeout_ms_));
  }
  conn->armed_ms = due;
  if (due == kNever) {
    uv_timer_stop(&conn->timer);
    return;
  }
  const uint64_t now = uv_now(loop_);
  uv_timer_start(&conn->timer, &TcpListener::OnTimer, due > now ? due - now : 0, 0);
}

void TcpListener::OnTimer(uv_timer_t* timer) {
  auto* conn = static_cast<Connection*>(timer->data);
  TcpListener* self = conn->owner;
  const uint64_t now = uv_now(self->loop_);
  // The incomplete line is dropped with the connection: its end never came.
  if (conn->line_since_ms != kNever && After(conn->line_since_ms, self->line_timeout_ms_) <= now) {
    self->counters_->tcp_connections_closed[static_cast<int>(TcpCloseReason::kLineTimeout)].Add();
    self->Close(conn);
  } else if (After(conn->last_read_ms, self->idle_timeout_ms_) <= now) {
    self->counters_->tcp_connections_closed[static_cast<int>(TcpCloseReason::kIdleTimeout)].Add();
    self->Close(conn);
  } else {
    self->ArmTimer(conn);  // reads since it was armed moved the deadline
  }
}

void TcpListener::EvictLongestIdle(Connection* except) {
  // A scan, not an ordered index: this runs only at the connection limit, while every read
  // stays a single store of its time.
  Connection* idlest = nullptr;
  for (Connection* c : connections_) {
    if (c != except && (idlest == nullptr || c->last_read_seq < idlest->last_read_seq)) {
      idlest = c;
    }
  }
  if (idlest == nullptr) return;
  counters_->tcp_connections_closed[static_cast<int>(TcpCloseReason::kEvicted)].Add();
  Close(idlest);
}

void TcpListener::Close(Connection* conn) {
  if (!connections_.erase(conn)) return;  // already closing
  if (conn->counted) options_.open_connections->fetch_sub(1);
  auto on_closed = [](uv_handle_t* handle) {
    auto* c = static_cast<Connection*>(handle->data);
    if (--c->pending_closes == 0) delete c;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp), on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&conn->timer), on_closed);
}

void TcpListener::DrainAndClose() {
  uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
  // Read what each connection's socket already holds, without waiting for more.
  std::vector<Connection*> open(connections_.begin(), connections_.end());
  for (Connection* conn : open) {
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&conn->tcp), &fd) == 0) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&conn->tcp));
      // What the socket holds now, and no more: a sender that keeps writing must not hold the
      // stop (SPEC 1).
      int queued = 0;
      if (ioctl(fd, FIONREAD, &queued) != 0) queued = 0;
      for (size_t left = static_cast<size_t>(queued); left > 0;) {
        ssize_t n = recv(fd, read_buffer_.get(), std::min(left, kReadBufferSize), MSG_DONTWAIT);
        if (n <= 0) break;
        left -= static_cast<size_t>(n);
        counters_->bytes[static_cast<int>(Transport::kTcp)].Add(n);
        Consume(conn, std::string_view(read_buffer_.get(), n));
      }
      // An unterminated last line counts, as at EOF, when it is all the sender wrote; when more
      // bytes are already behind it, the bound cut it and its end is not read.
      char next;
      const bool more = recv(fd, &next, 1, MSG_DONTWAIT | MSG_PEEK) > 0;
      if (!conn->carry.empty() && !conn->skipping && !more) {
        sink_->OnData(conn->carry, Transport::kTcp);
      }
      conn->carry.clear();
    }
    Close(conn);
  }
}

}  // namespace tallyd::server
