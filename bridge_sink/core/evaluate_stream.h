// Dispatcher.EvaluateStream from the sink's side: every evaluation goes over one long-lived bidi
// stream instead of one unary call each (no call setup, headers, trailers or deadline timer per
// event). Requests carry a stream_id; answers come back in any order and are matched by it.
//
// Batched: gRPC allows one write in flight per stream, and the evaluations that come while one
// is in flight queue; as soon as it completes, everything queued goes out as one
// EvaluateRequests message (up to a cap), so under load the per-message cost (a write, a wake-up,
// a frame) is paid once for many events. Nothing ever waits to fill a batch: an evaluation that
// finds no write in flight is written at once, alone, so one event in flight keeps the latency
// of an unbatched stream (no timer, nothing Nagle-like). Answers come the same way, several per
// EvaluateResponses message.
//
// One stream at a time: it starts with the first evaluation and is replaced by a new one when it
// breaks (what it still owed, written or queued, goes out again as unary calls when it ended
// UNAVAILABLE or CANCELLED, else fails with the stream's status and the sink's fallback
// answers), and every second (it is half-closed and its answers still arrive): a stream
// stays on one dispatcher replica, so this is what spreads a sink's events over the replicas. A
// dispatcher without EvaluateStream answers UNIMPLEMENTED: from then on every evaluation,
// including those already waiting, goes through `unary`.
//
// There is no per-request gRPC deadline on a stream: the sink's own budget timer cancels what it
// gives up on, and a sweep fails whatever outlives its deadline (late answers kept by the sink).
#pragma once

#include <grpcpp/alarm.h>
#include <grpcpp/channel.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/generic/generic_stub.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "core/dispatcher_client.h"

namespace prometheus {
class Histogram;
}

namespace smtpbridge::sink {

class EvaluateStream {
 public:
  using Clock = std::chrono::system_clock;
  using Unary = std::function<std::shared_ptr<DispatcherClient::Call>(
      const v1::EvaluateRequest&, Clock::time_point, DispatcherClient::EvaluateDone)>;

  // `queue` is driven by the owner's thread, which hands every tag back through Complete();
  // `unary` starts the plain Evaluate call.
  EvaluateStream(std::shared_ptr<grpc::Channel> channel, grpc::CompletionQueue* queue, Unary unary);
  ~EvaluateStream();  // after Shutdown()
  EvaluateStream(const EvaluateStream&) = delete;
  EvaluateStream& operator=(const EvaluateStream&) = delete;

  // Same contract as DispatcherClient::Evaluate.
  std::shared_ptr<DispatcherClient::Call> Evaluate(const v1::EvaluateRequest& request,
                                                   Clock::time_point deadline,
                                                   DispatcherClient::EvaluateDone done);

  // Starts the stream now (if none is open), so the first events find it ready and a dispatcher
  // without EvaluateStream is known before them.
  void Warm();

  // Waits until every handle Evaluate() returned is gone, cancels the stream and waits until
  // every tag put on the queue came back. Call from a thread other than the queue's, before the
  // queue shuts down.
  void Shutdown();

  // The dispatcher said UNIMPLEMENTED: evaluations go through the unary call.
  bool unsupported() const;

  // Before the first evaluation: observe the events per message written (`sent`) and read
  // (`received`); either may be null.
  void set_batch_histograms(prometheus::Histogram* sent, prometheus::Histogram* received) {
    sent_hist_ = sent;
    received_hist_ = received;
  }
  // Before the first evaluation: how long a stream takes new evaluations (tests; default 1 s).
  void set_lifetime(std::chrono::steady_clock::duration lifetime) { lifetime_ = lifetime; }

  // What went over the streams so far (tests, debugging).
  struct Stats {
    uint64_t messages_sent = 0;      // EvaluateRequests written
    uint64_t events_sent = 0;        // requests in them
    uint64_t messages_received = 0;  // EvaluateResponses read
    uint64_t answers_received = 0;   // responses in them
    bool writing = false;            // the current stream has a write in flight
  };
  Stats stats() const;

  // What the owner's queue thread calls for each tag (every tag is one of these).
  class Tag {
   public:
    virtual ~Tag() = default;
    virtual void Complete(bool ok) = 0;
  };

 private:
  struct Stream;
  struct Pending;
  class StreamCall;
  class StreamTag;
  class SweepTag;
  class CancelledTag;

  void StartStreamLocked();
  void RetireLocked(Stream& s);
  void WriteNextLocked(Stream& s);
  void OnStarted(Stream& s, bool ok);
  void OnRead(Stream& s, bool ok);
  void OnWritten(Stream& s, bool ok);
  void OnFinished(Stream& s);
  void FinishLocked(Stream& s);
  // One of the stream's tags came back; deletes it after its last one (outside the lock).
  void Release(Stream& s);
  void ArmSweepLocked();
  void Sweep(bool ok);
  void Cancel(uint64_t id);

  std::shared_ptr<grpc::Channel> channel_;
  grpc::CompletionQueue* queue_;
  grpc::GenericStub stub_;
  Unary unary_;

  mutable std::mutex mu_;
  std::condition_variable idle_;
  uint64_t next_id_ = 0;
  std::unordered_map<uint64_t, Pending> pending_;
  Stream* current_ = nullptr;  // the stream new evaluations go on (null: start one)
  int streams_ = 0;            // streams not yet deleted
  bool unsupported_ = false;
  bool closing_ = false;
  std::chrono::steady_clock::duration lifetime_;
  prometheus::Histogram* sent_hist_ = nullptr;
  prometheus::Histogram* received_hist_ = nullptr;
  Stats stats_;  // but `writing`
  std::unique_ptr<SweepTag> sweep_;
  bool sweep_armed_ = false;
  int posted_ = 0;  // CancelledTags on the queue

  // Live StreamCall handles: they point back here, so Shutdown() waits for them.
  std::mutex calls_mu_;
  std::condition_variable calls_idle_;
  int live_calls_ = 0;
};

}  // namespace smtpbridge::sink
