#include "server/tcp_listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tallyd::server {
namespace {
constexpr size_t kReadBufferSize = 64 * 1024;
constexpr int kBacklog = 512;
}  // namespace

struct TcpListener::Connection {
  uv_tcp_t tcp;
  uv_timer_t idle;
  TcpListener* owner;
  std::string carry;       // start of a line split across reads
  bool skipping = false;   // inside an over-long line: drop bytes until the next '\n'
  int pending_closes = 2;  // tcp + timer handles
  bool counted = false;    // holds a slot in TcpOptions::open_connections
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
  uv_timer_init(self->loop_, &conn->idle);
  conn->tcp.data = conn;
  conn->idle.data = conn;
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
    self->counters_->tcp_connections_rejected.Add();
    self->Close(conn);
    return;
  }
  uint64_t idle_ms = absl::ToInt64Milliseconds(self->options_.idle_timeout);
  uv_timer_start(&conn->idle, &TcpListener::OnIdle, idle_ms, idle_ms);
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
  uv_timer_again(&conn->idle);
  self->counters_->packets[static_cast<int>(Transport::kTcp)].Add();
  self->counters_->bytes[static_cast<int>(Transport::kTcp)].Add(nread);
  self->Consume(conn, std::string_view(buf->base, nread));
}

void TcpListener::Consume(Connection* conn, std::string_view data) {
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
      return;
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
}

void TcpListener::OnIdle(uv_timer_t* timer) {
  auto* conn = static_cast<Connection*>(timer->data);
  conn->owner->Close(conn);
}

void TcpListener::Close(Connection* conn) {
  if (!connections_.erase(conn)) return;  // already closing
  if (conn->counted) options_.open_connections->fetch_sub(1);
  auto on_closed = [](uv_handle_t* handle) {
    auto* c = static_cast<Connection*>(handle->data);
    if (--c->pending_closes == 0) delete c;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp), on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&conn->idle), on_closed);
}

void TcpListener::DrainAndClose() {
  uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
  // Read what each connection's socket already holds, without waiting for more.
  std::vector<Connection*> open(connections_.begin(), connections_.end());
  for (Connection* conn : open) {
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&conn->tcp), &fd) == 0) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&conn->tcp));
      while (true) {
        ssize_t n = recv(fd, read_buffer_.get(), kReadBufferSize, MSG_DONTWAIT);
        if (n <= 0) break;
        counters_->bytes[static_cast<int>(Transport::kTcp)].Add(n);
        Consume(conn, std::string_view(read_buffer_.get(), n));
      }
      if (!conn->carry.empty() && !conn->skipping) sink_->OnData(conn->carry, Transport::kTcp);
      conn->carry.clear();
    }
    Close(conn);
  }
}

}  // namespace tallyd::server
