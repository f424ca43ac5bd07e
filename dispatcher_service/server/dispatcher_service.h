// smtpbridge.v1.Dispatcher: Evaluate on the gRPC completion-queue API, driven by the CqPool's
// threads (it fans the event out (FanOut) and finishes the call when the decision is settled);
// EvaluateStream, the same per request over one bidi stream, batched both ways
// (server/evaluate_stream.h);
// GetInterests, rarely called, on the same queues (CqUnaryMethod): no callback-API method, so
// gRPC starts none of its callback threads.
#pragma once

#include <mutex>
#include <unordered_set>

#include "dispatch/fanout.h"
#include "server/admin_auth.h"
#include "server/bindings_store.h"
#include "server/metrics.h"
#include "smtpbridge/cq/cq_pool.h"
#include "smtpbridge/cq/cq_unary.h"
#include "smtpbridge/v1/dispatcher.grpc.pb.h"

namespace smtpbridge::dispatcher {

class EvaluateStream;

inline constexpr std::chrono::seconds kInterestsRefreshAfter{5};

class DispatcherService final : public v1::Dispatcher::AsyncService {
 public:
  DispatcherService(FanOut* fanout, BindingsStore* store, cq::CqPool* cqs);
  ~DispatcherService() override;

  // After the server started: posts the first Evaluate, EvaluateStream and GetInterests
  // requests on `cq` (a pool queue).
  void Arm(grpc::ServerCompletionQueue* cq);

  v1::GetInterestsResponse Interests(const v1::GetInterestsRequest& request) const;

  // Before Arm(): Evaluate with `explain` (a test event: it reveals the bindings) then needs the
  // admin token; unset, anyone may ask. A stream's explain from a caller without it is ignored.
  void SetAdminAuth(const AdminAuth* auth) { admin_auth_ = auth; }
  grpc::Status AuthorizeExplain(const grpc::ServerContext& context) const {
    return admin_auth_ ? admin_auth_->Authorize(context) : grpc::Status::OK;
  }
  // Before Arm(): where EvaluateStreams count their events per message (null: nowhere).
  void SetMetrics(Metrics* metrics) { metrics_ = metrics; }

  // Shutdown, before the server stops accepting: every open EvaluateStream (and any accepted
  // from now on) answers what it has read, then ends with UNAVAILABLE, so idle sink streams do
  // not hold Server::Shutdown until its deadline. Thread-safe; idempotent.
  void DrainStreams();
  // EvaluateStreams accepted and not yet over.
  size_t open_streams();

 private:
  class EvaluateCall;
  friend class EvaluateStream;

  FanOut* fanout_;
  BindingsStore* store_;
  cq::CqPool* cqs_;
  const AdminAuth* admin_auth_ = nullptr;
  Metrics* metrics_ = nullptr;
  std::mutex streams_mu_;
  // Accepted, not yet deleted (qualified: the base class has a method named EvaluateStream).
  std::unordered_set<dispatcher::EvaluateStream*> streams_;
  bool draining_ = false;
  std::unique_ptr<
      cq::CqUnaryMethod<DispatcherService, v1::GetInterestsRequest, v1::GetInterestsResponse>>
      interests_;
};

}  // namespace smtpbridge::dispatcher
