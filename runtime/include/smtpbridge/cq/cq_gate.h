// What every completion-queue (CQ) server here shares (the dispatcher's CqPool, the C++ worker
// SDK): the tag interface every queue entry implements, and the gate that keeps the queues open
// while an operation is started on them (an answer may come from any thread, possibly while the
// server shuts down).
#pragma once

#include <mutex>
#include <shared_mutex>

namespace smtpbridge::cq {

// Everything put on a queue as a tag is one of these; Next() hands it back with `ok`.
class CqTag {
 public:
  virtual void Proceed(bool ok) = 0;

 protected:
  ~CqTag() = default;
};

class CqGate {
 public:
  void Open() {
    std::unique_lock lock(mu_);
    open_ = true;
  }
  // From here on no operation starts on a queue; waits for the ones being started.
  void Close() {
    std::unique_lock lock(mu_);
    open_ = false;
  }

  // A shared lock held while starting an operation; false (and no lock held) once closed.
  class Use {
   public:
    explicit Use(CqGate* gate) : gate_(gate) {
      gate_->mu_.lock_shared();
      open_ = gate_->open_;
      if (!open_) gate_->mu_.unlock_shared();
    }
    ~Use() {
      if (open_) gate_->mu_.unlock_shared();
    }
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;
    explicit operator bool() const { return open_; }

   private:
    CqGate* gate_;
    bool open_;
  };

 private:
  std::shared_mutex mu_;
  bool open_ = false;
};

}  // namespace smtpbridge::cq
