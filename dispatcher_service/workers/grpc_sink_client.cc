#include "workers/grpc_sink_client.h"

#include <grpcpp/client_context.h>

#include <mutex>

#include "smtpbridge/trace/traceparent.h"

namespace smtpbridge::dispatcher {
namespace {

// A call cancelled this close to its deadline was cancelled by the fan-out's timer: a timeout.
constexpr auto kDeadlineSlack = std::chrono::milliseconds(1);

struct CallState;

// One attempt on one endpoint; its own completion-queue tag. It keeps itself alive (self)
// until the finish comes back.
struct Attempt final : CqTag {
  grpc::ClientContext context;
  v1::Verdict verdict;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::Verdict>> rpc;
  WorkerPool::Pick pick;
  std::shared_ptr<CallState> call;
  std::shared_ptr<Attempt> self;

  void Proceed(bool) override;
};

// One binding's call: its attempts (one, or two after a retry). The CancelFn holds it weakly.
struct CallState {
  CqPool* cqs = nullptr;
  std::shared_ptr<WorkerPool> pool;
  std::shared_ptr<const v1::SinkRequest> request;
  Clock::TimePoint deadline;
  std::string traceparent;  // empty: none
  std::mutex mu;
  SinkCallback done;
  std::shared_ptr<Attempt> current;
  bool cancelled = false;
  int attempts = 0;
};

// Starts an attempt on `pick` on a pool queue; false when the queues are closed.
bool StartAttempt(const std::shared_ptr<CallState>& call, WorkerPool::Pick pick) {
  auto attempt = std::make_shared<Attempt>();
  attempt->pick = std::move(pick);
  attempt->call = call;
  if (!call->traceparent.empty()) attempt->context.AddMetadata(trace::kMetadataKey, call->traceparent);
  // gRPC deadlines are system_clock time points.
  const auto left = call->deadline - std::chrono::steady_clock::now();
  attempt->context.set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::duration_cast<std::chrono::system_clock::duration>(left));
  CqPool::Use use(call->cqs);
  if (!use) return false;
  {
    std::lock_guard lock(call->mu);
    if (call->cancelled) {
      attempt->context.TryCancel();  // still started, so its finish reports CANCELLED
    }
    call->current = attempt;
    ++call->attempts;
  }
  attempt->self = attempt;
  attempt->rpc = attempt->pick.endpoint->stub->PrepareAsyncOnEvent(&attempt->context,
                                                                   *call->request, call->cqs->Pick());
  attempt->rpc->StartCall();
  attempt->rpc->Finish(&attempt->verdict, &attempt->status, attempt.get());
  return true;
}

void Attempt::Proceed(bool) {
  // Finish always completes with ok = true; `status` says how the call went.
  auto keep = std::move(self);
  const auto now = std::chrono::steady_clock::now();
  call->pool->Done(pick, ClassifyCall(status, now, call->deadline));
  SinkCallback callback;
  {
    std::lock_guard lock(call->mu);
    const bool retry = status.error_code() == grpc::StatusCode::UNAVAILABLE &&
                       !call->cancelled && call->attempts == 1 && now < call->deadline;
    if (retry) {
      call->current = nullptr;
    } else {
      callback = std::move(call->done);
      call->done = nullptr;
      call->current = nullptr;
    }
  }
  if (!callback) {
    // A retry, on another endpoint, if there is one and the budget allows.
    WorkerPool::Pick next = call->pool->Choose(pick.endpoint.get());
    if (next && call->pool->TryRetry()) {
      if (StartAttempt(call, next)) return;
    }
    if (next) call->pool->Done(next, CallResult::kNeutral);
    std::lock_guard lock(call->mu);
    callback = std::move(call->done);
    call->done = nullptr;
  }
  if (callback) callback(status, std::move(verdict));
  call = nullptr;  // breaks nothing: the call state holds no reference to us any more
}

}  // namespace

CallResult ClassifyCall(const grpc::Status& status, Clock::TimePoint now, Clock::TimePoint deadline) {
  if (status.ok()) return CallResult::kSuccess;
  const auto code = status.error_code();
  if (code == grpc::StatusCode::CANCELLED || code == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return now + kDeadlineSlack >= deadline ? CallResult::kFailure : CallResult::kNeutral;
  }
  return CallResult::kFailure;
}

CancelFn GrpcSinkClient::Call(const std::string& target,
                              std::shared_ptr<const v1::SinkRequest> request,
                              Clock::TimePoint deadline, SinkCallback done) {
  return Call(target, std::move(request), deadline, std::string(), std::move(done));
}

CancelFn GrpcSinkClient::Call(const std::string& target,
                              std::shared_ptr<const v1::SinkRequest> request,
                              Clock::TimePoint deadline, const std::string& traceparent,
                              SinkCallback done) {
  auto call = std::make_shared<CallState>();
  call->traceparent = traceparent;
  call->cqs = cqs_;
  call->pool = pool_->Get(target);
  call->request = std::move(request);
  call->deadline = deadline;
  call->done = std::move(done);
  auto pick = call->pool->Choose();
  if (!pick) {
    auto callback = std::move(call->done);
    callback(grpc::Status(grpc::StatusCode::UNAVAILABLE, "no address for worker target " + target), {});
    return nullptr;
  }
  if (!StartAttempt(call, pick)) {
    // Shutting down: no queue to run the call on.
    call->pool->Done(pick, CallResult::kNeutral);
    auto callback = std::move(call->done);
    callback(grpc::Status(grpc::StatusCode::UNAVAILABLE, "dispatcher shutting down"), {});
    return nullptr;
  }
  std::weak_ptr<CallState> weak = call;
  return [weak] {
    auto c = weak.lock();
    if (!c) return;
    std::shared_ptr<Attempt> attempt;
    {
      std::lock_guard lock(c->mu);
      c->cancelled = true;
      attempt = c->current;
    }
    if (attempt) attempt->context.TryCancel();
  };
}

}  // namespace smtpbridge::dispatcher
