// smtpbridge.v1.Admin: list bindings, their live stats, and reload. When an admin token is set,
// every call needs "authorization: Bearer <token>" metadata.
#pragma once

#include <string>

#include "dispatch/binding_stats.h"
#include "server/bindings_store.h"
#include "smtpbridge/v1/admin.grpc.pb.h"

namespace smtpbridge::dispatcher {

class AdminService final : public v1::Admin::CallbackService {
 public:
  AdminService(BindingsStore* store, BindingStatsRegistry* stats, std::string token)
      : store_(store), stats_(stats), token_(std::move(token)) {}

  grpc::ServerUnaryReactor* ListBindings(grpc::CallbackServerContext* context,
                                         const v1::ListBindingsRequest* request,
                                         v1::ListBindingsResponse* response) override;
  grpc::ServerUnaryReactor* GetBindingStats(grpc::CallbackServerContext* context,
                                            const v1::GetBindingStatsRequest* request,
                                            v1::GetBindingStatsResponse* response) override;
  grpc::ServerUnaryReactor* Reload(grpc::CallbackServerContext* context,
                                   const v1::ReloadRequest* request,
                                   v1::ReloadResponse* response) override;

 private:
  // Finishes the reactor with UNAUTHENTICATED and returns false when the token does not match.
  bool Authorized(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor) const;

  BindingsStore* store_;
  BindingStatsRegistry* stats_;
  std::string token_;
};

}  // namespace smtpbridge::dispatcher
