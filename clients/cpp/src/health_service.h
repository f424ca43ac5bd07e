// grpc.health.v1.Health on the worker's completion queues (the shared service in
// runtime/include/smtpbridge/health/cq_health_service.h), instead of gRPC's default health
// service: SERVING for "" and "smtpbridge.v1.PolicySink" while serving, NOT_SERVING once
// draining, NOT_FOUND for any other name; Watch answers UNIMPLEMENTED.
#pragma once

#include "smtpbridge/cq/cq_gate.h"
#include "smtpbridge/health/cq_health_service.h"

namespace smtpbridge::worker::internal {

class HealthService final : public health::CqHealthService<cq::CqTag, cq::CqGate> {
 public:
  explicit HealthService(cq::CqGate* gate) : CqHealthService("smtpbridge.v1.PolicySink", gate) {}
};

}  // namespace smtpbridge::worker::internal
