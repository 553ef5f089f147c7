#include "server/server.h"

#include <glog/logging.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "server/backend_factory.h"
#include "server/listen_sockets.h"
#include "server/log_level.h"
#include "server/socket_address.h"

namespace tallyd::server {

aggregator::Options ToAggregatorOptions(const AggregationConfig& config) {
  aggregator::Options options;
  options.percentiles = config.percentiles;
  options.exact_samples = config.exact_samples;
  options.sketch_accuracy = config.sketch_accuracy;
  options.exact_set_size = config.exact_set_size;
  options.gauge_mode = config.gauge_mode == GaugeMode::kEtsy ? aggregator::GaugeMode::kEtsy
                                                             : aggregator::GaugeMode::kDogStatsd;
  options.series_ttl = config.series_ttl;
  options.max_series = config.max_series;
  options.max_timestamped_points = static_cast<size_t>(config.max_timestamped_points);
  options.max_events = static_cast<size_t>(config.max_events);
  options.global_tags = config.global_tags;
  return options;
}

Server::Server(Config config, ServerOptions options)
    : config_(std::move(config)), options_(std::move(options)) {
  uv_loop_init(&loop_);
}

Server::~Server() {
  for (auto& w : workers_) w->Stop();
  uv_loop_close(&loop_);
}

absl::Status Server::Start() {
  aggregator_ = std::make_unique<aggregator::Aggregator>(ToAggregatorOptions(config_.aggregation),
                                                         config_.flush_interval);
  const int n = EffectiveWorkers(config_.listen);
  WorkerOptions options;
  options.parser.max_line_length = config_.listen.max_line_length;
  options.parser.max_tags = config_.listen.max_tags;
  options.max_packet_size = config_.listen.max_packet_size;
  options.tcp.max_line_length = config_.listen.max_line_length;
  options.tcp.idle_timeout = config_.listen.tcp_idle_timeout > absl::ZeroDuration()
                                 ? config_.listen.tcp_idle_timeout
                                 : absl::InfiniteDuration();
  // Lead: wire listen.tcp_line_timeout here once the config declares it (0: never), e.g.
  //   options.tcp.line_timeout = config_.listen.tcp_line_timeout; (default 10 s until then)
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
  // A Unix socket path cannot be shared by SO_REUSEPORT: the first worker reads it.
  for (const std::string& path : config_.listen.unix_sockets) {
    absl::StatusOr<int> fd =
        OpenUnixDatagramSocket(path, static_cast<int>(config_.listen.unix_socket_mode), rcvbuf);
    if (!fd.ok()) return fd.status();
    workers_[0]->AddDatagramSocket(*fd, Transport::kUnix);
    listeners_bound_.push_back(absl::StrCat("unix ", path));
  }

  for (BackendKind kind : kBackendKinds) {
    if (!BackendEnabled(config_, kind)) continue;
    absl::StatusOr<StartedBackend> started = StartBackend(config_, kind);
    if (!started.ok()) return started.status();
    backends_.push_back(std::move(*started));
  }

  for (auto& w : workers_) {
    if (absl::Status s = w->Start(); !s.ok()) return s;
  }
  // Signals are caught from here on (libuv queues them until Run() turns the loop), so a
  // SIGTERM right after start-up still gets the graceful stop.
  uv_timer_init(&loop_, &flush_timer_);
  flush_timer_.data = this;
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
  for (const StartedBackend& b : backends_) {
    if (!b.bound.empty()) bound.push_back(b.bound);
  }
  return bound;
}

void Server::WritePortsFile() const {
  if (options_.ports_file.empty()) return;
  const std::string tmp = options_.ports_file + ".tmp";
  {
    std::ofstream out(tmp);
    for (const std::string& b : bound_addresses()) out << b << "\n";
    if (!out.flush()) {
      LOG(WARNING) << "ports_file " << tmp << ": cannot write";
      return;
    }
  }
  // Readers never see a half-written file.
  if (std::rename(tmp.c_str(), options_.ports_file.c_str()) != 0) {
    LOG(WARNING) << "ports_file " << options_.ports_file << ": cannot rename " << tmp << " to it";
  }
}

int Server::Run() {
  // Flushes fall on multiples of the interval on the wall clock (SPEC 3), as Etsy's and the
  // Agent's do, so every host's points line up.
  const absl::Time now = absl::Now();
  next_flush_ = absl::FromUnixNanos(
      (absl::ToUnixNanos(now) / absl::ToInt64Nanoseconds(config_.flush_interval) + 1) *
      absl::ToInt64Nanoseconds(config_.flush_interval));
  ScheduleFlush();
  LOG(INFO) << "tallyd running: " << workers_.size() << " workers, flush every "
            << config_.flush_interval;
  uv_run(&loop_, UV_RUN_DEFAULT);
  return 0;
}

void Server::ScheduleFlush() {
  int64_t delay_ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(next_flush_ - absl::Now()));
  uv_timer_start(&flush_timer_, &Server::OnFlushTimer, delay_ms, 0);
}

