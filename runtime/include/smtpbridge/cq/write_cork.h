// Holds back the stream writes that one received message causes until the thread is done with it.
//
// A batch read on one stream (requests from a sink, answers from a worker) turns into writes on
// others: each request's fan-out sends to a worker stream, each answer goes back on the sink's
// stream. Writing at once sends the first event alone and the rest as a second message once that
// write completes: two messages (two sendmsg, two wake-ups at the peer) where one would do. While
// a WriteCork lives on this thread, the streams defer their writes to its end, so everything the
// message produced goes as one. Nothing waits for more input: one event in flight is written as
// soon as its message has been handled, as before.
//
// The outermost cork runs the deferred flushes when it ends: no lock may be held there.
#pragma once

#include <functional>
#include <utility>
#include <vector>

namespace smtpbridge::cq {

class WriteCork {
 public:
  WriteCork() { ++depth_; }
  ~WriteCork() {
    if (--depth_ > 0) return;
    // A flush writes at once (depth 0); one that defers again (it cannot while depth is 0) would
    // land in a new list, so loop until none is left.
    while (!deferred_.empty()) {
      std::vector<std::function<void()>> flushes;
      flushes.swap(deferred_);
      for (auto& flush : flushes) flush();
    }
  }
  WriteCork(const WriteCork&) = delete;
  WriteCork& operator=(const WriteCork&) = delete;

  // Whether a write now should wait for the end of the cork (the caller then calls Defer once
  // per stream, and counts that as its write in flight until the flush runs).
  static bool Active() { return depth_ > 0; }
  static void Defer(std::function<void()> flush) { deferred_.push_back(std::move(flush)); }

 private:
  static inline thread_local int depth_ = 0;
  static inline thread_local std::vector<std::function<void()>> deferred_;
};

}  // namespace smtpbridge::cq
