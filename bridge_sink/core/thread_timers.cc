#include "core/thread_timers.h"

#include <sys/prctl.h>

#include <utility>

namespace smtpbridge::sink {

ThreadTimers::ThreadTimers() : thread_([this] { Run(); }) {}

ThreadTimers::~ThreadTimers() { Stop(); }

TimerId ThreadTimers::Schedule(SteadyTime when, std::function<void()> fn) {
  std::lock_guard lock(mu_);
  TimerId id{when, ++next_seq_};
  if (stopping_) return id;  // never runs; Cancel() reports false
  due_.emplace(id, std::move(fn));
  // Wake the thread only when it would sleep past this deadline: in steady traffic each new
  // budget ends after the one the thread already waits for, so most calls cost no wake-up.
  if (when < waiting_until_) {
    waiting_until_ = when;
    wake_.notify_one();
  }
  return id;
}

bool ThreadTimers::Cancel(const TimerId& id) {
  std::lock_guard lock(mu_);
  return due_.erase(id) > 0;
}

void ThreadTimers::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    due_.clear();
  }
  wake_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void ThreadTimers::Run() {
  // The kernel's default 50 us timer slack would be added to every budget; 1 us is enough.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (due_.empty()) {
      waiting_until_ = SteadyTime::max();
      wake_.wait(lock);
      continue;
    }
    auto first = due_.begin();
    // A copy: the node may be cancelled (erased) while we wait.
    const SteadyTime when = first->first.when;
    if (when > Now()) {
      waiting_until_ = when;
      wake_.wait_until(lock, when);
      continue;
    }
    waiting_until_ = SteadyTime::min();  // running callbacks: Schedule() need not wake us
    std::function<void()> fn = std::move(first->second);
    due_.erase(first);
    lock.unlock();
    fn();
    lock.lock();
  }
}

}  // namespace smtpbridge::sink
