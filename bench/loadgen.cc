// tallyd-loadgen: blasts realistic DogStatsD datagrams over UDP at a StatsD server and reports
// what it sent. Datagrams are pre-rendered from a bench::Workload (random series order) and sent
// in batches with sendmmsg; --rate paces lines per second (0: as fast as the socket takes them).
//
//   tallyd-loadgen --target=127.0.0.1:8125 --duration=10s --rate=1000000 --series=100000
//                  --tags=3 --lines_per_datagram=16 --batch=64
//
// What arrived is the server's business: compare "lines sent" with the server's own counters
// (tallyd_lines_received_total, tallyd_udp_kernel_drops_total), or, as bench/e2e does, the
// flushed values with the "totals" line printed last: the sum of the counter increments sent
// (value / sample rate) and the weighted count of timer samples, so a receiver's loss can be
// read from its flushed counter sums and timer counts. See bench/README.md.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/workload.h"

ABSL_FLAG(std::string, target, "127.0.0.1:8125", "host:port of the server (IPv4 or [IPv6])");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "how long to send");
ABSL_FLAG(double, rate, 0, "lines per second to aim for; 0 = as fast as possible");
ABSL_FLAG(int64_t, series, 100'000, "distinct series");
ABSL_FLAG(int32_t, tags, 3, "tags per line (0, 2..10)");
ABSL_FLAG(int32_t, lines_per_datagram, 16, "lines joined with '\\n' per datagram");
ABSL_FLAG(int32_t, datagram_bytes, 0,
          "if > 0: as many lines per datagram as fit in this many bytes (overrides "
          "--lines_per_datagram)");
ABSL_FLAG(bool, sequential, false,
          "send the series in order (each once per pass over --pool) instead of at random");
ABSL_FLAG(int64_t, lines, 0, "stop after this many lines (0: run for --duration)");
ABSL_FLAG(int32_t, batch, 64, "datagrams per sendmmsg call");
ABSL_FLAG(absl::Duration, max_catch_up, absl::InfiniteDuration(),
          "with --rate: when the sender falls further behind its schedule than this (it was "
          "descheduled), it forgives the rest instead of sending it as one burst; the rate it "
          "reports is what it sent");
ABSL_FLAG(int32_t, gauge_percent, 15, "share of gauge series");
ABSL_FLAG(int32_t, timer_percent, 10, "share of timer (ms) series");
ABSL_FLAG(int32_t, histogram_percent, 5, "share of histogram series");
ABSL_FLAG(int32_t, sampled_percent, 10, "share of lines with |@0.5");
ABSL_FLAG(int64_t, pool, 1'000'000, "lines pre-rendered and sent in a loop");
ABSL_FLAG(int32_t, send_buffer, 4 << 20, "SO_SNDBUF bytes");
ABSL_FLAG(uint64_t, seed, 42, "workload seed");

namespace tallyd::bench {
namespace {

bool ParseTarget(const std::string& target, sockaddr_storage* addr, socklen_t* len) {
  size_t colon = target.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = target.substr(0, colon);
  uint32_t port;
  if (!absl::SimpleAtoi(target.substr(colon + 1), &port) || port == 0 || port > 65535) {
    return false;
  }
  std::memset(addr, 0, sizeof(*addr));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(addr);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    *len = sizeof(sockaddr_in6);
    return inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a6->sin6_addr) == 1;
  }
  auto* a4 = reinterpret_cast<sockaddr_in*>(addr);
  a4->sin_family = AF_INET;
  a4->sin_port = htons(port);
  *len = sizeof(sockaddr_in);
  return inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1;
}

// What one datagram adds to the receiver's flushed values: counter increments (value / rate)
// and timer samples (1 / rate each). Lines of other types add to neither.
struct DatagramTotals {
  size_t lines = 0;
  double counter_sum = 0;
  double timer_count = 0;
};

// Debian's Abseil has its own string_view type.
absl::string_view Abseil(std::string_view s) { return absl::string_view(s.data(), s.size()); }

DatagramTotals Totals(std::string_view datagram) {
  DatagramTotals totals;
  size_t begin = 0;
  while (begin <= datagram.size()) {
    size_t end = datagram.find('\n', begin);
    if (end == std::string_view::npos) end = datagram.size();
    const std::string_view line = datagram.substr(begin, end - begin);
    begin = end + 1;
    ++totals.lines;
    // name:value|type[|@rate][|#tags]; the workload writes one value per line.
    const size_t colon = line.find(':');
    const size_t bar = line.find('|', colon);
    if (colon == std::string_view::npos || bar == std::string_view::npos) continue;
    const size_t type_end = std::min(line.find('|', bar + 1), line.size());
    const std::string_view type = line.substr(bar + 1, type_end - bar - 1);
    double rate = 1;
    const size_t at = line.find("|@", bar);
    if (at != std::string_view::npos) {
      const size_t rate_end = std::min(line.find('|', at + 2), line.size());
      if (!absl::SimpleAtod(Abseil(line.substr(at + 2, rate_end - at - 2)), &rate) || rate <= 0)
        rate = 1;
    }
    double value = 0;
    if (type == "c" && absl::SimpleAtod(Abseil(line.substr(colon + 1, bar - colon - 1)), &value)) {
      totals.counter_sum += value / rate;
    } else if (type == "ms") {
      totals.timer_count += 1 / rate;
    }
  }
  return totals;
}

// Joins lines into datagrams of at most `max_bytes` (at least one line each).
std::vector<std::string> DatagramsOfBytes(const Workload& workload,
                                          const std::vector<uint32_t>& order, size_t max_bytes) {
  std::vector<std::string> datagrams;
  std::string current;
  for (uint32_t index : order) {
    const std::string& line = workload.line(index);
    if (!current.empty() && current.size() + 1 + line.size() > max_bytes) {
      datagrams.push_back(std::move(current));
      current.clear();
    }
    if (!current.empty()) current += '\n';
    current += line;
  }
  if (!current.empty()) datagrams.push_back(std::move(current));
  return datagrams;
}

int Run() {
  sockaddr_storage addr;
  socklen_t addr_len;
  const std::string target = absl::GetFlag(FLAGS_target);
  if (!ParseTarget(target, &addr, &addr_len)) {
    std::fprintf(stderr, "--target=%s: want host:port with a numeric address\n", target.c_str());
    return 2;
  }
  const int lines_per_datagram = absl::GetFlag(FLAGS_lines_per_datagram);
  const int batch = absl::GetFlag(FLAGS_batch);
  if (lines_per_datagram < 1 || batch < 1 || absl::GetFlag(FLAGS_series) < 1) {
    std::fprintf(stderr, "--lines_per_datagram, --batch and --series must be positive\n");
    return 2;
  }

  WorkloadOptions options;
  options.series = absl::GetFlag(FLAGS_series);
  options.tags = absl::GetFlag(FLAGS_tags);
  options.gauge_percent = absl::GetFlag(FLAGS_gauge_percent);
  options.timer_percent = absl::GetFlag(FLAGS_timer_percent);
  options.histogram_percent = absl::GetFlag(FLAGS_histogram_percent);
  options.sampled_percent = absl::GetFlag(FLAGS_sampled_percent);
  options.seed = absl::GetFlag(FLAGS_seed);
  const Workload workload(options);
  const size_t pool_lines = std::max<int64_t>(absl::GetFlag(FLAGS_pool), lines_per_datagram);
  const std::vector<uint32_t> order =
      workload.Order(pool_lines, /*random=*/!absl::GetFlag(FLAGS_sequential));
  const int datagram_bytes = absl::GetFlag(FLAGS_datagram_bytes);
  const std::vector<std::string> datagrams = datagram_bytes > 0
                                                 ? DatagramsOfBytes(workload, order, datagram_bytes)
                                                 : workload.Datagrams(order, lines_per_datagram);
  std::vector<DatagramTotals> totals;
  totals.reserve(datagrams.size());
  for (const std::string& d : datagrams) totals.push_back(Totals(d));
  for (const std::string& d : datagrams) {
    if (d.size() > 65507) {
      std::fprintf(stderr,
                   "a datagram of %zu bytes exceeds UDP's limit; lower "
                   "--lines_per_datagram\n",
                   d.size());
      return 2;
    }
  }

  const int fd = socket(addr.ss_family, SOCK_DGRAM, 0);
  if (fd < 0) {
    std::perror("socket");
    return 1;
  }
  const int sndbuf = absl::GetFlag(FLAGS_send_buffer);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
    std::perror("connect");
    return 1;
  }

  std::vector<iovec> iov(batch);
  std::vector<mmsghdr> msgs(batch);
  const double rate = absl::GetFlag(FLAGS_rate);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const absl::Time start = absl::Now();
  const absl::Time end = start + duration;
  const uint64_t max_lines =
      static_cast<uint64_t>(std::max<int64_t>(absl::GetFlag(FLAGS_lines), 0));
  uint64_t sent_datagrams = 0, sent_lines = 0, sent_bytes = 0, calls = 0, errors = 0;
  double counter_sum = 0, timer_count = 0;
  size_t next = 0;
  // Lines the schedule forgave (--max_catch_up); the burst a stalled sender may send is bounded
  // by max_catch_up's worth of lines, so a stall of this process, not the receiver, cannot
  // overflow the receiver's buffer.
  const double max_debt = rate * absl::ToDoubleSeconds(absl::GetFlag(FLAGS_max_catch_up));
  double forgiven = 0;
  for (absl::Time now = start; now < end; now = absl::Now()) {
    if (max_lines != 0 && sent_lines >= max_lines) break;
    if (rate > 0) {
      // Pace: never ahead of rate * elapsed; sleep off what we are ahead by.
      double allowed = rate * absl::ToDoubleSeconds(now - start) - forgiven;
      if (allowed - static_cast<double>(sent_lines) > max_debt) {
        forgiven += allowed - static_cast<double>(sent_lines) - max_debt;
        allowed = static_cast<double>(sent_lines) + max_debt;
      }
      if (static_cast<double>(sent_lines) >= allowed) {
        const double ahead = (static_cast<double>(sent_lines) - allowed) / rate;
        absl::SleepFor(std::min(absl::Seconds(ahead), absl::Milliseconds(1)) +
                       absl::Microseconds(20));
        continue;
      }
    }
    // One batch; the pool wraps around. With --lines, the last batch stops at the limit.
    int this_batch = batch;
    if (max_lines != 0) {
      uint64_t lines = sent_lines;
      for (this_batch = 0; this_batch < batch && lines < max_lines; ++this_batch) {
        lines += totals[(next + this_batch) % datagrams.size()].lines;
      }
    }
    for (int i = 0; i < this_batch; ++i) {
      const std::string& d = datagrams[(next + i) % datagrams.size()];
      iov[i] = {const_cast<char*>(d.data()), d.size()};
      std::memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = sendmmsg(fd, msgs.data(), this_batch, 0);
    ++calls;
    if (n < 0) {
      // ENOBUFS/EAGAIN: the local queue is full; back off briefly and count it.
      ++errors;
      if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED) {
        std::perror("sendmmsg");
        return 1;
      }
      std::this_thread::yield();
      continue;
    }
    for (int i = 0; i < n; ++i) {
      const size_t index = (next + i) % datagrams.size();
      sent_bytes += datagrams[index].size();
      sent_lines += totals[index].lines;
      counter_sum += totals[index].counter_sum;
      timer_count += totals[index].timer_count;
    }
    sent_datagrams += n;
    next = (next + n) % datagrams.size();
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  close(fd);
  std::printf(
      "target %s: sent %llu datagrams, %llu lines, %llu bytes in %.2f s "
      "(%.0f lines/s, %.0f datagrams/s, %.1f MB/s); %llu sendmmsg calls, %llu failed\n",
      target.c_str(), static_cast<unsigned long long>(sent_datagrams),
      static_cast<unsigned long long>(sent_lines), static_cast<unsigned long long>(sent_bytes),
      seconds, sent_lines / seconds, sent_datagrams / seconds, sent_bytes / seconds / 1e6,
      static_cast<unsigned long long>(calls), static_cast<unsigned long long>(errors));
  // One machine-readable line for scripts (bench/e2e).
  std::printf(
      "totals lines=%llu datagrams=%llu bytes=%llu seconds=%.6f counter_sum=%.17g "
      "timer_count=%.17g mean_lines_per_datagram=%.2f\n",
      static_cast<unsigned long long>(sent_lines), static_cast<unsigned long long>(sent_datagrams),
      static_cast<unsigned long long>(sent_bytes), seconds, counter_sum, timer_count,
      sent_datagrams ? static_cast<double>(sent_lines) / sent_datagrams : 0.0);
  return 0;
}

}  // namespace
}  // namespace tallyd::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Sends realistic DogStatsD traffic over UDP: tallyd-loadgen --target=127.0.0.1:8125 "
      "--duration=10s --rate=0 --series=100000 --tags=3 --lines_per_datagram=16");
  absl::ParseCommandLine(argc, argv);
  return tallyd::bench::Run();
}
