#include "server/server.h"

#include <glog/logging.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "backends/clock.h"
#include "server/backend_factory.h"
#include "server/config_page.h"
#include "server/listen_sockets.h"
#include "server/log_level.h"
#include "server/server_reload.h"
#include "server/socket_address.h"

namespace tallyd::server {

aggregator::Options ToAggregatorOptions(const AggregationConfig& config,
                                        std::shared_ptr<const mapping::Mapping> mapping) {
  aggregator::Options options;
  options.mapping = std::move(mapping);
  options.percentiles = config.percentiles;
  options.exact_samples = config.exact_samples;
  options.sketch_accuracy = config.sketch_accuracy;
  options.exact_set_size = config.exact_set_size;
  options.gauge_mode = config.gauge_mode == GaugeMode::kEtsy ? aggregator::GaugeMode::kEtsy
                                                             : aggregator::GaugeMode::kDogStatsd;
  options.series_ttl = config.series_ttl;
  options.max_series = config.max_series;
  options.max_series_per_metric = static_cast<size_t>(config.max_series_per_metric);
  options.max_timestamped_points = static_cast<size_t>(config.max_timestamped_points);
  options.max_events = static_cast<size_t>(config.max_events);
  options.global_tags = config.global_tags;
  return options;
}

Server::Server(Config config, ServerOptions options)
    : config_(std::move(config)), origins_(options.origins), options_(std::move(options)) {
  if (!options_.load_config) {
    options_.load_config = [command_line = options_.command_line](ConfigOrigins* origins) {
      return LoadConfig(command_line, origins);
    };
  }
  if (!options_.start_backend) options_.start_backend = StartBackend;
  uv_loop_init(&loop_);
}

Server::~Server() {
  if (flush_loop_ != nullptr) flush_loop_->Stop();
  for (auto& w : workers_) w->Stop();
  if (handles_open_) CloseHandles();
  uv_run(&loop_, UV_RUN_DEFAULT);  // the close callbacks
  uv_loop_close(&loop_);
}

absl::Status Server::Start() {
  mapping_ = options_.mapping;
  if (mapping_ == nullptr && !config_.mapping_file.empty()) {
    absl::StatusOr<std::shared_ptr<const mapping::Mapping>> loaded =
        mapping::LoadMappingFile(config_.mapping_file);
    if (!loaded.ok()) return loaded.status();
    mapping_ = *std::move(loaded);
  }
  if (mapping_ != nullptr) {
    LOG(INFO) << "mapping: " << config_.mapping_file << ": " << mapping_->rule_count() << " rules";
  }
  aggregator_ = std::make_unique<aggregator::Aggregator>(
      ToAggregatorOptions(config_.aggregation, mapping_), config_.flush_interval);
  flush_loop_ = std::make_unique<FlushLoop>(
      aggregator_.get(), &clock_, config_.flush_interval,
      [this] {
        for (auto& w : workers_) w->Wake();
      },
      [this](std::shared_ptr<const aggregator::Snapshot> snapshot, absl::Duration took) {
        Deliver(std::move(snapshot), took);
      });
  const int n = EffectiveWorkers(config_.listen);
  WorkerOptions options;
  options.on_rotated = [this] { flush_loop_->NotifyRotated(); };
  options.parser.max_line_length = config_.listen.max_line_length;
  options.parser.max_tags = config_.listen.max_tags;
  options.relay.addresses = config_.relay;
  options.relay.packet_size = config_.relay_packet_size;
  options.parser.tag_formats = 0;
  for (TagFormat format : config_.listen.tag_formats) {
    // Same order in both enums (config/config.h, protocol/parser.h).
    options.parser.tag_formats |=
        protocol::TagFormatBit(static_cast<protocol::TagFormat>(static_cast<int>(format)));
  }
  options.max_packet_size = config_.listen.max_packet_size;
  options.tcp.max_line_length = config_.listen.max_line_length;
  options.tcp.idle_timeout = config_.listen.tcp_idle_timeout > absl::ZeroDuration()
                                 ? config_.listen.tcp_idle_timeout
                                 : absl::InfiniteDuration();
  options.tcp.line_timeout = config_.listen.tcp_line_timeout > absl::ZeroDuration()
                                 ? config_.listen.tcp_line_timeout
                                 : absl::InfiniteDuration();
  options.tcp.max_connections = config_.listen.tcp_max_connections;
  options.tcp.open_connections = &open_tcp_connections_;
  for (int i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, aggregator_->AddShard(), options));
  }

  const int rcvbuf = static_cast<int>(std::min<int64_t>(config_.listen.receive_buffer, INT32_MAX));
  auto optional = [this](const std::string& text) {
    return std::find(options_.optional_listen.begin(), options_.optional_listen.end(), text) !=
           options_.optional_listen.end();
  };
  for (const std::string& text : config_.listen.udp) {
    auto sockets = OpenUdpListener(text, n, rcvbuf, optional(text));
    if (!sockets.ok()) return sockets.status();
    if (sockets->fds.empty()) {
      LOG(INFO) << "udp " << text << ": this host has no such address (no IPv6?), skipped";
      continue;
    }
    for (int i = 0; i < n; ++i) workers_[i]->AddDatagramSocket(sockets->fds[i], Transport::kUdp);
    listeners_bound_.push_back(absl::StrCat("udp ", sockets->bound.ToString()));
  }
  for (const std::string& text : config_.listen.tcp) {
    auto sockets = OpenTcpListener(text, n, optional(text));
    if (!sockets.ok()) return sockets.status();
    if (sockets->fds.empty()) {
      LOG(INFO) << "tcp " << text << ": this host has no such address (no IPv6?), skipped";
      continue;
    }
    for (int i = 0; i < n; ++i) workers_[i]->AddTcpSocket(sockets->fds[i]);
    listeners_bound_.push_back(absl::StrCat("tcp ", sockets->bound.ToString()));
  }
  // A Unix socket path cannot be shared by SO_REUSEPORT: every worker reads the one socket.
  for (const std::string& path : config_.listen.unix) {
    auto sockets =
        OpenUnixListener(path, static_cast<int>(config_.listen.unix_socket_mode), n, rcvbuf);
    if (!sockets.ok()) return sockets.status();
    for (int i = 0; i < n; ++i) {
      workers_[i]->AddDatagramSocket(sockets->fds[i], Transport::kUnix, /*counts_kernel_drops=*/
                                     i == 0);
    }
    listeners_bound_.push_back(absl::StrCat("unix ", path));
  }

  for (BackendKind kind : kBackendKinds) {
    if (!BackendEnabled(config_, kind)) continue;
    absl::StatusOr<StartedBackend> started = options_.start_backend(config_, kind);
    if (!started.ok()) return started.status();
    backends_->Add(std::move(*started));
  }
  PublishConfigPage();

  for (auto& w : workers_) {
    if (absl::Status s = w->Start(); !s.ok()) return s;
  }
  // Signals are caught from here on (libuv queues them until Run() turns the loop), so a
  // SIGTERM right after start-up still gets the graceful stop.
  uv_async_init(&loop_, &reload_done_, &Server::OnReloadDone);
  reload_done_.data = this;
  handles_open_ = true;
  for (auto [handle, signum] :
       {std::pair{&sigterm_, SIGTERM}, {&sigint_, SIGINT}, {&sighup_, SIGHUP}}) {
    uv_signal_init(&loop_, handle);
    handle->data = this;
    uv_signal_start(handle, &Server::OnSignal, signum);
  }
  for (const std::string& b : bound_addresses()) LOG(INFO) << "listening: " << b;
  // Last: the file tells scripts that start-up is done (and SIGHUP is handled).
  WritePortsFile();
  return absl::OkStatus();
}

