#include "dispatch/thread_clock.h"

#include <sys/prctl.h>

namespace smtpbridge::dispatcher {

ThreadClock::ThreadClock() : thread_([this] { Run(); }) {}

ThreadClock::~ThreadClock() { Stop(); }

CancelFn ThreadClock::Schedule(TimePoint when, std::function<void()> fn) {
  Key key;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return nullptr;  // never runs
    key = Key{when, ++next_seq_};
    due_.emplace(key, std::move(fn));
    // Wake the thread only when it would sleep past this deadline.
    if (when < waiting_until_) {
      waiting_until_ = when;
      wake_.notify_one();
    }
  }
  return [this, key] {
    // Erasing destroys the function (and what it holds) here, under the lock; the fan-out's
    // timer functions only hold a shared_ptr to their evaluation, never this lock.
    std::function<void()> fn;
    std::lock_guard lock(mu_);
    auto it = due_.find(key);
    if (it == due_.end()) return;
    fn = std::move(it->second);
    due_.erase(it);
    // `fn` is destroyed after the lock is released (declared before the guard).
  };
}

void ThreadClock::Stop() {
  std::map<Key, std::function<void()>> dropped;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    dropped.swap(due_);
  }
  wake_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

size_t ThreadClock::pending() const {
  std::lock_guard lock(mu_);
  return due_.size();
}

void ThreadClock::Run() {
  // The kernel's default 50 us timer slack would be added to every deadline; 1 us is enough.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (due_.empty()) {
      waiting_until_ = TimePoint::max();
      wake_.wait(lock);
      continue;
    }
    const TimePoint when = due_.begin()->first.first;  // a copy: the node may be erased meanwhile
    if (when > Now()) {
      waiting_until_ = when;
      wake_.wait_until(lock, when);
      continue;
    }
    waiting_until_ = TimePoint::min();  // running functions: Schedule() need not wake us
    auto node = due_.extract(due_.begin());
    lock.unlock();
    node.mapped()();
    node = {};  // destroy the function before retaking the lock
    lock.lock();
  }
}

}  // namespace smtpbridge::dispatcher
