#include "server/backend_set.h"

#include <glog/logging.h>

#include <algorithm>
#include <condition_variable>
#include <thread>

#include "absl/time/clock.h"
#include "backends/clock.h"
#include "backends/prometheus.h"

namespace tallyd::server {
namespace {

// The page, on `runner` if it is the Prometheus backend (a test may run another in its place).
void ServeConfigPage(const std::shared_ptr<const backends::ConfigPage>& page,
                     backends::BackendRunner& runner) {
  auto* prometheus = dynamic_cast<backends::PrometheusBackend*>(&runner.backend());
  if (page != nullptr && prometheus != nullptr) prometheus->SetConfigPage(page->text, page->json);
}

int Order(BackendKind kind) {
  return static_cast<int>(std::find(std::begin(kBackendKinds), std::end(kBackendKinds), kind) -
                          std::begin(kBackendKinds));
}

}  // namespace

BackendSet::Slot* BackendSet::Find(BackendKind kind) {
  for (Slot& s : slots_) {
    if (s.kind == kind) return &s;
  }
  return nullptr;
}

const BackendSet::Slot* BackendSet::Find(BackendKind kind) const {
  return const_cast<BackendSet*>(this)->Find(kind);
}

void BackendSet::Add(StartedBackend backend) { Install(std::move(backend)); }

void BackendSet::Submit(backends::SnapshotPtr snapshot,
                        const std::vector<const IngestCounters*>& workers,
                        absl::Duration flush_duration) {
  std::lock_guard lock(mu_);
  std::vector<BackendReport> reports;
  bool events_forwarded = false;
  for (const Slot& s : slots_) {
    if (s.runner == nullptr) continue;
    reports.push_back({std::string(s.runner->name()), s.runner->stats()});
    events_forwarded |= s.runner->backend().forwards_events();
  }
  // A runner being stopped still counts under its name until it is retired.
  for (const backends::BackendRunner* r : retiring_) {
    auto it = std::find_if(reports.begin(), reports.end(),
                           [r](const BackendReport& b) { return b.name == r->name(); });
    const backends::BackendStats stats = r->stats();
    if (it == reports.end()) {
      reports.push_back({std::string(r->name()), stats});
      continue;
    }
    it->stats.sent += stats.sent;
    it->stats.errors += stats.errors;
    it->stats.dropped_flushes += stats.dropped_flushes;
    it->stats.queued += stats.queued;
  }
  auto self_metrics =
      self_metrics_.Collect(workers, *snapshot, flush_duration, reports, events_forwarded);
  backends::Flush flush{std::move(snapshot), std::move(self_metrics)};
  for (Slot& s : slots_) {
    if (s.runner != nullptr) {
      s.runner->Submit(flush);
      continue;
    }
    s.held.push_back(flush);
    if (s.held.size() > kMaxHeldFlushes) {
      s.held.pop_front();
      ++s.held_dropped;
    }
  }
}

bool BackendSet::Has(BackendKind kind) const {
  std::lock_guard lock(mu_);
  return Find(kind) != nullptr;
}

void BackendSet::ApplyLiveSettings(const Config& config, BackendKind kind) {
  std::lock_guard lock(mu_);
  Slot* s = Find(kind);
  if (s == nullptr || s->runner == nullptr) return;
  StartedBackend view{kind, std::move(s->runner), s->bound};
  server::ApplyLiveSettings(config, &view);
  s->runner = std::move(view.runner);
}

std::unique_ptr<backends::BackendRunner> BackendSet::Detach(BackendKind kind, bool hold) {
  std::lock_guard lock(mu_);
  Slot* s = Find(kind);
  std::unique_ptr<backends::BackendRunner> runner;
  if (s != nullptr) {
    runner = std::move(s->runner);
    if (runner != nullptr) retiring_.push_back(runner.get());
    s->bound.clear();
    if (!hold) {
      slots_.erase(slots_.begin() + (s - slots_.data()));
    }
  } else if (hold) {
    Slot slot{kind, nullptr, "", {}};
    auto at = std::find_if(slots_.begin(), slots_.end(),
                           [kind](const Slot& x) { return Order(x.kind) > Order(kind); });
    slots_.insert(at, std::move(slot));
  }
  return runner;
}

void BackendSet::Install(StartedBackend backend) {
  std::lock_guard lock(mu_);
  Slot* s = Find(backend.kind);
  if (s == nullptr) {
    auto at = std::find_if(slots_.begin(), slots_.end(),
                           [&](const Slot& x) { return Order(x.kind) > Order(backend.kind); });
    s = &*slots_.insert(at, Slot{backend.kind, nullptr, "", {}});
  }
  s->runner = std::move(backend.runner);
  s->bound = std::move(backend.bound);
  if (s->kind == BackendKind::kPrometheus) ServeConfigPage(config_page_, *s->runner);
  for (backends::Flush& f : s->held) s->runner->Submit(std::move(f));
  s->held.clear();
  if (s->held_dropped > 0) {
    backends::BackendStats dropped;
    dropped.dropped_flushes = s->held_dropped;
    self_metrics_.RetireBackend({std::string(s->runner->name()), dropped});
    s->held_dropped = 0;
  }
}

void BackendSet::SetConfigPage(std::shared_ptr<const backends::ConfigPage> page) {
  std::lock_guard lock(mu_);
  config_page_ = std::move(page);
  Slot* s = Find(BackendKind::kPrometheus);
  if (s != nullptr && s->runner != nullptr) ServeConfigPage(config_page_, *s->runner);
}

void BackendSet::Forget(BackendKind kind) {
  std::lock_guard lock(mu_);
  Slot* s = Find(kind);
  if (s != nullptr && s->runner == nullptr) slots_.erase(slots_.begin() + (s - slots_.data()));
}

void BackendSet::Retire(const backends::BackendRunner& runner) {
  std::lock_guard lock(mu_);
  retiring_.erase(std::remove(retiring_.begin(), retiring_.end(), &runner), retiring_.end());
  self_metrics_.RetireBackend({std::string(runner.name()), runner.stats()});
}

std::vector<std::unique_ptr<backends::BackendRunner>> BackendSet::TakeAll() {
  std::lock_guard lock(mu_);
  std::vector<std::unique_ptr<backends::BackendRunner>> runners;
  for (Slot& s : slots_) {
    if (s.runner != nullptr) runners.push_back(std::move(s.runner));
  }
  slots_.clear();
  return runners;
}

std::vector<std::string> BackendSet::bound() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const Slot& s : slots_) {
    if (!s.bound.empty()) out.push_back(s.bound);
  }
  return out;
}

