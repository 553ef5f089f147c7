// A small HTTP/1.1 server on 127.0.0.1 for backend tests: it reads each request (headers and a
// Content-Length body), decompresses deflate and zstd bodies, records it, and answers from a
// script of responses (200 once the script runs out). Connections are kept alive, one thread each,
// so tests can check that a client reuses its connection.
#ifndef TALLYD_TESTS_BACKENDS_TEST_HTTP_SERVER_H_
#define TALLYD_TESTS_BACKENDS_TEST_HTTP_SERVER_H_

#include <atomic>
#include <deque>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tallyd::testing {

struct HttpRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;                            // as received
  std::string decoded;  // body decompressed per Content-Encoding ("" with decode_error)
  std::string decode_error;
  int connection = 0;  // 1 for the first accepted connection, and so on

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string body = "{\"status\":\"ok\"}";
  std::vector<std::pair<std::string, std::string>> headers;
  absl::Duration delay = absl::ZeroDuration();  // wait before answering (a hanging peer)
};

// An answer to script with TestHttpServer::Enqueue.
inline HttpResponse Respond(int status, std::string body = "{}",
                            std::vector<std::pair<std::string, std::string>> headers = {},
                            absl::Duration delay = absl::ZeroDuration()) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.headers = std::move(headers);
  response.delay = delay;
  return response;
}

class TestHttpServer {
 public:
  TestHttpServer();  // listens on 127.0.0.1, port chosen by the kernel
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Responses for the next requests, in order.
  void Enqueue(HttpResponse response);
  std::vector<HttpRequest> requests() const;
  // Waits until `n` requests have been read (answered or not); false after `timeout`.
  bool WaitForRequests(size_t n, absl::Duration timeout) const;
  int connections() const { return connections_.load(); }

 private:
  void Accept();
  void Serve(int fd, int connection);
  HttpResponse NextResponse();

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  mutable absl::Mutex mu_;
  std::deque<HttpResponse> script_ ABSL_GUARDED_BY(mu_);
  std::vector<HttpRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::thread acceptor_;
};

// Decompresses an HTTP body: "deflate" (zlib stream), "zstd"/"zstd1", or "" (as is).
bool DecodeBody(const std::string& encoding, const std::string& body, std::string* out);

}  // namespace tallyd::testing

#endif  // TALLYD_TESTS_BACKENDS_TEST_HTTP_SERVER_H_
