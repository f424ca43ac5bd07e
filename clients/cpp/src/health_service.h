// grpc.health.v1.Health on the worker's completion queues, instead of gRPC's default health
// service: that one is on the callback API, whose two "nexting_thread"s share the poller and get
// woken for every event (see bench/README.md, latency). Check: SERVING for "" and
// "smtpbridge.v1.PolicySink" while serving, NOT_SERVING once draining, NOT_FOUND for any other
// name. Watch answers UNIMPLEMENTED (probes, grpc_health_probe and grpcurl use Check).
#pragma once

#include <atomic>
#include <string>

#include <grpcpp/grpcpp.h>

#include "cq_gate.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace smtpbridge::worker::internal {

class HealthService final : public grpc::health::v1::Health::AsyncService {
 public:
  explicit HealthService(CqGate* gate) : gate_(gate) {}

  // After the server started: posts the first Check and Watch requests on `cq`.
  void Arm(grpc::ServerCompletionQueue* cq);
  // false: NOT_SERVING (draining). Thread-safe.
  void SetServing(bool serving) { serving_.store(serving, std::memory_order_relaxed); }

  grpc::Status CheckStatus(const std::string& service,
                           grpc::health::v1::HealthCheckResponse* response) const;

 private:
  class CheckCall;
  class WatchCall;

  CqGate* gate_;
  std::atomic<bool> serving_{true};
};

}  // namespace smtpbridge::worker::internal