std::vector<std::string> Server::bound_addresses() const {
  std::vector<std::string> bound = listeners_bound_;
  for (std::string& b : backends_->bound()) bound.push_back(std::move(b));
  return bound;
}

void Server::WritePortsFile() const {
  if (options_.command_line.ports_file.empty()) return;
  const std::string tmp = options_.command_line.ports_file + ".tmp";
  {
    std::ofstream out(tmp);
    for (const std::string& b : bound_addresses()) out << b << "\n";
    if (!out.flush()) {
      LOG(WARNING) << "ports_file " << tmp << ": cannot write";
      return;
    }
  }
  // Readers never see a half-written file.
  if (std::rename(tmp.c_str(), options_.command_line.ports_file.c_str()) != 0) {
    LOG(WARNING) << "ports_file " << options_.command_line.ports_file << ": cannot rename " << tmp
                 << " to it";
  }
}

void Server::PublishConfigPage() {
  backends_->SetConfigPage(std::make_shared<const backends::ConfigPage>(
      RenderConfigPage(config_, origins_, options_.command_line.config_file)));
}

int Server::Run() {
  flush_loop_->Start();
  LOG(INFO) << "tallyd running: " << workers_.size() << " workers, flush every "
            << config_.flush_interval;
  uv_run(&loop_, UV_RUN_DEFAULT);
  return 0;
}

void Server::Deliver(std::shared_ptr<const aggregator::Snapshot> snapshot, absl::Duration took) {
  std::vector<const IngestCounters*> counters;
  for (auto& w : workers_) counters.push_back(&w->counters());
  backends_->Submit(std::move(snapshot), counters, took);
}

void Server::OnSignal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<Server*>(handle->data);
  if (signum == SIGHUP) {
    self->Reload();
    return;
  }
  LOG(INFO) << "signal " << signum << ": stopping";
  self->BeginShutdown();
}

void Server::BeginShutdown() {
  if (stopping_) return;
  stopping_ = true;
  // One budget for the whole stop, from the signal (SPEC 1). The backends get a little less,
  // so that their threads can end (and a Prometheus endpoint close) before it runs out.
  const absl::Time give_up = backends::MonotonicNow() + config_.shutdown_timeout;
  const absl::Time backends_deadline =
      give_up - std::min(absl::Milliseconds(200), config_.shutdown_timeout / 10);
  flush_loop_->Stop();
  // Workers stop reading, process what their sockets held and end; then nothing is in flight
  // and the shards can be rotated from here for the final flush.
  for (auto& w : workers_) w->Stop();
  flush_loop_->FlushFinal([this](absl::Time now) {
    bool all = true;
    for (auto& w : workers_) all = w->RotateNow(now) && all;
    return all;
  });
  // A reload still restarting a backend: its successor takes the flushes held for it, the
  // final one included, if it comes in time.
  if (reload_ != nullptr) {
    if (AwaitReload(*reload_, backends_deadline)) {
      FinishReload();
    } else {
      LOG(WARNING) << "reload: still restarting backends at shutdown_timeout";
      abandoned_threads_ = true;
    }
  }
  if (!StopBackends(backends_->TakeAll(), backends_deadline, give_up, nullptr)) {
    abandoned_threads_ = true;
  }
  LOG(INFO) << "stopped";
  CloseHandles();
}

void Server::CloseHandles() {
  handles_open_ = false;
  if (reload_ != nullptr) DetachReload(*reload_);
  for (uv_signal_t* s : {&sigterm_, &sigint_, &sighup_}) {
    uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&reload_done_), nullptr);
}

}  // namespace tallyd::server
