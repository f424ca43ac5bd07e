// A unary method served on a CqPool queue: one posted request per queue; when a call arrives it
// posts the next request, runs the handler inline on the queue's thread and finishes. For the
// rarely called methods (GetInterests, Admin; health Check has its own, shared with the worker
// SDK: smtpbridge/health/cq_health_service.h): keeping them off the callback and sync APIs keeps
// gRPC from starting its own polling threads, which the epoll1 poller wakes for every event (see
// bench/README.md, latency).
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/async_unary_call.h>

#include <functional>

#include "smtpbridge/cq/cq_pool.h"

namespace smtpbridge::cq {

template <typename Service, typename Request, typename Response>
class CqUnaryMethod {
 public:
  // The generated AsyncService::RequestFoo.
  using RequestFn = void (Service::*)(grpc::ServerContext*, Request*,
                                      grpc::ServerAsyncResponseWriter<Response>*,
                                      grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*);
  // Runs on the queue's thread; fills the response and returns the status.
  using Handler = std::function<grpc::Status(grpc::ServerContext&, const Request&, Response*)>;

  CqUnaryMethod(Service* service, RequestFn request, CqPool* pool, Handler handler)
      : service_(service), request_(request), pool_(pool), handler_(std::move(handler)) {}

  // Posts one request on `cq`; nothing once the pool is closed.
  void Post(grpc::ServerCompletionQueue* cq) {
    CqPool::Use use(pool_);
    if (!use) return;
    auto* call = new Call(this, cq);
    (service_->*request_)(&call->context, &call->request, &call->responder, cq, cq, call);
  }

 private:
  class Call final : public CqTag {
   public:
    Call(CqUnaryMethod* method, grpc::ServerCompletionQueue* cq)
        : method(method), cq(cq), responder(&context) {}

    void Proceed(bool ok) override {
      if (finishing || !ok) {  // finished, or no call: the server is shutting down
        delete this;
        return;
      }
      method->Post(cq);  // the next call of this method
      const grpc::Status status = method->handler_(context, request, &response);
      {
        CqPool::Use use(method->pool_);
        if (use) {
          finishing = true;
          responder.Finish(response, status, this);
          return;
        }
      }
      delete this;
    }

    CqUnaryMethod* method;
    grpc::ServerCompletionQueue* cq;
    grpc::ServerContext context;
    Request request;
    Response response;
    grpc::ServerAsyncResponseWriter<Response> responder;
    bool finishing = false;
  };

  Service* service_;
  RequestFn request_;
  CqPool* pool_;
  Handler handler_;
};

}  // namespace smtpbridge::cq
