// smtpbridge.v1.Dispatcher: Evaluate on the gRPC completion-queue API, driven by the CqPool's
// threads (it fans the event out (FanOut) and finishes the call when the decision is settled);
// GetInterests, rarely called, stays on the callback API.
#pragma once

#include "dispatch/fanout.h"
#include "server/bindings_store.h"
#include "server/cq_pool.h"
#include "smtpbridge/v1/dispatcher.grpc.pb.h"

namespace smtpbridge::dispatcher {

inline constexpr std::chrono::seconds kInterestsRefreshAfter{5};

using DispatcherServiceBase =
    v1::Dispatcher::WithAsyncMethod_Evaluate<v1::Dispatcher::WithCallbackMethod_GetInterests<v1::Dispatcher::Service>>;

class DispatcherService final : public DispatcherServiceBase {
 public:
  DispatcherService(FanOut* fanout, BindingsStore* store, CqPool* cqs)
      : fanout_(fanout), store_(store), cqs_(cqs) {}

  // After the server started: posts the first Evaluate requests on `cq` (a pool queue).
  void Arm(grpc::ServerCompletionQueue* cq);

  grpc::ServerUnaryReactor* GetInterests(grpc::CallbackServerContext* context,
                                         const v1::GetInterestsRequest* request,
                                         v1::GetInterestsResponse* response) override;

 private:
  class EvaluateCall;

  FanOut* fanout_;
  BindingsStore* store_;
  CqPool* cqs_;
};

}  // namespace smtpbridge::dispatcher
