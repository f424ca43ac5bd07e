// smtpbridge.v1.Admin: list bindings, their live stats, and reload. When an admin token is set,
// every call needs "authorization: Bearer <token>" metadata, over TLS or from loopback. Served on
// the CqPool's queues (the handlers run inline on a queue thread; Reload reads and validates the
// file there).
#pragma once

#include <memory>
#include <string>

#include "dispatch/binding_stats.h"
#include "server/admin_auth.h"
#include "server/bindings_store.h"
#include "smtpbridge/cq/cq_pool.h"
#include "smtpbridge/cq/cq_unary.h"
#include "smtpbridge/v1/admin.grpc.pb.h"

namespace smtpbridge::dispatcher {

class AdminService final : public v1::Admin::AsyncService {
 public:
  AdminService(BindingsStore* store, BindingStatsRegistry* stats, std::string token,
               cq::CqPool* cqs);
  ~AdminService() override;

  // After the server started: posts the first request of each method on `cq` (a pool queue).
  void Arm(grpc::ServerCompletionQueue* cq);

  grpc::Status HandleListBindings(grpc::ServerContext& context,
                                  const v1::ListBindingsRequest& request,
                                  v1::ListBindingsResponse* response);
  grpc::Status HandleGetBindingStats(grpc::ServerContext& context,
                                     const v1::GetBindingStatsRequest& request,
                                     v1::GetBindingStatsResponse* response);
  grpc::Status HandleReload(grpc::ServerContext& context, const v1::ReloadRequest& request,
                            v1::ReloadResponse* response);

 private:
  // UNAUTHENTICATED when a token is set and the call does not carry it (server/admin_auth.h).
  grpc::Status Authorize(const grpc::ServerContext& context) const;

  BindingsStore* store_;
  BindingStatsRegistry* stats_;
  AdminAuth auth_;
  std::unique_ptr<
      cq::CqUnaryMethod<AdminService, v1::ListBindingsRequest, v1::ListBindingsResponse>>
      list_;
  std::unique_ptr<
      cq::CqUnaryMethod<AdminService, v1::GetBindingStatsRequest, v1::GetBindingStatsResponse>>
      stats_method_;
  std::unique_ptr<cq::CqUnaryMethod<AdminService, v1::ReloadRequest, v1::ReloadResponse>> reload_;
};

}  // namespace smtpbridge::dispatcher
