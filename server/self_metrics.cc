#include "server/self_metrics.h"

#include <string>
#include <string_view>

namespace tallyd::server {
namespace {

using backends::SelfMetric;

class MetricList {
 public:
  void Add(std::string name, std::string help, SelfMetric::Kind kind, double value,
           std::vector<std::pair<std::string, std::string>> labels = {}) {
    list_.push_back({std::move(name), std::move(help), kind, std::move(labels), value});
  }
  std::vector<SelfMetric> Take() { return std::move(list_); }

 private:
  std::vector<SelfMetric> list_;
};

constexpr auto kCounter = SelfMetric::Kind::kCounter;
constexpr auto kGauge = SelfMetric::Kind::kGauge;

}  // namespace

std::shared_ptr<const std::vector<SelfMetric>> SelfMetricsCollector::Collect(
    const std::vector<const IngestCounters*>& workers, const aggregator::Snapshot& snapshot,
    absl::Duration flush_duration, const std::vector<BackendReport>& backends,
    bool events_forwarded) {
  const aggregator::FlushStats& stats = snapshot.stats;
  series_dropped_ += stats.series_dropped;
  mapping_dropped_ += stats.mapping_dropped;
  series_dropped_per_metric_ += stats.series_dropped_per_metric;
  overflows_ += stats.overflows;
  points_dropped_ += stats.timestamped_points_dropped;
  events_dropped_ += stats.events_dropped + stats.service_checks_dropped;
  events_[events_forwarded ? 1 : 0] += snapshot.events.size() + snapshot.service_checks.size();

  auto sum = [&](auto field) {
    uint64_t total = 0;
    for (const IngestCounters* w : workers) total += field(*w).Get();
    return static_cast<double>(total);
  };
  MetricList out;
  for (int t = 0; t < kTransportCount; ++t) {
    std::pair<std::string, std::string> label{"transport",
                                              std::string(TransportName(Transport(t)))};
    out.Add("tallyd_packets_received_total", "Datagrams (UDP, Unix) or reads (TCP) received.",
            kCounter, sum([t](const IngestCounters& c) -> auto& { return c.packets[t]; }), {label});
    out.Add("tallyd_bytes_received_total", "Bytes received.", kCounter,
            sum([t](const IngestCounters& c) -> auto& { return c.bytes[t]; }), {label});
    out.Add("tallyd_packets_truncated_total",
            "Datagrams longer than max_packet_size, dropped whole.", kCounter,
            sum([t](const IngestCounters& c) -> auto& { return c.packets_truncated[t]; }), {label});
  }
  for (int m = 0; m < protocol::kMetricTypeCount; ++m) {
    out.Add("tallyd_lines_received_total", "Lines accepted, by type.", kCounter,
            sum([m](const IngestCounters& c) -> auto& { return c.lines[m]; }),
            {{"type", std::string(protocol::MetricTypeName(protocol::MetricType(m)))}});
  }
  out.Add("tallyd_lines_received_total", "Lines accepted, by type.", kCounter,
          sum([](const IngestCounters& c) -> auto& { return c.event_lines; }), {{"type", "event"}});
  out.Add("tallyd_lines_received_total", "Lines accepted, by type.", kCounter,
          sum([](const IngestCounters& c) -> auto& { return c.service_check_lines; }),
          {{"type", "service_check"}});
  for (int r = 0; r < protocol::kRejectReasonCount; ++r) {
    out.Add("tallyd_lines_rejected_total", "Lines rejected, by reason.", kCounter,
            sum([r](const IngestCounters& c) -> auto& { return c.rejected[r]; }),
            {{"reason", std::string(protocol::RejectReasonName(protocol::RejectReason(r)))}});
  }
  // Each worker's share of the input: how evenly the kernel spreads the datagrams (SO_REUSEPORT
  // and its BPF program for UDP, the shared Unix socket's readers), and what it parsed of them.
  for (size_t i = 0; i < workers.size(); ++i) {
    const IngestCounters& c = *workers[i];
    std::pair<std::string, std::string> label{"worker", std::to_string(i)};
    out.Add("tallyd_worker_datagrams_total", "Datagrams (UDP, Unix) received, by worker.", kCounter,
            static_cast<double>(c.packets[static_cast<int>(Transport::kUdp)].Get() +
                                c.packets[static_cast<int>(Transport::kUnix)].Get()),
            {label});
    uint64_t lines = 0;
    for (const RelaxedCounter& l : c.lines) lines += l.Get();
    out.Add("tallyd_worker_lines_total", "Metric lines accepted, by worker.", kCounter,
            static_cast<double>(lines), {label});
  }
  out.Add("tallyd_unknown_fields_total", "Optional line fields not understood (ignored).", kCounter,
          sum([](const IngestCounters& c) -> auto& { return c.unknown_fields; }));
  out.Add("tallyd_relay_sent_datagrams_total", "Datagrams relayed (summed over relay addresses).",
          kCounter, sum([](const IngestCounters& c) -> auto& { return c.relay_datagrams; }));
  out.Add("tallyd_relay_sent_lines_total", "Lines relayed (summed over relay addresses).", kCounter,
          sum([](const IngestCounters& c) -> auto& { return c.relay_lines; }));
  out.Add("tallyd_relay_dropped_lines_total",
          "Lines not relayed: the send would have blocked or failed (summed over addresses).",
          kCounter, sum([](const IngestCounters& c) -> auto& { return c.relay_dropped_lines; }));
  out.Add("tallyd_tags_malformed_total",
          "Tags in a metric's name (InfluxDB, Librato, SignalFX styles) not kept: no '=', an "
          "empty key or value, an unpaired bracket (the line is kept).",
          kCounter, sum([](const IngestCounters& c) -> auto& { return c.malformed_tags; }));
  out.Add("tallyd_udp_kernel_drops_total",
          "Datagrams the kernel dropped on a full UDP or Unix datagram receive queue (SO_MEMINFO "
          "drop counter, read once per flush).",
          kCounter, sum([](const IngestCounters& c) -> auto& { return c.kernel_drops; }));
  out.Add("tallyd_tcp_connections_rejected_total",
          "TCP connections over tcp_max_connections that found no idle connection to replace.",
          kCounter,
          sum([](const IngestCounters& c) -> auto& { return c.tcp_connections_rejected; }));
  for (int r = 0; r < kTcpCloseReasonCount; ++r) {
    out.Add("tallyd_tcp_connections_closed_total",
            "TCP connections tallyd closed, by reason: line_timeout (an incomplete line held "
            "past tcp_line_timeout), idle_timeout, evicted (the longest idle, for a new "
            "connection at tcp_max_connections).",
            kCounter,
            sum([r](const IngestCounters& c) -> auto& { return c.tcp_connections_closed[r]; }),
            {{"reason", std::string(TcpCloseReasonName(TcpCloseReason(r)))}});
  }
  for (int m = 0; m < protocol::kMetricTypeCount; ++m) {
    out.Add("tallyd_series_active", "Live series, by type.", kGauge,
            static_cast<double>(stats.series_active[m]),
            {{"type", std::string(protocol::MetricTypeName(protocol::MetricType(m)))}});
  }
  out.Add("tallyd_series_dropped_total", "Samples refused by the max_series cap.", kCounter,
          static_cast<double>(series_dropped_));
  out.Add("tallyd_mapping_dropped_total",
          "Lines a mapping_file rule dropped (action: drop, or a name that expanded to \"\").",
          kCounter, static_cast<double>(mapping_dropped_));
  out.Add("tallyd_series_dropped_per_metric_total",
          "Samples refused by the max_series_per_metric cap.", kCounter,
          static_cast<double>(series_dropped_per_metric_));
  // The offenders of the last flush only, at most FlushStats::kTopDroppedNames of them: a
  // gauge, so that one exploding client cannot grow tallyd's own label set without bound.
  for (const aggregator::NameDrops& top : stats.series_dropped_top_names) {
    out.Add("tallyd_series_dropped_per_metric_top",
            "Samples refused by max_series_per_metric in the last flush, for the names refused "
            "most (at most 10).",
            kGauge, static_cast<double>(top.dropped), {{"name", top.name}});
  }
  out.Add("tallyd_overflows_total",
          "Sums held at their last finite value instead of overflowing to Inf.", kCounter,
          static_cast<double>(overflows_));
  out.Add("tallyd_timestamped_points_dropped_total",
          "Client-timestamped samples over the per-interval bound.", kCounter,
          static_cast<double>(points_dropped_));
  out.Add("tallyd_events_dropped_total", "Events and service checks over the per-interval bound.",
          kCounter, static_cast<double>(events_dropped_));
  out.Add("tallyd_flush_duration_seconds", "Time the last flush took to merge and hand over.",
          kGauge, absl::ToDoubleSeconds(flush_duration));
  for (const BackendReport& b : backends) {
    backends::BackendStats total = b.stats;
    if (auto it = retired_backends_.find(b.name); it != retired_backends_.end()) {
      total.sent += it->second.sent;
      total.errors += it->second.errors;
      total.dropped_flushes += it->second.dropped_flushes;
    }
    std::pair<std::string, std::string> label{"backend", b.name};
    out.Add("tallyd_backend_sent_total", "Flushes delivered.", kCounter,
            static_cast<double>(total.sent), {label});
    out.Add("tallyd_backend_errors_total", "Failed deliveries (retried or rejected).", kCounter,
            static_cast<double>(total.errors), {label});
    out.Add("tallyd_backend_dropped_flushes_total",
            "Flushes dropped: queue full (oldest first), rejected by the peer, or still queued "
            "when a reload restarted the backend.",
            kCounter, static_cast<double>(total.dropped_flushes), {label});
  }
  out.Add("tallyd_events_total", "Events and service checks received.", kCounter,
          static_cast<double>(events_[1]), {{"forwarded", "true"}});
  out.Add("tallyd_events_total", "Events and service checks received.", kCounter,
          static_cast<double>(events_[0]), {{"forwarded", "false"}});
  return std::make_shared<const std::vector<SelfMetric>>(out.Take());
}

void SelfMetricsCollector::RetireBackend(const BackendReport& last) {
  backends::BackendStats& retired = retired_backends_[last.name];
  retired.sent += last.stats.sent;
  retired.errors += last.stats.errors;
  retired.dropped_flushes += last.stats.dropped_flushes + last.stats.queued;
}

}  // namespace tallyd::server
