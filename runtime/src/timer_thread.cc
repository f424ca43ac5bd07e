#include "smtpbridge/common/timer_thread.h"

#include <sys/prctl.h>

#include <utility>

namespace smtpbridge::common {

TimerThread::TimerThread() : thread_([this] { Run(); }) {}

TimerThread::~TimerThread() { Stop(); }

TimerThread::Key TimerThread::Schedule(TimePoint when, std::function<void()> fn, bool* scheduled) {
  // `fn` is destroyed after the lock is released when it is not kept (a parameter outlives the
  // guard).
  std::lock_guard lock(mu_);
  const Key key{when, ++next_seq_};
  if (scheduled != nullptr) *scheduled = !stopping_;
  if (stopping_) return key;  // never runs
  due_.emplace(key, std::move(fn));
  // Wake the thread only when it would sleep past this deadline: in steady traffic each new
  // deadline is later than the one the thread already waits for, so most calls cost no wake-up.
  if (when < waiting_until_) {
    waiting_until_ = when;
    wake_.notify_one();
  }
  return key;
}

bool TimerThread::Cancel(const Key& key) {
  std::function<void()> fn;  // destroyed after the lock is released (declared before the guard)
  std::lock_guard lock(mu_);
  auto it = due_.find(key);
  if (it == due_.end()) return false;
  fn = std::move(it->second);
  due_.erase(it);
  return true;
}

void TimerThread::Stop() {
  std::map<Key, std::function<void()>> dropped;  // destroyed outside the lock
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    dropped.swap(due_);
  }
  wake_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

size_t TimerThread::pending() const {
  std::lock_guard lock(mu_);
  return due_.size();
}

void TimerThread::Run() {
  // The kernel's default 50 us timer slack would be added to every deadline; 1 us is enough.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (due_.empty()) {
      waiting_until_ = TimePoint::max();
      wake_.wait(lock);
      continue;
    }
    const TimePoint when = due_.begin()->first.when;  // a copy: the node may be erased meanwhile
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

}  // namespace smtpbridge::common
