#include "events_stream.h"

#include <grpc/support/time.h>

#include <utility>
#include <vector>

#include "smtpbridge/worker/event_context.h"
#include "smtpbridge/worker/responder.h"

namespace smtpbridge::worker::internal {

// Lock order: the gate's Use first, then shared_->mu, then mu_. No lock is held while a
// handler runs or a Responder completes.

struct EventsStream::Request {
  v1::SinkRequest request;
  std::optional<EventContext> context;
  std::optional<Responder> responder;
  bool cancelled = false;  // the dispatcher gave up on it: no answer
};

// A request handed to another queue's thread: runs its handler there.
class EventsStream::Handoff final : public cq::CqTag {
 public:
  Handoff(const Router* router, std::shared_ptr<Request> request)
      : router_(router), request_(std::move(request)) {}
  void Proceed(bool) override {
    // Run even when the queue is shutting down (ok = false): the Responder must complete.
    router_->Dispatch(*request_->context, *request_->responder);
    delete this;
  }
  grpc::Alarm alarm;

 private:
  const Router* router_;
  std::shared_ptr<Request> request_;
};

namespace {

EventContext::Clock::time_point Deadline(const v1::SinkRequest& request) {
  using Clock = EventContext::Clock;
  if (!request.has_time_left()) return Clock::time_point::max();
  const auto left = std::chrono::seconds(request.time_left().seconds()) +
                    std::chrono::nanoseconds(request.time_left().nanos());
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(left);
}

}  // namespace

void EventsStreams::Drain() {
  cq::CqGate::Use use(gate);
  if (!use) return;
  std::lock_guard lock(mu);
  draining = true;
  for (EventsStream* s : open) s->Drain();
}

EventsStream::EventsStream(EventsStreams* shared, grpc::ServerCompletionQueue* cq)
    : shared_(shared), cq_(cq), stream_(&context_) {}

EventsStream::~EventsStream() {
  if (registered_) {
    std::lock_guard lock(shared_->mu);
    shared_->open.erase(this);
  }
}

void EventsStream::Post(EventsStreams* shared, grpc::ServerCompletionQueue* cq) {
  cq::CqGate::Use use(shared->gate);
  if (!use) return;
  auto* stream = new EventsStream(shared, cq);
  stream->context_.AsyncNotifyWhenDone(&stream->done_op_);
  shared->service->RequestOnEvents(&stream->context_, &stream->stream_, cq, cq,
                                   &stream->accept_op_);
}

void EventsStream::OnAccepted(bool ok) {
  if (!ok) {  // no stream: the server is shutting down
    delete this;
    return;
  }
  Post(shared_, cq_);  // the next stream on this queue
  {
    std::lock_guard lock(mu_);
    done_pending_ = true;
  }
  {
    cq::CqGate::Use use(shared_->gate);
    if (use) {
      std::lock_guard streams(shared_->mu);
      shared_->open.insert(this);
      registered_ = true;
      {
        std::lock_guard lock(mu_);
        reading_ = true;
        stream_.Read(&incoming_, &read_op_);
      }
      if (shared_->draining) Drain();  // accepted while draining: answer what it sends first
      return;
    }
  }
  // The queues closed meanwhile: nothing was started but the done notification, still to come.
  bool done;
  {
    std::lock_guard lock(mu_);
    read_closed_ = true;
    done = StepLocked(false);
  }
  if (done) delete this;
}

void EventsStream::OnDone(bool) {
  std::vector<Responder> running;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, req] : running_) running.push_back(*req->responder);
  }
  // done_pending_ keeps us alive while they complete (each runs OnAnswer).
  for (auto& r : running) r.Fail(grpc::Status(grpc::StatusCode::CANCELLED, "stream ended"));
  bool done;
  {
    cq::CqGate::Use use(shared_->gate);
    std::lock_guard lock(mu_);
    done_pending_ = false;
    done = StepLocked(static_cast<bool>(use));
  }
  if (done) delete this;
}

