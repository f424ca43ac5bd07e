#include "smtpbridge/worker/responder.h"

namespace smtpbridge::worker {

Responder::Responder(Completion completion)
    : state_(std::make_shared<State>(std::move(completion))) {}

bool Responder::Finish(Verdict verdict) const {
  return Complete(grpc::Status::OK, std::move(verdict).proto());
}

bool Responder::Fail(grpc::Status status) const {
  if (status.ok()) status = grpc::Status(grpc::StatusCode::UNKNOWN, "Fail() called with OK");
  return Complete(std::move(status), {});
}

bool Responder::finished() const { return state_->done.load(std::memory_order_acquire); }

bool Responder::Complete(grpc::Status status, v1::Verdict verdict) const {
  if (state_->done.exchange(true, std::memory_order_acq_rel)) return false;
  // Release the completion with the call: it holds the gRPC reactor.
  auto completion = std::move(state_->completion);
  completion(std::move(status), std::move(verdict));
  return true;
}

}  // namespace smtpbridge::worker
