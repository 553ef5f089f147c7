// Per-worker counters of what arrived and what was rejected (SPEC 5's input self-metrics).
//
// Each IngestCounters is written by exactly one worker thread and read by the flush thread, so
// a counter is a relaxed atomic bumped with a plain load+store: no lock and no read-modify-write
// instruction on the hot path, yet the cross-thread read is well defined.
#ifndef TALLYD_SERVER_INGEST_COUNTERS_H_
#define TALLYD_SERVER_INGEST_COUNTERS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "protocol/parser.h"

namespace tallyd::server {

enum class Transport : uint8_t { kUdp, kTcp, kUnix };
inline constexpr int kTransportCount = 3;
inline std::string_view TransportName(Transport t) {
  switch (t) {
    case Transport::kUdp:
      return "udp";
    case Transport::kTcp:
      return "tcp";
    case Transport::kUnix:
      return "unix";
  }
  return "?";
}

// Why tallyd closed a TCP connection (the peer closing is not counted here).
enum class TcpCloseReason : uint8_t {
  kLineTimeout,  // held an incomplete line longer than tcp_line_timeout
  kIdleTimeout,  // nothing read for tcp_idle_timeout
  kEvicted,      // the longest idle, closed at tcp_max_connections for a new connection
};
inline constexpr int kTcpCloseReasonCount = 3;
inline std::string_view TcpCloseReasonName(TcpCloseReason r) {
  switch (r) {
    case TcpCloseReason::kLineTimeout:
      return "line_timeout";
    case TcpCloseReason::kIdleTimeout:
      return "idle_timeout";
    case TcpCloseReason::kEvicted:
      return "evicted";
  }
  return "?";
}

class RelaxedCounter {
 public:
  void Add(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void Set(uint64_t v) { value_.store(v, std::memory_order_relaxed); }
  uint64_t Get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

struct alignas(64) IngestCounters {
  std::array<RelaxedCounter, kTransportCount> packets;
  std::array<RelaxedCounter, kTransportCount> bytes;
  std::array<RelaxedCounter, kTransportCount> packets_truncated;
  std::array<RelaxedCounter, protocol::kMetricTypeCount> lines;  // accepted metric lines
  RelaxedCounter event_lines;
  RelaxedCounter service_check_lines;
  std::array<RelaxedCounter, protocol::kRejectReasonCount> rejected;
  RelaxedCounter unknown_fields;
  // Tags in a metric's name (InfluxDB, Librato, SignalFX styles) not kept:
  // MetricLine::malformed_tags.
  RelaxedCounter malformed_tags;
  // Sum over this worker's datagram sockets of the kernel's drop counter (SO_MEMINFO), read once
  // per flush.
  RelaxedCounter kernel_drops;
  // Over tcp_max_connections with no connection of this worker's to evict for it.
  RelaxedCounter tcp_connections_rejected;
  std::array<RelaxedCounter, kTcpCloseReasonCount> tcp_connections_closed;
  // Relay (server/relay.h), summed over its addresses: datagrams and lines sent, lines dropped.
  RelaxedCounter relay_datagrams;
  RelaxedCounter relay_lines;
  RelaxedCounter relay_dropped_lines;
};

}  // namespace tallyd::server

#endif  // TALLYD_SERVER_INGEST_COUNTERS_H_
