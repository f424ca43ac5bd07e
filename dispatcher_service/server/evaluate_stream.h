// Dispatcher.EvaluateStream on the CqPool queues: one long-lived bidi stream per sink channel,
// batched both ways. Each EvaluateRequests message read carries one or more requests; each is
// fanned out at once and on its own (many in flight per stream; a slow one holds back nothing),
// and each answer goes back with its request's stream_id, in completion order. One Read is kept
// outstanding while the client sends. gRPC allows one Write in flight per stream: an answer that
// finds none in flight is written at once (or, when it came from a message the thread is still
// handling, as soon as that is done, together with the others it produced: cq/write_cork.h);
// the answers that complete while one is in flight queue, and all of them (up to a cap) go out as
// the next EvaluateResponses message.
// When Read fails (half-close, or the stream broke) the stream waits for its running fan-outs
// and queued answers, then finishes OK.
//
// Draining (DispatcherService::DrainStreams, at shutdown): the stream keeps reading and
// answering until it has nothing in flight, then finishes UNAVAILABLE "dispatcher draining"
// with its Read still outstanding (allowed for a non-OK status; that Read then completes with
// ok=false), so the client opens its next stream elsewhere instead of gRPC cancelling this one at
// the drain deadline. The decision is made on the stream's own queue thread (an Alarm tag), after
// any read already completed there, so every request read before the status went out is
// answered. A request that reaches us only after it (it crossed the status on the wire) cannot
// be answered any more and is not evaluated: the client fails it with the stream's UNAVAILABLE,
// as it does any request a broken stream owed.
//
// It deletes itself once nothing of it is outstanding: no read, write, finish or drain tag on
// the queue and no fan-out callback still to come.
#pragma once

#include <grpcpp/alarm.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>

#include <atomic>
#include <mutex>

#include "dispatch/fanout.h"
#include "server/bindings_store.h"
#include "smtpbridge/common/batch_queue.h"
#include "smtpbridge/cq/cq_pool.h"
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

  // From any thread, under DispatcherService::streams_mu_ and a CqPool::Use: start draining
  // (see above). Idempotent; nothing once the stream is finishing.
  void Drain();

 private:
  // One tag per kind of operation, so a completion says which one it was.
  class Op final : public cq::CqTag {
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
  void OnDrain(bool ok);
  // Starts the fan-out for `request`, one of batch_ (or answers it at once when it cannot be
  // taken); running_ already counts it.
  void Take(const v1::EvaluateRequest& request);
  // Under mu_: Finish is outstanding or done, so no operation may start any more.
  bool EndedLocked() const { return finishing_ || finished_; }
  void DrainLocked();
  // A request's answer, from any thread (inline, a queue thread or the clock's).
  void OnAnswer(v1::EvaluateResponse response);
  // Under mu_: starts what can start next; true when the stream can be deleted.
  bool StepLocked(bool open);

  static std::atomic<size_t> open_;

  DispatcherService* service_;
  FanOut* fanout_;
  BindingsStore* store_;
  cq::CqPool* cqs_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<v1::EvaluateResponses, v1::EvaluateRequests> stream_;
  v1::EvaluateRequests batch_;  // the Read buffer (one Read at a time)
  Op accept_op_{this, &EvaluateStream::OnAccepted};
  Op read_op_{this, &EvaluateStream::OnRead};
  Op write_op_{this, &EvaluateStream::OnWritten};
  Op finish_op_{this, &EvaluateStream::OnFinished};
  Op drain_op_{this, &EvaluateStream::OnDrain};
  bool accepted_ = false;
  bool registered_ = false;  // in service_->streams_

  std::mutex mu_;
  common::BatchQueue<v1::EvaluateResponse> queue_;  // answers waiting for the write in flight
  v1::EvaluateResponses writing_;                   // the message being written
  size_t running_ = 0;                              // fan-outs whose answer is still to come
  bool reading_ = false;                            // a Read is outstanding
  bool read_closed_ = false;                        // the client sends no more (or cannot)
  bool write_pending_ = false;                      // a Write is outstanding
  bool broken_ = false;                             // a Write failed: nobody to answer any more
  bool finishing_ = false;                          // Finish is outstanding
  bool finished_ = false;                           // Finish completed
  bool drain_requested_ = false;                    // Drain() ran: the alarm below is or was set
  bool drain_pending_ = false;                      // the drain alarm's tag has not come back yet
  bool draining_ = false;                           // finish UNAVAILABLE once nothing is in flight
  grpc::Alarm drain_alarm_;                         // puts drain_op_ on cq_
};

}  // namespace smtpbridge::dispatcher
