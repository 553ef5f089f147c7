#include "tests/backends/test_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/time/clock.h"

namespace tallyd::testing {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

}  // namespace

bool DecodeBody(const std::string& encoding, const std::string& body, std::string* out) {
  if (encoding.empty()) {
    *out = body;
    return true;
  }
  if (encoding == "deflate") {
    z_stream stream{};
    if (inflateInit(&stream) != Z_OK) return false;
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
    stream.avail_in = static_cast<uInt>(body.size());
    char buffer[65536];
    int rc = Z_OK;
    out->clear();
    while (rc == Z_OK) {
      stream.next_out = reinterpret_cast<Bytef*>(buffer);
      stream.avail_out = sizeof(buffer);
      rc = inflate(&stream, Z_NO_FLUSH);
      out->append(buffer, sizeof(buffer) - stream.avail_out);
      if (rc == Z_BUF_ERROR && stream.avail_in == 0) break;
    }
    inflateEnd(&stream);
    return rc == Z_STREAM_END;
  }
  if (encoding == "zstd" || encoding == "zstd1") {
    // Streamed: a frame written chunk by chunk (as tallyd's encoder does) does not carry its
    // content size, which the format leaves optional. Exactly one whole frame is a valid body.
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    ZSTD_inBuffer in{body.data(), body.size(), 0};
    char buffer[65536];
    size_t rc = 1;
    out->clear();
    while (rc != 0) {
      ZSTD_outBuffer chunk{buffer, sizeof buffer, 0};
      rc = ZSTD_decompressStream(dctx, &chunk, &in);
      if (ZSTD_isError(rc)) break;
      out->append(buffer, chunk.pos);
      if (rc != 0 && in.pos == in.size && chunk.pos < chunk.size) break;  // truncated frame
    }
    ZSTD_freeDCtx(dctx);
    return rc == 0 && in.pos == in.size;
  }
  return false;
}

TestHttpServer::TestHttpServer() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 16) != 0) {
    std::perror("test http server");
    std::abort();
  }
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { Accept(); });
}

TestHttpServer::~TestHttpServer() {
  stopping_ = true;
  acceptor_.join();
  close(listen_fd_);
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
  absl::MutexLock lock(&mu_);
  for (int fd : fds_) close(fd);
}

void TestHttpServer::Enqueue(HttpResponse response) {
  absl::MutexLock lock(&mu_);
  script_.push_back(std::move(response));
}

std::vector<HttpRequest> TestHttpServer::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

bool TestHttpServer::WaitForRequests(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return requests_.size() >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

HttpResponse TestHttpServer::NextResponse() {
  absl::MutexLock lock(&mu_);
  if (script_.empty()) return HttpResponse{};
  HttpResponse response = std::move(script_.front());
  script_.pop_front();
  return response;
}

void TestHttpServer::Accept() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    int connection = ++connections_;
    absl::MutexLock lock(&mu_);
    fds_.push_back(fd);
    threads_.emplace_back([this, fd, connection] { Serve(fd, connection); });
  }
}

void TestHttpServer::Serve(int fd, int connection) {
  std::string buffer;
  // Reads more bytes into `buffer`; false when the peer closed or we are stopping.
  auto fill = [&]() -> bool {
    while (!stopping_) {
      pollfd p{fd, POLLIN, 0};
      int ready = poll(&p, 1, 20);
      if (ready == 0) continue;
      if (ready < 0) return false;
      char chunk[65536];
      ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<size_t>(n));
      return true;
    }
    return false;
  };
  while (true) {
    size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return;
    }
    HttpRequest request;
    request.connection = connection;
    std::string head = buffer.substr(0, end);
    buffer.erase(0, end + 4);
    size_t line_end = head.find("\r\n");
    std::string first = head.substr(0, line_end);
    size_t sp1 = first.find(' '), sp2 = first.find(' ', sp1 + 1);
    request.method = first.substr(0, sp1);
    request.path = first.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t next = head.find("\r\n", pos);
      if (next == std::string::npos) next = head.size();
      std::string line = head.substr(pos, next - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        request.headers[Lower(line.substr(0, colon))] = Trim(line.substr(colon + 1));
      }
      pos = next + 2;
    }
    size_t length = 0;
    if (auto it = request.headers.find("content-length"); it != request.headers.end()) {
      length = std::stoul(it->second);
    }
    while (buffer.size() < length) {
      if (!fill()) return;
    }
    request.body = buffer.substr(0, length);
    buffer.erase(0, length);
    if (!DecodeBody(request.Header("content-encoding"), request.body, &request.decoded)) {
      request.decode_error = "cannot decode " + request.Header("content-encoding");
      request.decoded.clear();
    }
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(request);
    }
    HttpResponse response = NextResponse();
    absl::Time until = absl::Now() + response.delay;
    while (!stopping_ && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
    if (stopping_) return;
    std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " +
                      Reason(response.status) + "\r\nContent-Type: application/json\r\n" +
                      "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
    for (const auto& [name, value] : response.headers) out += name + ": " + value + "\r\n";
    out += "\r\n" + response.body;
    if (send(fd, out.data(), out.size(), MSG_NOSIGNAL) < 0) return;
  }
}

}  // namespace tallyd::testing
