#include "core/thread_timers.h"

#include <utility>

namespace smtpbridge::sink {

ThreadTimers::ThreadTimers() : thread_([this] { Run(); }) {}

ThreadTimers::~ThreadTimers() { Stop(); }

TimerId ThreadTimers::Schedule(SteadyTime when, std::function<void()> fn) {
  std::lock_guard lock(mu_);
  TimerId id{when, ++next_seq_};
  if (stopping_) return id;  // never runs; Cancel() reports false
  const bool earliest = due_.empty() || id < due_.begin()->first;
  due_.emplace(id, std::move(fn));
  if (earliest) wake_.notify_one();
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
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (due_.empty()) {
      wake_.wait(lock);
      continue;
    }
    auto first = due_.begin();
    // A copy: the node may be cancelled (erased) while we wait.
    const SteadyTime when = first->first.when;
    if (when > Now()) {
      wake_.wait_until(lock, when);
      continue;
    }
    std::function<void()> fn = std::move(first->second);
    due_.erase(first);
    lock.unlock();
    fn();
    lock.lock();
  }
}

}  // namespace smtpbridge::sink
