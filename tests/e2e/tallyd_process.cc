#include "tests/e2e/tallyd_process.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

extern char** environ;

namespace tallyd::testing {
namespace {

sockaddr_storage ToSockaddr(const std::string& address, socklen_t* len) {
  sockaddr_storage storage{};
  size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  int port = std::stoi(address.substr(colon + 1));
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.size() - 2);
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&storage);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr);
    *len = sizeof(sockaddr_in6);
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&storage);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    inet_pton(AF_INET, host == "0.0.0.0" ? "127.0.0.1" : host.c_str(), &a4->sin_addr);
    *len = sizeof(sockaddr_in);
  }
  return storage;
}

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

pid_t Spawn(const std::vector<std::string>& args, const std::string& out, const std::string& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  std::string binary = TALLYD_BINARY;
  argv.push_back(binary.data());
  std::vector<std::string> copy = args;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error("cannot spawn " + binary);
  }
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

std::optional<int> Reap(pid_t pid, absl::Duration timeout) {
  std::optional<int> result;
  WaitFor(
      [&] {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) {
          result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          return true;
        }
        return false;
      },
      timeout);
  return result;
}

}  // namespace

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (condition()) return true;
    if (absl::Now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

TallydProcess::TallydProcess(std::vector<std::string> args) {
  args.push_back("--ports_file=" + dir_.File("ports"));
  pid_ = Spawn(args, dir_.File("stdout"), dir_.File("stderr"));
}

TallydProcess::~TallydProcess() {
  if (pid_ > 0 && !exit_status_) {
    kill(pid_, SIGKILL);
    Reap(pid_, absl::Seconds(10));
  }
}

bool TallydProcess::WaitReady(absl::Duration timeout) {
  bool ready = WaitFor(
      [&] {
        if (std::filesystem::exists(dir_.File("ports"))) return true;
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          return true;
        }
        return false;
      },
      timeout);
  if (!ready || exit_status_) return false;
  for (absl::string_view line : absl::StrSplit(ReadFile(dir_.File("ports")), '\n')) {
    std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(' ', 1));
    if (parts.size() == 2) addresses_.emplace(parts[0], parts[1]);
  }
  return true;
}

std::string TallydProcess::Address(const std::string& kind) const {
  auto it = addresses_.find(kind);
  return it == addresses_.end() ? "" : it->second;
}

int TallydProcess::Port(const std::string& kind) const {
  std::string a = Address(kind);
  int port = 0;
  if (!a.empty() && !absl::SimpleAtoi(a.substr(a.rfind(':') + 1), &port)) return 0;
  return port;
}

void TallydProcess::Signal(int signum) {
  if (pid_ > 0 && !exit_status_) kill(pid_, signum);
}

std::optional<int> TallydProcess::WaitExit(absl::Duration timeout) {
  if (!exit_status_) exit_status_ = Reap(pid_, timeout);
  return exit_status_;
}

RunResult RunTallyd(std::vector<std::string> args, absl::Duration timeout) {
  TempDir dir;
  pid_t pid = Spawn(args, dir.File("out"), dir.File("err"));
  RunResult result;
  std::optional<int> status = Reap(pid, timeout);
  if (!status) {
    kill(pid, SIGKILL);
    Reap(pid, absl::Seconds(5));
  }
  result.exit_status = status.value_or(-1);
  result.out = ReadFile(dir.File("out"));
  result.err = ReadFile(dir.File("err"));
  return result;
}

void SendUdp(const std::string& address, const std::string& payload) {
  socklen_t len;
  sockaddr_storage to = ToSockaddr(address, &len);
  int fd = socket(to.ss_family, SOCK_DGRAM, 0);
  sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to), len);
  close(fd);
}

void SendTcp(const std::string& address, const std::vector<std::string>& chunks) {
  socklen_t len;
  sockaddr_storage to = ToSockaddr(address, &len);
  int fd = socket(to.ss_family, SOCK_STREAM, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&to), len) != 0) {
    close(fd);
    throw std::runtime_error("connect " + address + ": " + std::strerror(errno));
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof one);
  for (const std::string& chunk : chunks) {
    send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    // Separate reads on the server side are likely but not needed for correctness.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  close(fd);
}

void SendUnix(const std::string& path, const std::string& payload) {
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  std::strncpy(to.sun_path, path.c_str(), sizeof to.sun_path - 1);
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  close(fd);
}

std::string HttpGet(const std::string& url, long* status) {
  std::string body;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  long code = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(curl);
  if (status != nullptr) *status = code;
  return code == 0 ? "" : body;
}

PortHolder::PortHolder(bool udp) {
  fd_ = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  if (!udp) listen(fd_, 1);
  socklen_t len = sizeof a;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
}
PortHolder::~PortHolder() { close(fd_); }

}  // namespace tallyd::testing
