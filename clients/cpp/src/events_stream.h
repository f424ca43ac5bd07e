// PolicySink.OnEvents, the worker's side (proto/smtpbridge/v1/sink.proto), on the SDK's
// completion queues. One Read is kept outstanding: each SinkRequests message read is taken
// request by request through the same Router/Responder path as a unary OnEvent, so an async
// handler answers when it is ready and never holds back the others (a sync handler runs on the
// queue's thread, as it does for OnEvent; with several queue threads, the requests of a batch
// are handed round robin to the other queues' threads too). Answers are written as they come: at
// once when no write is in flight, else together in the next SinkAnswers message (at most
// kMaxAnswers). `cancel` completes the request's Responder with CANCELLED (a handler can see it
// through Responder::finished()) and no answer is sent for it.
//
// When the stream is cancelled or breaks, every request still running has its Responder
// completed with CANCELLED (as a unary call's). The stream ends OK once the dispatcher half-closed
// it and everything read is answered; when the worker drains (Drain), once everything read so far
// is answered, with its Read still outstanding (a request that crosses the status on the wire is
// failed UNAVAILABLE by the dispatcher, which sends it to another replica). It deletes itself once
// nothing of it is outstanding.
#pragma once

#include <grpcpp/alarm.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include "smtpbridge/cq/cq_gate.h"
#include "smtpbridge/v1/sink.grpc.pb.h"
#include "smtpbridge/worker/router.h"

namespace smtpbridge::worker::internal {

// Most answers per SinkAnswers message.
inline constexpr int kMaxAnswers = 64;

class EventsStream;

// What the streams of one worker share: the service, the handlers, the queues' gate, and the
// open streams (for the drain).
struct EventsStreams {
  v1::PolicySink::AsyncService* service = nullptr;
  const Router* router = nullptr;
  cq::CqGate* gate = nullptr;
  // Every queue of the worker: with more than one, a batch's requests are spread over them
  // (round robin), so sync handlers use every thread, as unary calls do.
  std::vector<grpc::ServerCompletionQueue*> cqs;
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::set<EventsStream*> open;
  bool draining = false;

  // Every open stream (and every one accepted from now on) ends once it answered what it read.
  void Drain();
};

class EventsStream final {
 public:
  // Posts one RequestOnEvents on `cq`; each accepted stream posts the next.
  static void Post(EventsStreams* shared, grpc::ServerCompletionQueue* cq);

  // Under shared->mu and a gate Use: start draining. Idempotent.
  void Drain();

 private:
  class Op final : public cq::CqTag {
   public:
    Op(EventsStream* stream, void (EventsStream::*fn)(bool)) : stream_(stream), fn_(fn) {}
    void Proceed(bool ok) override { (stream_->*fn_)(ok); }

   private:
    EventsStream* stream_;
    void (EventsStream::*fn_)(bool);
  };
  struct Request;
  class Handoff;

  EventsStream(EventsStreams* shared, grpc::ServerCompletionQueue* cq);
  ~EventsStream();

  void OnAccepted(bool ok);
  void OnRead(bool ok);
  void OnWritten(bool ok);
  void OnFinished(bool ok);
  void OnDrain(bool ok);
  // The stream is over (finished, cancelled by the dispatcher, or broken): what is still
  // running gets CANCELLED, as a unary call's Responder does.
  void OnDone(bool ok);
  // A request's outcome, from any thread (inline in its handler, or later).
  void OnAnswer(uint64_t id, const grpc::Status& status, v1::Verdict verdict);
  bool EndedLocked() const { return finishing_ || finished_; }
  // Under mu_: starts what can start next; true when the stream can be deleted.
  bool StepLocked(bool open);

  EventsStreams* shared_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<v1::SinkAnswers, v1::SinkRequests> stream_;
  v1::SinkRequests incoming_;  // the Read buffer
  Op accept_op_{this, &EventsStream::OnAccepted};
  Op read_op_{this, &EventsStream::OnRead};
  Op write_op_{this, &EventsStream::OnWritten};
  Op finish_op_{this, &EventsStream::OnFinished};
  Op drain_op_{this, &EventsStream::OnDrain};
  Op done_op_{this, &EventsStream::OnDone};
  bool registered_ = false;
  bool done_pending_ = false;  // accepted: the done notification is still to come

  std::mutex mu_;
  std::unordered_map<uint64_t, std::shared_ptr<Request>> running_;  // read, not answered yet
  v1::SinkAnswers queued_;   // answers waiting for the write in flight
  v1::SinkAnswers writing_;  // the message being written
  bool reading_ = false;
  bool read_closed_ = false;
  bool write_pending_ = false;
  bool broken_ = false;
  bool finishing_ = false;
  bool finished_ = false;
  bool drain_requested_ = false;
  bool drain_pending_ = false;
  bool draining_ = false;
  grpc::Alarm drain_alarm_;
};

}  // namespace smtpbridge::worker::internal