bool StopBackends(std::vector<std::unique_ptr<backends::BackendRunner>> runners,
                  absl::Time deadline, absl::Time give_up,
                  std::function<void(const backends::BackendRunner&)> on_stopped) {
  // Shared with the stopping threads, which may outlive this call.
  struct Pending {
    std::mutex mu;
    std::condition_variable done;
    size_t left = 0;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = runners.size();
  for (std::unique_ptr<backends::BackendRunner>& r : runners) {
    std::thread([pending, deadline, on_stopped, runner = std::move(r)]() mutable {
      if (!runner->Stop(deadline)) {
        LOG(WARNING) << runner->name() << ": " << runner->stats().queued
                     << " flush(es) not delivered within shutdown_timeout";
      }
      if (on_stopped) on_stopped(*runner);
      runner.reset();
      std::lock_guard lock(pending->mu);
      --pending->left;
      pending->done.notify_all();
    }).detach();
  }
  std::unique_lock lock(pending->mu);
  auto all_done = [&] { return pending->left == 0; };
  if (give_up == absl::InfiniteFuture()) {
    pending->done.wait(lock, all_done);
    return true;
  }
  // Measured on the monotonic clock from here: a wall-clock step must not stretch the stop.
  const absl::Duration left = give_up - backends::MonotonicNow();
  if (pending->done.wait_for(lock, absl::ToChronoNanoseconds(std::max(left, absl::ZeroDuration())),
                             all_done)) {
    return true;
  }
  LOG(WARNING) << pending->left << " backend(s) still stopping at shutdown_timeout; exiting anyway";
  return false;
}

}  // namespace tallyd::server
