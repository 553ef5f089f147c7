#include "server/worker.h"

#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "aggregator/aggregator.h"
#include "backends/backend.h"

namespace tallyd::server {
namespace {

// Rejected lines are logged at most once per 10 s for the whole process (LOG_EVERY_T keeps one
// timer per call site, shared by every worker); all of them are counted, per reason.
void LogRejected(protocol::RejectReason reason, std::string_view line) {
  LOG_EVERY_T(WARNING, 10) << "rejected line (" << protocol::RejectReasonName(reason)
                           << "): " << EscapeForLog(line, kLoggedLineChars)
                           << " (further rejections for 10 s are counted, not logged)";
}

}  // namespace

std::string EscapeForLog(std::string_view text, size_t max_chars) {
  // Debian's Abseil has its own string_view type.
  std::string out =
      absl::CHexEscape(absl::string_view(text.data(), std::min(text.size(), max_chars)));
  if (text.size() > max_chars) out += "...";
  return out;
}

Worker::Worker(int index, aggregator::Shard* shard, const WorkerOptions& options)
    : index_(index),
      shard_(shard),
      options_(options),
      scratch_(options.parser.max_line_length + 2) {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &async_, &Worker::OnAsync);
  async_.data = this;
}

Worker::~Worker() {
  if (thread_.joinable()) Stop();
  if (!ran_) {
    // Never ran (a start-up that failed first): its handles are still open.
    Shutdown();
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
  for (const DatagramSocket& s : datagram_fds_) close(s.fd);
  for (int fd : tcp_fds_) close(fd);
  uv_loop_close(&loop_);
}

void Worker::AddDatagramSocket(int fd, Transport transport, bool counts_kernel_drops) {
  datagram_fds_.push_back({fd, transport, counts_kernel_drops});
}
void Worker::AddTcpSocket(int fd) { tcp_fds_.push_back(fd); }

absl::Status Worker::Start() {
  for (const DatagramSocket& s : datagram_fds_) {
    readers_.push_back(std::make_unique<DatagramReader>(&loop_, s.fd, s.transport,
                                                        options_.max_packet_size, this, &counters_,
                                                        s.counts_kernel_drops));
    readers_.back()->Start();
  }
  datagram_fds_.clear();  // owned by the readers now
  for (int fd : tcp_fds_) {
    tcp_listeners_.push_back(
        std::make_unique<TcpListener>(&loop_, fd, options_.tcp, this, &counters_));
    if (absl::Status s = tcp_listeners_.back()->Start(); !s.ok()) return s;
  }
  tcp_fds_.clear();
  if (!options_.relay.addresses.empty()) {
    absl::StatusOr<std::unique_ptr<LineRelay>> relay =
        LineRelay::Create(options_.relay, &counters_);
    if (!relay.ok()) return relay.status();
    relay_ = *std::move(relay);
    relay_->Attach(&loop_);
  }
  ran_ = true;
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void Worker::Run() {
  backends::NameCallingThread(absl::StrCat("worker-", index_));
  uv_run(&loop_, UV_RUN_DEFAULT);
  // Every handle is closed once Shutdown() ran; let their close callbacks finish.
  uv_run(&loop_, UV_RUN_DEFAULT);
}

void Worker::Wake() { uv_async_send(&async_); }

void Worker::Stop() {
  if (!thread_.joinable()) return;
  stop_requested_.store(true, std::memory_order_release);
  uv_async_send(&async_);
  thread_.join();
}

void Worker::OnAsync(uv_async_t* handle) {
  auto* self = static_cast<Worker*>(handle->data);
  if (self->stop_requested_.load(std::memory_order_acquire)) {
    self->Shutdown();
    return;
  }
  // Once per flush (the flush loop wakes each worker once per interval), before the hand-over,
  // so this flush's self-metrics already hold what the kernel dropped until now.
  for (auto& reader : self->readers_) reader->CollectKernelDrops();
  if (self->shard_->RotateIfRequested() && self->options_.on_rotated) self->options_.on_rotated();
}

void Worker::Shutdown() {
  for (auto& reader : readers_) reader->DrainAndClose();
  for (auto& listener : tcp_listeners_) listener->DrainAndClose();
  if (relay_ != nullptr) relay_->Close();  // sends what the drained sockets left
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

void Worker::OnReceive() {
  // One clock read per receive batch (vDSO, no syscall).
  shard_->set_receive_time(absl::ToUnixNanos(aggregator::MonotonicNow()));
}

void Worker::OnData(std::string_view data, Transport transport) {
  // A TCP read is its own receive (the datagram readers call OnReceive per batch).
  if (transport == Transport::kTcp) OnReceive();
  // Events, service checks and rejections; metric lines are parsed straight into the batch.
  protocol::ParsedLine other;
  protocol::ForEachLine(data, [this, &other](std::string_view line) {
    if (scratch_.available() < line.size() + 2) FlushBatch();  // frees the scratch
    protocol::MetricLine& slot = batch_[batch_size_];
    const protocol::LineKind kind =
        protocol::ParseLine(line, options_.parser, &slot, &other, &scratch_);
    // Every line parsed OK (events and service checks too) goes to the relay, as sent.
    if (relay_ != nullptr && kind != protocol::LineKind::kRejected) relay_->Add(line);
    switch (kind) {
      case protocol::LineKind::kMetric:  // counted in FlushBatch, once the shard took it
        if (slot.unknown_fields != 0) counters_.unknown_fields.Add(slot.unknown_fields);
        if (slot.malformed_tags != 0) counters_.malformed_tags.Add(slot.malformed_tags);
        if (++batch_size_ == kBatchLines) FlushBatch();
        break;
      case protocol::LineKind::kEvent:
        counters_.event_lines.Add();
        shard_->AddEvent(other.event);
        break;
      case protocol::LineKind::kServiceCheck:
        counters_.service_check_lines.Add();
        shard_->AddServiceCheck(other.service_check);
        break;
      case protocol::LineKind::kRejected:
        counters_.rejected[static_cast<int>(other.reason)].Add();
        LogRejected(other.reason, line);
        break;
    }
  });
  // A TCP chunk is valid during this call only; datagrams until OnReceiveEnd.
  if (transport == Transport::kTcp) FlushBatch();
}

void Worker::FlushBatch() {
  if (batch_size_ == 0) {
    scratch_.Clear();  // what it holds belongs to no line any more
    return;
  }
  uint64_t accepted[protocol::kMetricTypeCount] = {};
  for (size_t i = 0; i < batch_size_; ++i) ++accepted[static_cast<int>(batch_[i].type)];
  // The shard checks a line's name and tags for UTF-8 when the line would create a series.
  shard_->AddBatch(batch_, batch_size_, [this, &accepted](const protocol::MetricLine& line) {
    --accepted[static_cast<int>(line.type)];
    counters_.rejected[static_cast<int>(protocol::RejectReason::kInvalidUtf8)].Add();
    // The line's bytes from its name to its tags (views into the same line).
    const char* end = line.tags.empty() ? line.name.data() + line.name.size()
                                        : line.tags.data() + line.tags.size();
    LogRejected(protocol::RejectReason::kInvalidUtf8,
                std::string_view(line.name.data(), static_cast<size_t>(end - line.name.data())));
  });
  for (int t = 0; t < protocol::kMetricTypeCount; ++t) {
    if (accepted[t] != 0) counters_.lines[t].Add(accepted[t]);
  }
  batch_size_ = 0;
  scratch_.Clear();
}

}  // namespace tallyd::server
