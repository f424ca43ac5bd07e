#include "server/health_service.h"

namespace smtpbridge::dispatcher {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// A Watch call: finished at once with UNIMPLEMENTED (a client falls back to Check).
class HealthService::WatchCall final : public CqTag {
 public:
  WatchCall(HealthService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq), writer_(&context_) {}

  static void Post(HealthService* service, grpc::ServerCompletionQueue* cq) {
    CqPool::Use use(service->cqs_);
    if (!use) return;
    auto* call = new WatchCall(service, cq);
    service->RequestWatch(&call->context_, &call->request_, &call->writer_, cq, cq, call);
  }

  void Proceed(bool ok) override {
    if (finishing_ || !ok) {
      delete this;
      return;
    }
    Post(service_, cq_);
    {
      CqPool::Use use(service_->cqs_);
      if (use) {
        finishing_ = true;
        writer_.Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                    "grpc.health.v1.Health/Watch is not served; use Check"),
                       this);
        return;
      }
    }
    delete this;
  }

 private:
  HealthService* service_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext context_;
  HealthCheckRequest request_;
  grpc::ServerAsyncWriter<HealthCheckResponse> writer_;
  bool finishing_ = false;
};

HealthService::HealthService(CqPool* cqs) : cqs_(cqs) {
  check_ = std::make_unique<CheckMethod>(
      this, &HealthService::RequestCheck, cqs,
      [this](grpc::ServerContext&, const HealthCheckRequest& request, HealthCheckResponse* response) {
        return CheckStatus(request.service(), response);
      });
}

HealthService::~HealthService() = default;

void HealthService::Arm(grpc::ServerCompletionQueue* cq) {
  check_->Post(cq);
  WatchCall::Post(this, cq);
}

grpc::Status HealthService::CheckStatus(const std::string& service,
                                        HealthCheckResponse* response) const {
  if (!service.empty() && service != "smtpbridge.v1.Dispatcher") {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service " + service);
  }
  response->set_status(serving_.load(std::memory_order_relaxed) ? HealthCheckResponse::SERVING
                                                                : HealthCheckResponse::NOT_SERVING);
  return grpc::Status::OK;
}

}  // namespace smtpbridge::dispatcher
