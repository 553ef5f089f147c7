#include "server/server_reload.h"

#include <glog/logging.h>

#include <algorithm>
#include <thread>

#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "backends/clock.h"
#include "server/log_level.h"
#include "server/server.h"

namespace tallyd::server {

void StartBackendRestarts(std::shared_ptr<ReloadChannel> channel,
                          std::shared_ptr<BackendSet> backends,
                          std::vector<BackendRestart> restarts, const Config& running,
                          const Config& fresh, absl::Time deadline, StartBackendFn start_backend) {
  std::thread([channel = std::move(channel), backends = std::move(backends),
               restarts = std::move(restarts), running, fresh, deadline,
               start_backend = std::move(start_backend)]() mutable {
    // First the old ones, all at once: a listening backend must release its port before its
    // successor binds it.
    std::vector<std::unique_ptr<backends::BackendRunner>> old;
    for (BackendRestart& r : restarts) {
      if (r.old != nullptr) old.push_back(std::move(r.old));
    }
    // Flushes still queued at the deadline are lost with the runner (logged by StopBackends,
    // counted as dropped by Retire).
    StopBackends(std::move(old), deadline, absl::InfiniteFuture(),
                 [backends](const backends::BackendRunner& runner) { backends->Retire(runner); });
    std::vector<ReloadOutcome> outcomes;
    for (const BackendRestart& r : restarts) {
      ReloadOutcome& out = outcomes.emplace_back();
      out.kind = r.kind;
      out.was_running = r.was_running;
      out.wanted = r.start;
      if (!r.start) continue;
      out.started = start_backend(fresh, r.kind);
      out.new_settings = out.started.ok();
      if (!out.started.ok() && r.was_running) {
        const std::string_view name = BackendName(r.kind);
        LOG(ERROR) << "reload: " << out.started.status().message() << "; restarting " << name
                   << " with the previous settings";
        out.started = start_backend(running, r.kind);
        if (out.started.ok()) {
          ApplyLiveSettings(fresh, &*out.started);
        } else {
          LOG(ERROR) << "reload: " << name
                     << " failed with the previous settings too, now off: " << out.started.status();
        }
      }
    }
    std::lock_guard lock(channel->mu);
    channel->outcomes = std::move(outcomes);
    channel->done = true;
    channel->done_cv.notify_all();
    if (channel->notify != nullptr) uv_async_send(channel->notify);
  }).detach();
}

bool AwaitReload(ReloadChannel& channel, absl::Time deadline) {
  std::unique_lock lock(channel.mu);
  if (deadline == absl::InfiniteFuture()) {
    channel.done_cv.wait(lock, [&] { return channel.done; });
    return true;
  }
  const absl::Duration left = std::max(deadline - backends::MonotonicNow(), absl::ZeroDuration());
  return channel.done_cv.wait_for(lock, absl::ToChronoNanoseconds(left),
                                  [&] { return channel.done; });
}

void DetachReload(ReloadChannel& channel) {
  std::lock_guard lock(channel.mu);
  channel.notify = nullptr;
}

void Server::Reload() {
  if (stopping_) return;
  if (reload_ != nullptr) {
    LOG(INFO) << "SIGHUP: the previous reload is still restarting backends; reloading after it";
    reload_again_ = true;
    return;
  }
  LOG(INFO) << "SIGHUP: reloading the configuration";
  ConfigOrigins fresh_origins;
  absl::StatusOr<Config> fresh = options_.load_config(&fresh_origins);
  if (!fresh.ok()) {
    // /debug/config goes on showing the running configuration too.
    LOG(ERROR) << "reload failed, keeping the running configuration: " << fresh.status();
    return;
  }
  // First, so that the rest of the reload logs at the new level.
  ChangeLogLevel(config_.log_level, fresh->log_level);
  config_.log_level = fresh->log_level;
  if (std::vector<std::string> keys = KeysNeedingRestart(config_, *fresh); !keys.empty()) {
    LOG(WARNING) << "reload: " << absl::StrJoin(keys, ", ")
                 << ": changes need a restart; not applied";
  }
  // The mapping file is read again even under the same name: its rules may have changed. A
  // file that does not load keeps the running rules; series created under any rules keep the
  // identity those gave them until they expire.
  std::shared_ptr<const mapping::Mapping> mapping = mapping_;
  bool mapping_changed = false;
  if (fresh->mapping_file.empty()) {
    mapping_changed = mapping_ != nullptr;
    mapping = nullptr;
    if (mapping_changed) LOG(INFO) << "reload: mapping_file unset; new series are not mapped";
  } else if (absl::StatusOr<std::shared_ptr<const mapping::Mapping>> loaded =
                 mapping::LoadMappingFile(fresh->mapping_file);
             !loaded.ok()) {
    LOG(ERROR) << "reload: " << loaded.status().message() << "; keeping the running mapping rules"
               << (config_.mapping_file.empty() ? " (none)" : " of " + config_.mapping_file);
    fresh->mapping_file = config_.mapping_file;
    // ... and its origin, not the new file's line naming the file that failed.
    fresh_origins.where["mapping_file"] = origins_.Of("mapping_file");
  } else {
    mapping = *std::move(loaded);
    mapping_changed = true;
    LOG(INFO) << "reload: mapping " << fresh->mapping_file << ": " << mapping->rule_count()
              << " rules, applied to series created from the next flush";
  }
  if (!(fresh->aggregation == config_.aggregation) || mapping_changed) {
    flush_loop_->UpdateOptions(ToAggregatorOptions(fresh->aggregation, mapping));
    if (!(fresh->aggregation == config_.aggregation)) {
      LOG(INFO) << "reload: aggregation settings applied from the next flush";
    }
    config_.aggregation = fresh->aggregation;
  }
  mapping_ = std::move(mapping);
  config_.mapping_file = fresh->mapping_file;
  // A backend whose own settings are unchanged keeps running untouched: its exposed state
  // (Prometheus counters are cumulative since the series appeared, SPEC 4.1), its queue and
  // its sockets. The others are taken off the flush path here and restarted on a thread of
  // their own; their flushes meanwhile are held for their successors.
  std::vector<BackendRestart> restarts;
  for (BackendKind kind : kBackendKinds) {
    const bool running = backends_->Has(kind);
    if (!BackendSettingsChanged(config_, *fresh, kind)) {
      if (running) backends_->ApplyLiveSettings(*fresh, kind);
      continue;
    }
    const bool wanted = BackendEnabled(*fresh, kind);
    if (!running && !wanted) {
      CopyBackendSettings(kind, *fresh, &config_);
      continue;
    }
    restarts.push_back({kind, backends_->Detach(kind, /*hold=*/wanted), wanted, running});
  }
  config_.shutdown_timeout = fresh->shutdown_timeout;
  // What applies now is in force now; the backends being restarted follow in FinishReload.
  origins_ = OriginsInForce(config_, *fresh, fresh_origins, origins_);
  PublishConfigPage();
  if (restarts.empty()) {
    LOG(INFO) << "reload: backend settings unchanged";
    return;
  }
  reload_ = std::make_shared<ReloadChannel>();
  reload_->notify = &reload_done_;
  reload_->bound_before = bound_addresses();
  reload_->fresh = *fresh;
  reload_->fresh_origins = std::move(fresh_origins);
  StartBackendRestarts(reload_, backends_, std::move(restarts), config_, *fresh,
                       backends::MonotonicNow() + config_.shutdown_timeout, options_.start_backend);
}

void Server::OnReloadDone(uv_async_t* handle) {
  auto* self = static_cast<Server*>(handle->data);
  if (self->reload_ == nullptr || self->stopping_) return;
  {
    std::lock_guard lock(self->reload_->mu);
    if (!self->reload_->done) return;
  }
  self->FinishReload();
}

void Server::FinishReload() {
  std::shared_ptr<ReloadChannel> done = std::move(reload_);
  std::vector<ReloadOutcome> outcomes;
  {
    std::lock_guard lock(done->mu);
    outcomes = std::move(done->outcomes);
  }
  for (ReloadOutcome& out : outcomes) {
    const std::string_view name = BackendName(out.kind);
    if (!out.wanted) {
      LOG(INFO) << "reload: " << name << " stopped";
      CopyBackendSettings(out.kind, done->fresh, &config_);
      continue;
    }
    if (!out.started.ok()) {
      if (!out.was_running) {
        LOG(ERROR) << "reload: " << name << " not started: " << out.started.status().message();
      }
      backends_->Forget(out.kind);
      continue;
    }
    if (out.new_settings) {
      LOG(INFO) << "reload: " << name
                << (out.was_running ? " restarted with the new settings" : " started");
      CopyBackendSettings(out.kind, done->fresh, &config_);
    }
    backends_->Install(std::move(*out.started));
  }
  // A backend restarted with the new settings shows them, one that fell back its old ones.
  origins_ = OriginsInForce(config_, done->fresh, done->fresh_origins, origins_);
  PublishConfigPage();
  if (const std::vector<std::string> bound = bound_addresses(); bound != done->bound_before) {
    for (const std::string& b : bound) LOG(INFO) << "listening: " << b;
    WritePortsFile();
  }
  if (reload_again_ && !stopping_) {
    reload_again_ = false;
    Reload();
  }
}

}  // namespace tallyd::server
