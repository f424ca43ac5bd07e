#include "server/admin_service.h"

#include <openssl/crypto.h>

#include <set>

namespace smtpbridge::dispatcher {

bool AdminService::Authorized(grpc::CallbackServerContext* context,
                              grpc::ServerUnaryReactor* reactor) const {
  if (token_.empty()) return true;
  const std::string expected = "Bearer " + token_;
  const auto& metadata = context->client_metadata();
  const auto it = metadata.find("authorization");
  // Constant-time compare: the token is a secret.
  const bool ok = it != metadata.end() && it->second.size() == expected.size() &&
                  CRYPTO_memcmp(it->second.data(), expected.data(), expected.size()) == 0;
  if (!ok) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                 "admin calls need \"authorization: Bearer <token>\""));
  }
  return ok;
}

grpc::ServerUnaryReactor* AdminService::ListBindings(grpc::CallbackServerContext* context,
                                                     const v1::ListBindingsRequest* request,
                                                     v1::ListBindingsResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!Authorized(context, reactor)) return reactor;
  if (const auto set = store_->Current()) {
    for (const auto& b : set->bindings()) {
      if (request->instance() != 0 && b.proto.instance() != request->instance()) continue;
      *response->add_bindings() = b.proto;
    }
  }
  response->set_source(store_->path());
  response->set_generation(store_->generation());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::GetBindingStats(grpc::CallbackServerContext* context,
                                                        const v1::GetBindingStatsRequest* request,
                                                        v1::GetBindingStatsResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!Authorized(context, reactor)) return reactor;
  // Every current binding appears, with zeros when it has not matched yet.
  std::set<std::string> listed;
  for (auto& stats : stats_->Snapshot(request->name())) {
    listed.insert(stats.name());
    *response->add_stats() = std::move(stats);
  }
  if (const auto set = store_->Current()) {
    for (const auto& b : set->bindings()) {
      if (!request->name().empty() && b.name() != request->name()) continue;
      if (listed.insert(b.name()).second) response->add_stats()->set_name(b.name());
    }
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::Reload(grpc::CallbackServerContext* context,
                                               const v1::ReloadRequest* request,
                                               v1::ReloadResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!Authorized(context, reactor)) return reactor;
  const ReloadOutcome outcome = store_->Reload();
  response->set_ok(outcome.ok);
  for (const auto& e : outcome.errors) response->add_errors(e);
  response->set_generation(outcome.generation);
  response->set_bindings(static_cast<uint32_t>(outcome.bindings));
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace smtpbridge::dispatcher
