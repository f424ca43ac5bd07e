#include "server/dispatcher_service.h"

#include "server/evaluate_stream.h"
#include "smtpbridge/trace/traceparent.h"
#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/shed.h"

namespace smtpbridge::dispatcher {
namespace {

// Evaluate requests kept posted per queue, so a burst does not wait for re-arming.
constexpr int kRequestsPerQueue = 8;

}  // namespace

// One Evaluate call: its own tag for the request and for the finish. It deletes itself once
// the finish (or a failed request) comes back from the queue.
class DispatcherService::EvaluateCall final : public cq::CqTag {
 public:
  EvaluateCall(DispatcherService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq), responder_(&context_) {}

  // Posts the request; false when the queues are already closed (the call was deleted).
  static void Post(DispatcherService* service, grpc::ServerCompletionQueue* cq) {
    cq::CqPool::Use use(service->cqs_);
    if (!use) return;
    auto* call = new EvaluateCall(service, cq);
    service->RequestEvaluate(&call->context_, &call->request_, &call->responder_, cq, cq, call);
  }

  void Proceed(bool ok) override {
    if (finishing_ || !ok) {  // finished, or no call: the server is shutting down
      delete this;
      return;
    }
    Post(service_, cq_);  // keep one more request posted in our place
    Handle();
  }

 private:
  void Handle() {
    const v1::EventType type = request_.event().type();
    if (type == v1::EVENT_TYPE_UNSPECIFIED || v1::EventTypeName(type) == "UNSPECIFIED") {
      Finish({},
             grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "event.type is missing or unknown"));
      return;
    }
    if (request_.explain()) {
      if (auto status = service_->AuthorizeExplain(context_); !status.ok()) {
        Finish({}, status);
        return;
      }
    }
    auto bindings = service_->store_->Current();
    if (!bindings) {
      Finish({}, grpc::Status(grpc::StatusCode::UNAVAILABLE, "no bindings loaded"));
      return;
    }
    // Inline on this queue's thread; the worker calls go on the same queue (CqPool::Pick), so
    // `done` usually runs here too (else on the clock's thread, or another call's).
    // The caller's trace context travels as gRPC metadata, never inside the event.
    std::string_view traceparent;
    const auto& metadata = context_.client_metadata();
    if (const auto it = metadata.find(trace::kMetadataKey); it != metadata.end()) {
      traceparent = std::string_view(it->second.data(), it->second.size());
    }
    service_->fanout_->Evaluate(std::move(bindings), request_.event(), request_.explain(),
                                traceparent, [this](v1::EvaluateResponse result) {
                                  // Shed (over a limit): the unary form is a status.
                                  if (v1::IsShedResponse(result)) {
                                    Finish({}, v1::ShedStatus(v1::ShedReason(result)));
                                    return;
                                  }
                                  Finish(std::move(result), grpc::Status::OK);
                                });
  }

  // From any thread. Once the queues are closed (shutdown past its drain deadline) the call
  // cannot be answered any more: drop it.
  void Finish(v1::EvaluateResponse response, const grpc::Status& status) {
    {
      cq::CqPool::Use use(service_->cqs_);
      if (use) {
        finishing_ = true;
        response_ = std::move(response);
        responder_.Finish(response_, status, this);
        return;
      }
    }
    delete this;
  }

  DispatcherService* service_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext context_;
  v1::EvaluateRequest request_;
  v1::EvaluateResponse response_;
  grpc::ServerAsyncResponseWriter<v1::EvaluateResponse> responder_;
  bool finishing_ = false;
};

DispatcherService::DispatcherService(FanOut* fanout, BindingsStore* store, cq::CqPool* cqs)
    : fanout_(fanout), store_(store), cqs_(cqs) {
  interests_ = std::make_unique<decltype(interests_)::element_type>(
      this, &DispatcherService::RequestGetInterests, cqs,
      [this](grpc::ServerContext&, const v1::GetInterestsRequest& request,
             v1::GetInterestsResponse* response) {
        *response = Interests(request);
        return grpc::Status::OK;
      });
}

DispatcherService::~DispatcherService() = default;

void DispatcherService::Arm(grpc::ServerCompletionQueue* cq) {
  for (int i = 0; i < kRequestsPerQueue; ++i) EvaluateCall::Post(this, cq);
  EvaluateStream::Post(this, cq);  // streams are long-lived: one posted per queue is enough
  interests_->Post(cq);
}

void DispatcherService::DrainStreams() {
  cq::CqPool::Use use(cqs_);
  std::lock_guard lock(streams_mu_);
  draining_ = true;
  if (!use) return;  // the queues are closed: every stream is ending anyway
  for (auto* stream : streams_) stream->Drain();
}

size_t DispatcherService::open_streams() {
  std::lock_guard lock(streams_mu_);
  return streams_.size();
}

v1::GetInterestsResponse DispatcherService::Interests(
    const v1::GetInterestsRequest& request) const {
  v1::GetInterestsResponse response;
  if (const auto bindings = store_->Current()) {
    for (auto& interest : bindings->Interests(request.instance())) {
      *response.add_interests() = std::move(interest);
    }
  }
  response.set_generation(store_->generation());
  // The batched EvaluateStream (a sink of an earlier release looks for field 4, now reserved,
  // and keeps to unary Evaluate with us).
  response.set_evaluate_batches(true);
  *response.mutable_refresh_after() = v1::ToProtoDuration(kInterestsRefreshAfter);
  return response;
}

}  // namespace smtpbridge::dispatcher
