#include "server/dispatcher_service.h"

#include "smtpbridge/v1/names.h"

namespace smtpbridge::dispatcher {

grpc::ServerUnaryReactor* DispatcherService::Evaluate(grpc::CallbackServerContext* context,
                                                      const v1::EvaluateRequest* request,
                                                      v1::EvaluateResponse* response) {
  auto* reactor = context->DefaultReactor();
  const v1::EventType type = request->event().type();
  if (type == v1::EVENT_TYPE_UNSPECIFIED || v1::EventTypeName(type) == "UNSPECIFIED") {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "event.type is missing or unknown"));
    return reactor;
  }
  auto bindings = store_->Current();
  if (!bindings) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "no bindings loaded"));
    return reactor;
  }
  fanout_->Evaluate(std::move(bindings), request->event(), request->explain(),
                    [reactor, response](v1::EvaluateResponse result) {
                      *response = std::move(result);
                      reactor->Finish(grpc::Status::OK);
                    });
  return reactor;
}

grpc::ServerUnaryReactor* DispatcherService::GetInterests(grpc::CallbackServerContext* context,
                                                          const v1::GetInterestsRequest* request,
                                                          v1::GetInterestsResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (const auto bindings = store_->Current()) {
    for (auto& interest : bindings->Interests(request->instance())) {
      *response->add_interests() = std::move(interest);
    }
  }
  response->set_generation(store_->generation());
  *response->mutable_refresh_after() = v1::ToProtoDuration(kInterestsRefreshAfter);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace smtpbridge::dispatcher