void Server::OnFlushTimer(uv_timer_t* timer) {
  auto* self = static_cast<Server*>(timer->data);
  // The timer may fire a little early (ms resolution): wait for the boundary itself.
  if (absl::Now() < self->next_flush_) {
    self->ScheduleFlush();
    return;
  }
  self->FlushOnce(self->next_flush_, /*final=*/false);
  const absl::Time now = absl::Now();
  while (self->next_flush_ <= now) self->next_flush_ += self->config_.flush_interval;
  self->ScheduleFlush();
}

void Server::FlushOnce(absl::Time flush_time, bool final) {
  const absl::Time started = absl::Now();
  aggregator_->RequestRotation(flush_time);
  if (!final) {
    for (auto& w : workers_) w->Wake();
    // A worker busy with a batch rotates right after it; one that is late is merged next time.
    aggregator_->AwaitRotation(started + std::min(absl::Seconds(1), config_.flush_interval / 2));
  }
  std::shared_ptr<const aggregator::Snapshot> snapshot = aggregator_->Flush(flush_time);
  std::vector<const IngestCounters*> counters;
  for (auto& w : workers_) counters.push_back(&w->counters());
  std::vector<BackendReport> reports;
  bool events_forwarded = false;
  for (const StartedBackend& b : backends_) {
    reports.push_back({std::string(b.runner->name()), b.runner->stats()});
    events_forwarded |= b.runner->backend().forwards_events();
  }
  auto self_metrics =
      self_metrics_.Collect(counters, *snapshot, absl::Now() - started, reports, events_forwarded);
  for (const StartedBackend& b : backends_) b.runner->Submit({snapshot, self_metrics});
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
  uv_timer_stop(&flush_timer_);
  // Workers stop reading, process what their sockets hold and end; then nothing is in flight
  // and the shards can be rotated from here for the final flush.
  for (auto& w : workers_) w->Stop();
  // The final flush closes the interval that would have ended at next_flush_: stamping it so
  // keeps Graphite and Datadog from overwriting the previous flush's points of the same second.
  const absl::Time now = std::max(absl::Now(), next_flush_);
  aggregator_->RequestRotation(now);
  bool all_rotated = true;
  for (auto& w : workers_) all_rotated &= w->RotateNow(now);
  if (!all_rotated) {
    // A shard still held an interval the last flush missed: flush it first, then the rest.
    FlushOnce(now, /*final=*/true);
    aggregator_->RequestRotation(now);
    for (auto& w : workers_) w->RotateNow(now);
  }
  FlushOnce(now, /*final=*/true);
  const absl::Time deadline = absl::Now() + config_.shutdown_timeout;
  for (const StartedBackend& b : backends_) {
    if (!b.runner->Stop(deadline)) {
      LOG(WARNING) << b.runner->name() << ": final flush not delivered within shutdown_timeout";
    }
  }
  LOG(INFO) << "stopped";
  uv_close(reinterpret_cast<uv_handle_t*>(&flush_timer_), nullptr);
  for (uv_signal_t* s : {&sigterm_, &sigint_, &sighup_}) {
    uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
  }
}

