// A tiny Carbon on 127.0.0.1 for tests (backend unit tests and end-to-end tests).
#ifndef TALLYD_TESTS_BACKENDS_CARBON_LISTENER_H_
#define TALLYD_TESTS_BACKENDS_CARBON_LISTENER_H_

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tallyd::testing {

// A tiny Carbon on 127.0.0.1: accepts connections and collects the complete lines they send,
// dropping a connection's unterminated last line when it closes, as Carbon does.
class CarbonListener {
 public:
  struct Options {
    bool read = true;        // false: accept, then never read
    int receive_buffer = 0;  // SO_RCVBUF of accepted sockets; 0 keeps the default
    int backlog = 64;
    bool accept = true;  // false: leave connections in the accept queue
  };

  explicit CarbonListener(int port = 0) : CarbonListener(port, Options()) {}
  CarbonListener(int port, Options options) : options_(options) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (options.receive_buffer > 0) {
      setsockopt(listen_fd_, SOL_SOCKET, SO_RCVBUF, &options.receive_buffer,
                 sizeof(options.receive_buffer));
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        listen(listen_fd_, options.backlog) != 0) {
      ADD_FAILURE() << "listen on port " << port << ": " << strerror(errno);
    }
    socklen_t length = sizeof(address);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    wake_fd_ = eventfd(0, EFD_CLOEXEC);
    thread_ = std::thread([this] { Run(); });
  }
  ~CarbonListener() { Stop(); }

  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  // Reads what is already readable, then closes every socket.
  void Stop() {
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
    thread_.join();
    close(wake_fd_);
  }

  std::string received() const {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  int accepted() const {
    absl::MutexLock lock(&mu_);
    return accepted_;
  }
  bool WaitForBytes(size_t n, absl::Duration timeout = absl::Seconds(20)) const {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return received_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  bool WaitForAccepted(int n, absl::Duration timeout = absl::Seconds(20)) const {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return accepted_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

 private:
  struct Connection {
    int fd;
    std::string partial;
  };

  // Returns false at EOF or error.
  bool ReadFrom(Connection& c) {
    char buffer[65536];
    while (true) {
      ssize_t n = recv(c.fd, buffer, sizeof(buffer), MSG_DONTWAIT);
      if (n > 0) {
        c.partial.append(buffer, static_cast<size_t>(n));
        size_t end = c.partial.rfind('\n');
        if (end != std::string::npos) {
          absl::MutexLock lock(&mu_);
          received_.append(c.partial, 0, end + 1);
          c.partial.erase(0, end + 1);
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }

  void Run() {
    std::vector<Connection> connections;
    while (true) {
      std::vector<pollfd> fds = {{wake_fd_, POLLIN, 0}};
      if (options_.accept) fds.push_back({listen_fd_, POLLIN, 0});
      if (options_.read) {
        for (const Connection& c : connections) fds.push_back({c.fd, POLLIN, 0});
      }
      if (poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents != 0) break;
      size_t next = 1;
      if (options_.accept) {
        if (fds[next].revents != 0) {
          int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
          if (fd >= 0) {
            connections.push_back({fd, ""});
            absl::MutexLock lock(&mu_);
            ++accepted_;
          }
        }
        ++next;
      }
      if (options_.read) {
        std::vector<Connection> open;
        for (size_t i = 0; i < connections.size(); ++i) {
          Connection& c = connections[i];
          bool polled = next + i < fds.size();
          if (polled && fds[next + i].revents != 0 && !ReadFrom(c)) {
            close(c.fd);
            continue;
          }
          open.push_back(std::move(c));
        }
        connections = std::move(open);
      }
    }
    for (Connection& c : connections) {
      if (options_.read) ReadFrom(c);
      close(c.fd);
    }
    close(listen_fd_);
  }

  const Options options_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::string received_ ABSL_GUARDED_BY(mu_);
  int accepted_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tallyd::testing

#endif  // TALLYD_TESTS_BACKENDS_CARBON_LISTENER_H_