void EventsStream::OnRead(bool ok) {
  std::vector<std::shared_ptr<Request>> taken;
  std::vector<Responder> cancelled;
  {
    std::lock_guard lock(mu_);
    if (ok && !EndedLocked()) {
      for (const uint64_t id : incoming_.cancel()) {
        auto it = running_.find(id);
        if (it == running_.end()) continue;
        it->second->cancelled = true;
        cancelled.push_back(*it->second->responder);
      }
      for (auto& r : *incoming_.mutable_requests()) {
        auto req = std::make_shared<Request>();
        req->request = std::move(r);
        const uint64_t id = req->request.stream_id();
        if (!running_.emplace(id, req).second) continue;  // a duplicate id: the first one wins
        req->context.emplace(req->request, Deadline(req->request));
        if (!req->request.traceparent().empty())
          req->context->set_traceparent(req->request.traceparent());
        req->responder.emplace([this, id](grpc::Status status, v1::Verdict verdict) {
          OnAnswer(id, status, std::move(verdict));
        });
        taken.push_back(std::move(req));
      }
    }
  }
  // reading_ stays set until below, so answers given inline cannot delete us meanwhile.
  for (auto& responder : cancelled)
    responder.Fail(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the dispatcher"));
  const size_t queues = shared_->cqs.size();
  for (auto& req : taken) {
    grpc::ServerCompletionQueue* cq =
        queues > 1 ? shared_->cqs[shared_->next.fetch_add(1, std::memory_order_relaxed) % queues]
                   : cq_;
    if (cq != cq_) {
      cq::CqGate::Use use(shared_->gate);
      if (use) {
        auto* handoff = new Handoff(shared_->router, req);
        handoff->alarm.Set(cq, gpr_now(GPR_CLOCK_MONOTONIC), handoff);
        continue;
      }
    }
    shared_->router->Dispatch(*req->context, *req->responder);
  }
  taken.clear();
  bool done;
  {
    cq::CqGate::Use use(shared_->gate);
    std::lock_guard lock(mu_);
    reading_ = false;
    incoming_.Clear();
    if (ok && use && !EndedLocked()) {
      reading_ = true;
      stream_.Read(&incoming_, &read_op_);
    } else {
      read_closed_ = true;  // half-closed, broken, finished, or no queue to read on
    }
    done = StepLocked(static_cast<bool>(use));
  }
  if (done) delete this;
}

void EventsStream::OnAnswer(uint64_t id, const grpc::Status& status, v1::Verdict verdict) {
  bool done;
  {
    cq::CqGate::Use use(shared_->gate);
    std::lock_guard lock(mu_);
    auto it = running_.find(id);
    if (it == running_.end()) return;  // cannot happen: a Responder completes once
    const bool cancelled = it->second->cancelled;
    running_.erase(it);
    if (use && !broken_ && !cancelled && !EndedLocked()) {
      auto* answer = queued_.add_answers();
      answer->set_stream_id(id);
      if (status.ok()) {
        *answer->mutable_verdict() = std::move(verdict);
      } else {
        answer->set_error_code(static_cast<int32_t>(status.error_code()));
        answer->set_error_message(status.error_message());
      }
    }
    done = StepLocked(static_cast<bool>(use));
  }
  if (done) delete this;
}

void EventsStream::OnWritten(bool ok) {
  bool done;
  {
    cq::CqGate::Use use(shared_->gate);
    std::lock_guard lock(mu_);
    write_pending_ = false;
    if (!ok) broken_ = true;
    done = StepLocked(static_cast<bool>(use));
  }
  if (done) delete this;
}

void EventsStream::OnFinished(bool) {
  bool done;
  {
    cq::CqGate::Use use(shared_->gate);
    std::lock_guard lock(mu_);
    finishing_ = false;
    finished_ = true;
    done = StepLocked(static_cast<bool>(use));
  }
  if (done) delete this;
}

void EventsStream::Drain() {
  std::lock_guard lock(mu_);
  if (drain_requested_ || EndedLocked()) return;
  drain_requested_ = true;
  drain_pending_ = true;
  // Decided on cq_'s thread, behind any read already completed there.
  drain_alarm_.Set(cq_, gpr_now(GPR_CLOCK_MONOTONIC), &drain_op_);
}

void EventsStream::OnDrain(bool) {
  bool done;
  {
    cq::CqGate::Use use(shared_->gate);
    std::lock_guard lock(mu_);
    drain_pending_ = false;
    draining_ = true;
    done = StepLocked(static_cast<bool>(use));
  }
  if (done) delete this;
}

bool EventsStream::StepLocked(bool open) {
  if (!open || broken_) queued_.Clear();  // nobody to write to any more
  if (open && !EndedLocked()) {
    if (!write_pending_ && queued_.answers_size() > 0) {
      writing_.Clear();
      if (queued_.answers_size() <= kMaxAnswers) {
        writing_.Swap(&queued_);
      } else {
        auto* from = queued_.mutable_answers();
        for (int i = 0; i < kMaxAnswers; ++i) writing_.add_answers()->Swap(from->Mutable(i));
        from->DeleteSubrange(0, kMaxAnswers);
      }
      write_pending_ = true;
      stream_.Write(writing_, &write_op_);
    } else if ((read_closed_ || draining_) && !write_pending_ && running_.empty()) {
      // Every answer owed went out (or could not): OK ends the stream (sink.proto).
      finishing_ = true;
      stream_.Finish(grpc::Status::OK, &finish_op_);
    }
  }
  return !reading_ && !write_pending_ && !finishing_ && !drain_pending_ && !done_pending_ &&
         running_.empty() && (finished_ || !open);
}

}  // namespace smtpbridge::worker::internal
