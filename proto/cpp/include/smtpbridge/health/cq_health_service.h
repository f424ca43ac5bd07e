// grpc.health.v1.Health served on a server's own completion queues, for the dispatcher and the C++
// worker SDK, instead of gRPC's default health service: that one is on the callback API, whose
// threads ("nexting_thread") share the poller and get woken for every event (see bench/README.md,
// latency). Check: SERVING for "" and the server's own service name while serving, NOT_SERVING
// once draining, NOT_FOUND for any other name. Watch answers UNIMPLEMENTED (Kubernetes gRPC
// probes, grpc_health_probe and grpcurl use Check).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <string>
#include <type_traits>
#include <utility>

#include "grpc/health/v1/health.grpc.pb.h"

namespace smtpbridge::health {

// What Check answers, whatever queues the calls arrive on.
class HealthServiceBase : public grpc::health::v1::Health::AsyncService {
 public:
  // `service_name`: the one service name besides "" that Check knows.
  explicit HealthServiceBase(std::string service_name) : service_name_(std::move(service_name)) {}

  // false: NOT_SERVING (draining). Thread-safe.
  void SetServing(bool serving) { serving_.store(serving, std::memory_order_relaxed); }

  // What Check answers for `service` (NOT_FOUND when unknown).
  grpc::Status CheckStatus(const std::string& service,
                           grpc::health::v1::HealthCheckResponse* response) const;

 private:
  const std::string service_name_;
  std::atomic<bool> serving_{true};
};

// The service on the owner's completion queues, whose threads run the calls inline.
//   Tag:  the base of every tag on those queues; their loop runs
//         static_cast<Tag*>(tag)->Proceed(ok).
//   Gate: keeps the queues open while an operation starts on them: `typename Gate::Use use(gate)`
//         is a scoped shared lock that converts to false (holding nothing) once they are closing.
template <typename Tag, typename Gate>
class CqHealthService : public HealthServiceBase {
 public:
  CqHealthService(std::string service_name, Gate* gate)
      : HealthServiceBase(std::move(service_name)), gate_(gate) {}

  // After the server started: posts the first Check and Watch requests on `cq`.
  void Arm(grpc::ServerCompletionQueue* cq) {
    Call<Method::kCheck>::Post(this, cq);
    Call<Method::kWatch>::Post(this, cq);
  }

 private:
  enum class Method { kCheck, kWatch };
  template <Method kMethod>
  class Call;

  Gate* gate_;
};

// One call: posts the next request of its method, answers inline on the queue's thread, finishes.
template <typename Tag, typename Gate>
template <typename CqHealthService<Tag, Gate>::Method kMethod>
class CqHealthService<Tag, Gate>::Call final : public Tag {
  static constexpr bool kCheck = kMethod == Method::kCheck;
  using Response = grpc::health::v1::HealthCheckResponse;
  using Writer = std::conditional_t<kCheck, grpc::ServerAsyncResponseWriter<Response>,
                                    grpc::ServerAsyncWriter<Response>>;

 public:
  // Nothing once the queues are closing.
  static void Post(CqHealthService* service, grpc::ServerCompletionQueue* cq) {
    typename Gate::Use use(service->gate_);
    if (!use) return;
    auto* call = new Call(service, cq);
    if constexpr (kCheck) {
      service->RequestCheck(&call->context_, &call->request_, &call->writer_, cq, cq, call);
    } else {
      service->RequestWatch(&call->context_, &call->request_, &call->writer_, cq, cq, call);
    }
  }

  void Proceed(bool ok) override {
    if (finishing_ || !ok) {  // finished, or no call: the server is shutting down
      delete this;
      return;
    }
    Post(service_, cq_);  // the next call of this method
    // Watch is not served: a client falls back to Check.
    const grpc::Status status =
        kCheck ? service_->CheckStatus(request_.service(), &response_)
               : grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                              "grpc.health.v1.Health/Watch is not served; use Check");
    {
      typename Gate::Use use(service_->gate_);
      if (use) {
        finishing_ = true;
        if constexpr (kCheck) {
          if (status.ok()) {
            writer_.Finish(response_, status, this);
          } else {
            writer_.FinishWithError(status, this);
          }
        } else {
          writer_.Finish(status, this);
        }
        return;
      }
    }
    delete this;
  }

 private:
  Call(CqHealthService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq), writer_(&context_) {}

  CqHealthService* service_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext context_;
  grpc::health::v1::HealthCheckRequest request_;
  Response response_;
  Writer writer_;
  bool finishing_ = false;
};

}  // namespace smtpbridge::health
