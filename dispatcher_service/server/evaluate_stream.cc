#include "server/evaluate_stream.h"

#include "server/dispatcher_service.h"
#include "smtpbridge/cq/write_cork.h"
#include "smtpbridge/v1/names.h"

namespace smtpbridge::dispatcher {

// Lock order everywhere: CqPool::Use first, then DispatcherService::streams_mu_, then mu_.
// (Use is a shared lock that Shutdown() takes exclusively; taking it under mu_ could deadlock
// against a thread holding Use and waiting for mu_.) None is held while calling into the
// fan-out, whose `done` may run inline; the destructor runs holding none.

namespace {

// At most this much per EvaluateResponses message: the sink's cap (bridge_sink/core/
// evaluate_stream.cc), for the same reasons (the per-message cost is shared thin long before,
// and a bounded message keeps the first answers of a burst from waiting behind the rest).
constexpr common::BatchLimits kBatchLimits{.items = 64, .bytes = 1024 * 1024};

}  // namespace

std::atomic<size_t> EvaluateStream::open_{0};

EvaluateStream::EvaluateStream(DispatcherService* service, grpc::ServerCompletionQueue* cq)
    : service_(service),
      fanout_(service->fanout_),
      store_(service->store_),
      cqs_(service->cqs_),
      cq_(cq),
      stream_(&context_),
      queue_(kBatchLimits) {}

EvaluateStream::~EvaluateStream() {
  if (registered_) {
    std::lock_guard lock(service_->streams_mu_);
    service_->streams_.erase(this);
  }
  if (accepted_) open_.fetch_sub(1);
}

void EvaluateStream::Post(DispatcherService* service, grpc::ServerCompletionQueue* cq) {
  cq::CqPool::Use use(service->cqs_);
  if (!use) return;
  auto* stream = new EvaluateStream(service, cq);
  service->RequestEvaluateStream(&stream->context_, &stream->stream_, cq, cq, &stream->accept_op_);
}

void EvaluateStream::OnAccepted(bool ok) {
  if (!ok) {  // no stream: the server is shutting down
    delete this;
    return;
  }
  accepted_ = true;
  open_.fetch_add(1);
  Post(service_, cq_);  // the next stream on this queue
  {
    cq::CqPool::Use use(cqs_);
    if (use) {
      std::lock_guard streams(service_->streams_mu_);
      service_->streams_.insert(this);
      registered_ = true;
      std::lock_guard lock(mu_);
      reading_ = true;
      stream_.Read(&batch_, &read_op_);
      // Accepted after the drain began (the server stops accepting only after): answer what
      // it sends first, then end it like the others.
      if (service_->draining_) DrainLocked();
      return;
    }
  }
  delete this;  // the queues closed meanwhile: nothing was started
}

void EvaluateStream::OnRead(bool ok) {
  bool take;
  {
    std::lock_guard lock(mu_);
    // Counted before the lock is let go, so no Finish can start while they are evaluated. Once
    // the Finish went out the requests came in behind the status: they cannot be answered, and
    // the client fails them with the stream's status (see the header).
    take = ok && !EndedLocked();
    if (take) running_ += static_cast<size_t>(batch_.requests_size());
  }
  if (take && service_->metrics_) {
    service_->metrics_->StreamBatchReceived(static_cast<size_t>(batch_.requests_size()));
  }
  // reading_ stays set until below, so an answer arriving inline cannot delete us meanwhile.
  // Each request's fan-out starts on its own: one waiting for a slow worker holds up none of
  // the others, whose answers go out as they come.
  if (take) {
    // What these requests send to workers (and answers ready at once) goes as one message per
    // stream when the loop ends (cq/write_cork.h).
    cq::WriteCork cork;
    for (const auto& request : batch_.requests()) Take(request);
  }
  bool done;
  {
    cq::CqPool::Use use(cqs_);
    std::lock_guard lock(mu_);
    reading_ = false;
    if (take && use && !EndedLocked()) {
      reading_ = true;
      stream_.Read(&batch_, &read_op_);
    } else {
      read_closed_ = true;  // half-closed, broken, finished, or no queue to read on
    }
    done = StepLocked(static_cast<bool>(use));
  }
  if (done) delete this;
}

void EvaluateStream::Take(const v1::EvaluateRequest& request) {
  const uint64_t id = request.stream_id();
  const v1::EventType type = request.event().type();
  std::shared_ptr<const BindingSet> bindings;
  if (type != v1::EVENT_TYPE_UNSPECIFIED && v1::EventTypeName(type) != "UNSPECIFIED") {
    bindings = store_->Current();
  }
  if (!bindings) {
    // Missing/unknown event type or no bindings: CONTINUE with nothing matched. Ending the
    // stream instead would fail every other event the sink has in flight on it.
    v1::EvaluateResponse response;
    response.set_stream_id(id);
    response.mutable_verdict()->set_action(v1::ACTION_CONTINUE);
    OnAnswer(std::move(response));
    return;
  }
  // `event` is only read during this call, so batch_ can take the next Read afterwards.
  // A test event's explanation reveals the bindings: only with the admin token.
  const bool explain = request.explain() && service_->AuthorizeExplain(context_).ok();
  fanout_->Evaluate(std::move(bindings), request.event(), explain, request.traceparent(),
                    [this, id](v1::EvaluateResponse response) {
                      response.set_stream_id(id);
                      OnAnswer(std::move(response));
                    });
}

void EvaluateStream::OnAnswer(v1::EvaluateResponse response) {
  const size_t bytes = response.ByteSizeLong();  // outside the lock
  bool done;
  {
    cq::CqPool::Use use(cqs_);
    std::lock_guard lock(mu_);
    --running_;
    if (use && !broken_) queue_.Push(std::move(response), bytes);
    done = StepLocked(static_cast<bool>(use));
  }
  if (done) delete this;
}

void EvaluateStream::OnWritten(bool ok) {
  bool done;
  {
    cq::CqPool::Use use(cqs_);
    std::lock_guard lock(mu_);
    write_pending_ = false;
    if (!ok) broken_ = true;
    done = StepLocked(static_cast<bool>(use));
  }
  if (done) delete this;
}

void EvaluateStream::OnFinished(bool) {
  // Nothing starts after Finish; a draining stream may still have its Read (which now fails)
  // or its drain tag outstanding.
  bool done;
  {
    cq::CqPool::Use use(cqs_);
    std::lock_guard lock(mu_);
    finishing_ = false;
    finished_ = true;
    done = StepLocked(static_cast<bool>(use));
  }
  if (done) delete this;
}

void EvaluateStream::Drain() {
  std::lock_guard lock(mu_);
  DrainLocked();
}

void EvaluateStream::DrainLocked() {
  if (drain_requested_ || EndedLocked()) return;
  drain_requested_ = true;
  drain_pending_ = true;
  // Decided on cq_'s thread, behind any read completion already queued there: a request that
  // reached us before the drain began is read and answered before the status goes out.
  drain_alarm_.Set(cq_, gpr_now(GPR_CLOCK_MONOTONIC), &drain_op_);
}

void EvaluateStream::OnDrain(bool) {
  bool done;
  {
    cq::CqPool::Use use(cqs_);
    std::lock_guard lock(mu_);
    drain_pending_ = false;
    draining_ = true;
    done = StepLocked(static_cast<bool>(use));
  }
  if (done) delete this;
}

bool EvaluateStream::StepLocked(bool open) {
  if (!open || broken_) queue_.Clear();  // nobody to write to any more
  if (open && !EndedLocked()) {
    if (!write_pending_ && !queue_.empty() && cq::WriteCork::Active()) {
      // More answers may follow from the message this thread is handling: written when it is
      // done (counted as the write in flight until then, so nothing ends the stream meanwhile).
      write_pending_ = true;
      cq::WriteCork::Defer([this] { OnWritten(true); });
    } else if (!write_pending_ && !queue_.empty()) {
      // Every answer that completed while the previous write was in flight (up to the cap).
      writing_.Clear();
      const size_t answers = queue_.Take([this](v1::EvaluateResponse&& response) {
        *writing_.add_responses() = std::move(response);
      });
      if (service_->metrics_) service_->metrics_->StreamBatchSent(answers);
      write_pending_ = true;
      stream_.Write(writing_, &write_op_);
    } else if ((read_closed_ || draining_) && !write_pending_ && running_ == 0) {
      // Every answer owed went out (or could not): the status ends the stream. Draining, the
      // Read is still outstanding; UNAVAILABLE tells the client to open its next one elsewhere.
      finishing_ = true;
      const grpc::Status draining(grpc::StatusCode::UNAVAILABLE, "dispatcher draining");
      stream_.Finish(read_closed_ ? grpc::Status::OK : draining, &finish_op_);
    }
  }
  // Done once nothing is outstanding and nothing can start any more: finished, or the queues
  // are closed (shutdown past its drain deadline).
  return !reading_ && !write_pending_ && !finishing_ && !drain_pending_ && running_ == 0 &&
         (finished_ || !open);
}

}  // namespace smtpbridge::dispatcher
