#include "smtpbridge/health/cq_health_service.h"

namespace smtpbridge::health {

using grpc::health::v1::HealthCheckResponse;

grpc::Status HealthServiceBase::CheckStatus(const std::string& service,
                                            HealthCheckResponse* response) const {
  if (!service.empty() && service != service_name_) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service " + service);
  }
  response->set_status(serving_.load(std::memory_order_relaxed) ? HealthCheckResponse::SERVING
                                                                : HealthCheckResponse::NOT_SERVING);
  return grpc::Status::OK;
}

}  // namespace smtpbridge::health
