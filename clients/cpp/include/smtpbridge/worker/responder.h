// Completes one call exactly once: with a verdict, or with an error status (which makes the
// dispatcher apply the binding's on_error). Copies share the call; the first completion wins and
// later ones are ignored, so a timer and a cancellation can race safely.
#pragma once

#include <grpcpp/support/status.h>

#include <atomic>
#include <functional>
#include <memory>

#include "smtpbridge/v1/verdict.pb.h"
#include "smtpbridge/worker/verdict.h"

namespace smtpbridge::worker {

class Responder {
 public:
  // Receives the outcome once; `verdict` is meaningful only when `status` is OK.
  using Completion = std::function<void(grpc::Status status, v1::Verdict verdict)>;

  explicit Responder(Completion completion);

  // Each returns false when the call was already completed (answered, failed or cancelled).
  bool Finish(Verdict verdict) const;
  bool Fail(grpc::Status status) const;
  bool finished() const;

 private:
  struct State {
    explicit State(Completion c) : completion(std::move(c)) {}
    std::atomic<bool> done{false};
    Completion completion;
  };
  bool Complete(grpc::Status status, v1::Verdict verdict) const;

  std::shared_ptr<State> state_;
};

}  // namespace smtpbridge::worker
