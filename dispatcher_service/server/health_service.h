// grpc.health.v1.Health on the dispatcher's completion queues (the shared service in
// runtime/include/smtpbridge/health/cq_health_service.h), replacing gRPC's default health
// service: SERVING for "" and "smtpbridge.v1.Dispatcher" while serving, NOT_SERVING once
// draining, NOT_FOUND for any other name; Watch answers UNIMPLEMENTED.
#pragma once

#include "smtpbridge/cq/cq_pool.h"
#include "smtpbridge/health/cq_health_service.h"

namespace smtpbridge::dispatcher {

class HealthService final : public health::CqHealthService<cq::CqTag, cq::CqPool> {
 public:
  explicit HealthService(cq::CqPool* cqs) : CqHealthService("smtpbridge.v1.Dispatcher", cqs) {}
};

}  // namespace smtpbridge::dispatcher
