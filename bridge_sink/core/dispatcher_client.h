// The sink's view of the dispatcher: asynchronous Evaluate (cancellable) and GetInterests.
// GrpcDispatcherClient is the real one; unit tests use a fake that answers when told to.
#pragma once

#include <grpcpp/support/status.h>

#include <chrono>
#include <functional>
#include <memory>

#include "smtpbridge/v1/dispatcher.pb.h"

namespace smtpbridge::sink {

class DispatcherClient {
 public:
  // One call in flight. Cancel() asks it to finish early (its callback then sees CANCELLED,
  // unless the answer already arrived); safe to call at any time, from any thread, repeatedly.
  class Call {
   public:
    virtual ~Call() = default;
    virtual void Cancel() = 0;
  };

  using EvaluateDone = std::function<void(const grpc::Status&, v1::EvaluateResponse)>;
  using InterestsDone = std::function<void(const grpc::Status&, v1::GetInterestsResponse)>;

  virtual ~DispatcherClient() = default;

  // Starts Dispatcher.Evaluate. `done` runs exactly once, on a client thread, possibly before
  // Evaluate() returns. The deadline is wall-clock because gRPC wants system_clock. `request`
  // is not copied: it must stay valid and unchanged until `done` has started (the sink's
  // pending evaluation owns it, and `done` holds that).
  virtual std::shared_ptr<Call> Evaluate(const v1::EvaluateRequest& request,
                                         std::chrono::system_clock::time_point deadline,
                                         EvaluateDone done) = 0;

  // Calls `ready` once (on a client thread), the next time the connection to the dispatcher
  // becomes ready after not being ready; a later call replaces an earlier `ready` not yet
  // called (an empty `ready` just cancels it). The sink uses it to probe its open breaker as
  // soon as the dispatcher is back.
  // Clients that cannot tell (test fakes) never call it.
  virtual void NotifyWhenReady(std::function<void()> ready) { (void)ready; }

  // Starts Dispatcher.GetInterests; same contract as Evaluate.
  virtual std::shared_ptr<Call> GetInterests(const v1::GetInterestsRequest& request,
                                             std::chrono::system_clock::time_point deadline,
                                             InterestsDone done) = 0;
};

}  // namespace smtpbridge::sink