void Server::RetireBackend(backends::BackendRunner* runner, absl::Time deadline) {
  if (!runner->Stop(deadline)) {
    LOG(WARNING) << runner->name() << ": " << runner->stats().queued
                 << " flushes not delivered within shutdown_timeout, dropped by the reload";
  }
  // Its successor's counters go on from these.
  self_metrics_.RetireBackend({std::string(runner->name()), runner->stats()});
}

void Server::ReloadBackends(const Config& fresh) {
  const std::vector<std::string> bound_before = bound_addresses();
  // A backend whose own settings are unchanged keeps running untouched: its exposed state
  // (Prometheus counters are cumulative since the series appeared, SPEC 4.1), its queue and
  // its sockets. The others go first, delivering what they hold (bounded by shutdown_timeout):
  // a listening backend must release its port before its successor binds it.
  const absl::Time deadline = absl::Now() + config_.shutdown_timeout;
  std::vector<StartedBackend> running;
  std::vector<BackendKind> stopped;  // for a restart with the new settings, or for good
  for (StartedBackend& b : backends_) {
    if (BackendSettingsChanged(config_, fresh, b.kind)) {
      RetireBackend(b.runner.get(), deadline);
      stopped.push_back(b.kind);
    } else {
      running.push_back(std::move(b));
    }
  }
  backends_.clear();
  bool changed = !stopped.empty();
  for (BackendKind kind : kBackendKinds) {
    const std::string_view name = BackendName(kind);
    auto it = std::find_if(running.begin(), running.end(),
                           [kind](const StartedBackend& b) { return b.kind == kind; });
    if (it != running.end()) {
      ApplyLiveSettings(fresh, &*it);
      backends_.push_back(std::move(*it));
      continue;
    }
    const bool was_running = std::find(stopped.begin(), stopped.end(), kind) != stopped.end();
    if (!BackendEnabled(fresh, kind)) {
      if (was_running) LOG(INFO) << "reload: " << name << " stopped";
      CopyBackendSettings(kind, fresh, &config_);
      continue;
    }
    changed = true;
    absl::StatusOr<StartedBackend> started = StartBackend(fresh, kind);
    if (started.ok()) {
      LOG(INFO) << "reload: " << name
                << (was_running ? " restarted with the new settings" : " started");
      CopyBackendSettings(kind, fresh, &config_);
    } else if (was_running) {
      LOG(ERROR) << "reload: " << started.status().message() << "; restarting " << name
                 << " with the previous settings";
      started = StartBackend(config_, kind);
      if (started.ok()) {
        ApplyLiveSettings(fresh, &*started);
      } else {
        LOG(ERROR) << "reload: " << name
                   << " failed with the previous settings too, now off: " << started.status();
      }
    } else {
      LOG(ERROR) << "reload: " << name << " not started: " << started.status().message();
    }
    if (started.ok()) backends_.push_back(std::move(*started));
  }
  if (!changed) {
    LOG(INFO) << "reload: backend settings unchanged";
    return;
  }
  if (const std::vector<std::string> bound = bound_addresses(); bound != bound_before) {
    for (const std::string& b : bound) LOG(INFO) << "listening: " << b;
    WritePortsFile();
  }
}

void Server::Reload() {
  LOG(INFO) << "SIGHUP: reloading the configuration";
  absl::StatusOr<Config> fresh = LoadConfigFromFlags();
  if (!fresh.ok()) {
    LOG(ERROR) << "reload failed, keeping the running configuration: " << fresh.status();
    return;
  }
  // First, so that the rest of the reload logs at the new level.
  ChangeLogLevel(config_.log_level, fresh->log_level);
  config_.log_level = fresh->log_level;
  if (!(fresh->listen == config_.listen) || fresh->flush_interval != config_.flush_interval) {
    LOG(WARNING) << "reload: listener or flush_interval changes need a restart; not applied";
  }
  ReloadBackends(*fresh);
  if (!(fresh->aggregation == config_.aggregation)) {
    aggregator_->UpdateOptions(ToAggregatorOptions(fresh->aggregation));
    config_.aggregation = fresh->aggregation;
    LOG(INFO) << "reload: aggregation settings applied from the next flush";
  }
  config_.shutdown_timeout = fresh->shutdown_timeout;
}

}  // namespace tallyd::server
