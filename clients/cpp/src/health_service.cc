#include "health_service.h"

namespace smtpbridge::worker::internal {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// One Check call: answered inline on the queue's thread.
class HealthService::CheckCall final : public CqTag {
 public:
  CheckCall(HealthService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq), writer_(&context_) {}

  static void Post(HealthService* service, grpc::ServerCompletionQueue* cq) {
    CqGate::Use use(service->gate_);
    if (!use) return;
    auto* call = new CheckCall(service, cq);
    service->RequestCheck(&call->context_, &call->request_, &call->writer_, cq, cq, call);
  }

  void Proceed(bool ok) override {
    if (finishing_ || !ok) {  // finished, or no call: the server is shutting down
      delete this;
      return;
    }
    Post(service_, cq_);
    const grpc::Status status = service_->CheckStatus(request_.service(), &response_);
    {
      CqGate::Use use(service_->gate_);
      if (use) {
        finishing_ = true;
        if (status.ok()) {
          writer_.Finish(response_, status, this);
        } else {
          writer_.FinishWithError(status, this);
        }
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
  HealthCheckResponse response_;
  grpc::ServerAsyncResponseWriter<HealthCheckResponse> writer_;
  bool finishing_ = false;
};

// A Watch call: finished at once with UNIMPLEMENTED (a client falls back to Check).
class HealthService::WatchCall final : public CqTag {
 public:
  WatchCall(HealthService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq), writer_(&context_) {}

  static void Post(HealthService* service, grpc::ServerCompletionQueue* cq) {
    CqGate::Use use(service->gate_);
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
      CqGate::Use use(service_->gate_);
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

void HealthService::Arm(grpc::ServerCompletionQueue* cq) {
  CheckCall::Post(this, cq);
  WatchCall::Post(this, cq);
}

grpc::Status HealthService::CheckStatus(const std::string& service,
                                        HealthCheckResponse* response) const {
  if (!service.empty() && service != "smtpbridge.v1.PolicySink") {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service " + service);
  }
  response->set_status(serving_.load(std::memory_order_relaxed) ? HealthCheckResponse::SERVING
                                                                : HealthCheckResponse::NOT_SERVING);
  return grpc::Status::OK;
}

}  // namespace smtpbridge::worker::internal
