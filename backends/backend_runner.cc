#include <glog/logging.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "backends/backend.h"
#include "backends/clock.h"

namespace tallyd::backends {

absl::Status LowerCallingThreadPriority() {
  // setpriority on a thread id sets that thread's nice value only (Linux).
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kBackgroundNice) == 0) {
    return absl::OkStatus();
  }
  return absl::InternalError(absl::StrCat("nice ", kBackgroundNice, ": ", std::strerror(errno)));
}

void NameCallingThread(std::string_view name) {
  const std::string cut(name.substr(0, 15));  // the kernel's limit (16 bytes with the NUL)
  pthread_setname_np(pthread_self(), cut.c_str());
}

BackendRunner::BackendRunner(std::unique_ptr<Backend> backend, size_t max_buffered_flushes)
    : backend_(std::move(backend)),
      observes_(backend_->observes_flushes()),
      max_queued_(std::max<size_t>(1, max_buffered_flushes)),
      backoff_(backend_->backoff()),
      thread_([this] { Run(); }) {}

BackendRunner::BackendRunner(std::unique_ptr<Backend> backend, size_t max_buffered_flushes,
                             BackoffPolicy backoff)
    : backend_(std::move(backend)),
      observes_(backend_->observes_flushes()),
      max_queued_(std::max<size_t>(1, max_buffered_flushes)),
      backoff_(backoff),
      thread_([this] { Run(); }) {}

BackendRunner::~BackendRunner() {
  if (thread_.joinable()) Stop(MonotonicNow());
}

void BackendRunner::Submit(Flush flush) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  queue_.push_back(std::move(flush));
  if (observes_) ++unobserved_;
  while (queue_.size() > max_queued_) {
    if (queue_.size() <= unobserved_) {  // the front was never observed: keep it for Observe
      dropped_unobserved_.push_back(std::move(queue_.front()));
      --unobserved_;
    }
    queue_.pop_front();
    ++stats_.dropped_flushes;
  }
}

void BackendRunner::ObservePending(bool through_front) {
  if (!observes_) return;
  std::vector<Flush> pending;
  {
    absl::MutexLock lock(&mu_);
    for (Flush& flush : dropped_unobserved_) pending.push_back(std::move(flush));
    dropped_unobserved_.clear();
    // Only the front of the queue: a queued flush observed early would put the backend's state
    // ahead of the flush it delivers (and stamps) next.
    if (through_front && !queue_.empty() && unobserved_ == queue_.size()) {
      pending.push_back(queue_.front());
      --unobserved_;
    }
  }
  for (const Flush& flush : pending) backend_->Observe(flush);
}

bool BackendRunner::Stop(absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    deadline_ = deadline;
  }
  // Outside the lock: the backend may be inside Deliver, and must hear of the deadline there.
  backend_->StopBy(deadline);
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  return queue_.empty();
}

BackendStats BackendRunner::stats() const {
  absl::MutexLock lock(&mu_);
  BackendStats s = stats_;
  s.queued = queue_.size();
  return s;
}

void BackendRunner::Run() {
  NameCallingThread(backend_->name());
  // Below the workers: a backend formatting a snapshot must not take the core from the receive
  // path (see LowerCallingThreadPriority).
  if (absl::Status s = LowerCallingThreadPriority(); !s.ok()) {
    LOG(WARNING) << backend_->name() << ": delivery thread keeps normal priority: " << s;
  }
  const absl::Duration initial = std::min(backoff_.initial, backoff_.max);
  absl::Duration delay = initial;
  while (true) {
    Flush next;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !queue_.empty() || stopping_; };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty() || (stopping_ && MonotonicNow() >= deadline_)) return;
    }
    // Observe before Deliver, so the backend's state has this flush and all before it: again
    // when a Submit came in between (it may have dropped the front and queued a new one).
    bool observed = false;
    size_t newer = 0;
    while (!observed) {
      ObservePending(/*through_front=*/true);
      absl::MutexLock lock(&mu_);
      observed = unobserved_ < queue_.size() && dropped_unobserved_.empty();
      // The front stays queued until delivered, so a full queue drops the oldest.
      if (observed) {
        next = queue_.front();
        newer = queue_.size() - 1;
      }
    }
    backend_->SetNewerQueued(newer);
    Delivery result = backend_->Deliver(next);
    absl::MutexLock lock(&mu_);
    auto pop_if_front = [&] {
      if (!queue_.empty() && queue_.front().snapshot == next.snapshot) queue_.pop_front();
    };
    switch (result.outcome) {
      case Delivery::Outcome::kDelivered:
        ++stats_.sent;
        pop_if_front();
        delay = initial;
        continue;
      case Delivery::Outcome::kRejected:
        ++stats_.errors;
        ++stats_.dropped_flushes;
        LOG(WARNING) << backend_->name() << ": flush rejected, not retried: " << result.error;
        pop_if_front();
        continue;
      case Delivery::Outcome::kRetry:
        ++stats_.errors;
        break;
    }
    absl::Duration wait = result.retry_after > absl::ZeroDuration() ? result.retry_after : delay;
    delay = std::min(delay * 2, backoff_.max);
    LOG_EVERY_T(WARNING, 10) << backend_->name() << ": " << result.error << "; " << queue_.size()
                             << " flushes queued, retrying in " << wait;
    // Sleep for the backoff, but wake for a stop whose deadline has passed, and to observe the
    // flushes the full queue drops (older than every queued one), so that a long backoff does
    // not keep them alive.
    // On the monotonic clock (AwaitWithDeadline would take a wall-clock instant): each wait is
    // the time left until `until`, re-measured after every wake.
    const absl::Time until = std::min(MonotonicNow() + wait, deadline_);
    auto stop_due = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return stopping_ && MonotonicNow() >= deadline_;
    };
    auto wake = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return stop_due() || !dropped_unobserved_.empty();
    };
    while (mu_.AwaitWithTimeout(absl::Condition(&wake), until - MonotonicNow()) && !stop_due()) {
      mu_.Unlock();
      ObservePending(/*through_front=*/false);
      mu_.Lock();
    }
  }
}

}  // namespace tallyd::backends
