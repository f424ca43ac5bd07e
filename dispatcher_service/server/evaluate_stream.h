// Dispatcher.EvaluateStream on the CqPool queues: one long-lived bidi stream per sink channel,
// each request fanned out at once (many in flight per stream), each answer written back with the
// request's stream_id in completion order. One Read is kept outstanding while the client sends;
// answers are queued and written one at a time (gRPC allows one Write in flight per stream).
// When Read fails (half-close, or the stream broke) the stream waits for its running fan-outs
// and queued answers, then finishes OK. It deletes itself once nothing of it is outstanding:
// no read, write or finish on the queue and no fan-out callback still to come.
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>

#include <atomic>
#include <deque>
#include <mutex>

#include "dispatch/fanout.h"
#include "server/bindings_store.h"
#include "server/cq_pool.h"
#include "smtpbridge/v1/dispatcher.grpc.pb.h"

namespace smtpbridge::dispatcher {

class DispatcherService;

class EvaluateStream {
 public:
  // Posts one RequestEvaluateStream on `cq` (a pool queue); nothing once the pool is closed.
  // Each accepted stream posts the next, so one stays posted per queue.
  static void Post(DispatcherService* service, grpc::ServerCompletionQueue* cq);

  // Streams accepted and not yet deleted, process-wide (tests, debugging).
  static size_t Open() { return open_.load(); }

 private:
  // One tag per kind of operation, so a completion says which one it was.
  class Op final : public CqTag {
   public:
    Op(EvaluateStream* stream, void (EvaluateStream::*fn)(bool)) : stream_(stream), fn_(fn) {}
    void Proceed(bool ok) override { (stream_->*fn_)(ok); }

   private:
    EvaluateStream* stream_;
    void (EvaluateStream::*fn_)(bool);
  };

  EvaluateStream(DispatcherService* service, grpc::ServerCompletionQueue* cq);
  ~EvaluateStream();

  void OnAccepted(bool ok);
  void OnRead(bool ok);
  void OnWritten(bool ok);
  void OnFinished(bool ok);
  // Starts the fan-out for request_ (or answers it at once when it cannot be taken).
  void Take();
  // A request's answer, from any thread (inline, a queue thread or the clock's).
  void OnAnswer(v1::EvaluateResponse response);
  // Under mu_: starts what can start next; true when the stream can be deleted.
  bool StepLocked(bool open);

  static std::atomic<size_t> open_;

  DispatcherService* service_;
  FanOut* fanout_;
  BindingsStore* store_;
  CqPool* cqs_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<v1::EvaluateResponse, v1::EvaluateRequest> stream_;
  v1::EvaluateRequest request_;  // the Read buffer (one Read at a time)
  Op accept_op_{this, &EvaluateStream::OnAccepted};
  Op read_op_{this, &EvaluateStream::OnRead};
  Op write_op_{this, &EvaluateStream::OnWritten};
  Op finish_op_{this, &EvaluateStream::OnFinished};
  bool accepted_ = false;

  std::mutex mu_;
  std::deque<v1::EvaluateResponse> queue_;  // answers waiting for the write in flight
  v1::EvaluateResponse writing_;            // the one being written
  size_t running_ = 0;                      // fan-outs whose answer is still to come
  bool reading_ = false;                    // a Read is outstanding
  bool read_closed_ = false;                // the client sends no more (or cannot)
  bool write_pending_ = false;              // a Write is outstanding
  bool broken_ = false;                     // a Write failed: nobody to answer any more
  bool finishing_ = false;                  // Finish is outstanding
};

}  // namespace smtpbridge::dispatcher
