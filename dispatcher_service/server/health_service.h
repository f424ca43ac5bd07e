// grpc.health.v1.Health on the dispatcher's completion queues, replacing gRPC's default health
// service (which is on the callback API and so starts gRPC's callback threads, woken for every
// event). Check: SERVING for "" and "smtpbridge.v1.Dispatcher" while serving, NOT_SERVING once
// draining, NOT_FOUND for any other name. Watch answers UNIMPLEMENTED (Kubernetes gRPC probes,
// grpc_health_probe and grpcurl use Check).
#pragma once

#include <atomic>
#include <memory>

#include "grpc/health/v1/health.grpc.pb.h"
#include "server/cq_pool.h"
#include "server/cq_unary.h"

namespace smtpbridge::dispatcher {

class HealthService final : public grpc::health::v1::Health::AsyncService {
 public:
  explicit HealthService(CqPool* cqs);
  ~HealthService() override;

  // After the server started: posts the first Check and Watch requests on `cq` (a pool queue).
  void Arm(grpc::ServerCompletionQueue* cq);
  // false: NOT_SERVING (draining). Thread-safe.
  void SetServing(bool serving) { serving_.store(serving, std::memory_order_relaxed); }

  // What Check answers for `service` (NOT_FOUND when unknown).
  grpc::Status CheckStatus(const std::string& service,
                           grpc::health::v1::HealthCheckResponse* response) const;

 private:
  class WatchCall;
  using CheckMethod = CqUnaryMethod<HealthService, grpc::health::v1::HealthCheckRequest,
                                    grpc::health::v1::HealthCheckResponse>;

  CqPool* cqs_;
  std::atomic<bool> serving_{true};
  std::unique_ptr<CheckMethod> check_;
};

}  // namespace smtpbridge::dispatcher
