// smtpbridge.v1.Dispatcher on the gRPC callback API: Evaluate fans the event out (FanOut) and
// finishes the reactor when the decision is settled; GetInterests reports what the current
// bindings want.
#pragma once

#include "dispatch/fanout.h"
#include "server/bindings_store.h"
#include "smtpbridge/v1/dispatcher.grpc.pb.h"

namespace smtpbridge::dispatcher {

inline constexpr std::chrono::seconds kInterestsRefreshAfter{5};

class DispatcherService final : public v1::Dispatcher::CallbackService {
 public:
  DispatcherService(FanOut* fanout, BindingsStore* store) : fanout_(fanout), store_(store) {}

  grpc::ServerUnaryReactor* Evaluate(grpc::CallbackServerContext* context,
                                     const v1::EvaluateRequest* request,
                                     v1::EvaluateResponse* response) override;
  grpc::ServerUnaryReactor* GetInterests(grpc::CallbackServerContext* context,
                                         const v1::GetInterestsRequest* request,
                                         v1::GetInterestsResponse* response) override;

 private:
  FanOut* fanout_;
  BindingsStore* store_;
};

}  // namespace smtpbridge::dispatcher
