#include "workers/grpc_sink_client.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <mutex>

#include "smtpbridge/trace/traceparent.h"

namespace smtpbridge::dispatcher {
namespace {

// A call cancelled this close to its deadline was cancelled by the fan-out's timer: a timeout.
constexpr auto kDeadlineSlack = std::chrono::milliseconds(1);

struct CallState;

// One unary attempt on one endpoint; its own completion-queue tag. It keeps itself alive (self)
// until the finish comes back.
struct Attempt final : cq::CqTag {
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
  GrpcSinkClient* client = nullptr;
  cq::CqPool* cqs = nullptr;
  std::shared_ptr<WorkerPool> pool;
  std::shared_ptr<const v1::SinkRequest> request;
  Clock::TimePoint deadline;
  std::string traceparent;  // empty: none
  std::mutex mu;
  SinkCallback done;
  std::shared_ptr<Attempt> current;      // the unary attempt running, or
  std::shared_ptr<WorkerStream> stream;  // the stream the attempt is on
  uint64_t stream_id = 0;
  bool cancelled = false;
  int attempts = 0;
};

void AttemptDone(const std::shared_ptr<CallState>& call, const WorkerPool::Pick& pick,
                 const grpc::Status& status, v1::Verdict verdict);

// Starts a unary attempt on `pick` on a pool queue; false when the queues are closed. `again`:
// the same attempt, moved from a stream its worker does not serve (not counted twice).
bool StartUnary(const std::shared_ptr<CallState>& call, WorkerPool::Pick pick, bool again) {
  auto attempt = std::make_shared<Attempt>();
  attempt->pick = std::move(pick);
  attempt->call = call;
  if (!call->traceparent.empty())
    attempt->context.AddMetadata(trace::kMetadataKey, call->traceparent);
  // gRPC deadlines are system_clock time points.
  const auto left = call->deadline - std::chrono::steady_clock::now();
  attempt->context.set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::duration_cast<std::chrono::system_clock::duration>(left));
  cq::CqPool::Use use(call->cqs);
  if (!use) return false;
  {
    std::lock_guard lock(call->mu);
    if (call->cancelled) {
      attempt->context.TryCancel();  // still started, so its finish reports CANCELLED
    }
    call->current = attempt;
    call->stream = nullptr;
    if (!again) ++call->attempts;
  }
  attempt->self = attempt;
  attempt->rpc = attempt->pick.endpoint->stub->PrepareAsyncOnEvent(
      &attempt->context, *call->request, call->cqs->Pick());
  attempt->rpc->StartCall();
  attempt->rpc->Finish(&attempt->verdict, &attempt->status, attempt.get());
  return true;
}

// Starts an attempt on `pick`: on its stream when it has one in use, else unary.
bool StartAttempt(const std::shared_ptr<CallState>& call, WorkerPool::Pick pick) {
  auto stream = call->client->StreamFor(*call->pool, *pick.endpoint);
  if (!stream || !stream->use_stream()) return StartUnary(call, std::move(pick), false);
  {
    std::lock_guard lock(call->mu);
    ++call->attempts;
    call->current = nullptr;
  }
  const uint64_t id = stream->Send(
      *call->request, call->traceparent, call->deadline,
      [call, pick](const grpc::Status& status, v1::Verdict verdict, bool unsupported) {
        if (unsupported) {
          // Never evaluated: the same attempt as unary OnEvent on the same endpoint.
          if (StartUnary(call, pick, true)) return;
          AttemptDone(call, pick,
                      grpc::Status(grpc::StatusCode::UNAVAILABLE, "dispatcher shutting down"), {});
          return;
        }
        AttemptDone(call, pick, status, std::move(verdict));
      });
  if (id == 0) {
    {
      std::lock_guard lock(call->mu);
      --call->attempts;
    }
    return StartUnary(call, std::move(pick), false);
  }
  bool cancel = false;
  {
    std::lock_guard lock(call->mu);
    call->stream = stream;
    call->stream_id = id;
    cancel = call->cancelled;  // cancelled while it was being sent
  }
  if (cancel) stream->Cancel(id);
  return true;
}

void Attempt::Proceed(bool) {
  // Finish always completes with ok = true; `status` says how the call went.
  auto keep = std::move(self);
  auto c = std::move(call);
  AttemptDone(c, pick, status, std::move(verdict));
}

void AttemptDone(const std::shared_ptr<CallState>& call, const WorkerPool::Pick& pick,
                 const grpc::Status& status, v1::Verdict verdict) {
  const auto now = std::chrono::steady_clock::now();
  call->pool->Done(pick, ClassifyCall(status, now, call->deadline));
  SinkCallback callback;
  {
    std::lock_guard lock(call->mu);
    const bool retry = status.error_code() == grpc::StatusCode::UNAVAILABLE && !call->cancelled &&
                       call->attempts == 1 && now < call->deadline;
    call->current = nullptr;
    call->stream = nullptr;
    if (!retry) {
      callback = std::move(call->done);
      call->done = nullptr;
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
}

}  // namespace

CallResult ClassifyCall(const grpc::Status& status, Clock::TimePoint now,
                        Clock::TimePoint deadline) {
  if (status.ok()) return CallResult::kSuccess;
  const auto code = status.error_code();
  if (code == grpc::StatusCode::CANCELLED || code == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return now + kDeadlineSlack >= deadline ? CallResult::kFailure : CallResult::kNeutral;
  }
  return CallResult::kFailure;
}

std::shared_ptr<WorkerStream> GrpcSinkClient::StreamFor(WorkerPool& pool,
                                                        WorkerPool::Endpoint& endpoint) {
  if (pool.options().transport != WorkerTransport::kStream || !endpoint.channel) return nullptr;
  std::call_once(endpoint.stream_once, [&] {
    auto stream = std::make_shared<WorkerStream>(pool.target(), endpoint.address, endpoint.channel,
                                                 cqs_, listener_);
    std::lock_guard lock(streams_mu_);
    std::erase_if(streams_, [](const auto& w) { return w.expired(); });
    streams_.push_back(stream);
    endpoint.stream = std::move(stream);
  });
  return endpoint.stream;
}

void GrpcSinkClient::CloseStreams() {
  std::vector<std::weak_ptr<WorkerStream>> streams;
  {
    std::lock_guard lock(streams_mu_);
    streams = streams_;
  }
  for (const auto& weak : streams) {
    if (auto stream = weak.lock()) stream->Close();
  }
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
  call->client = this;
  call->traceparent = traceparent;
  call->cqs = cqs_;
  call->pool = pool_->Get(target);
  call->request = std::move(request);
  call->deadline = deadline;
  call->done = std::move(done);
  auto pick = call->pool->Choose();
  if (!pick) {
    auto callback = std::move(call->done);
    callback(grpc::Status(grpc::StatusCode::UNAVAILABLE, "no address for worker target " + target),
             {});
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
    std::shared_ptr<WorkerStream> stream;
    uint64_t id = 0;
    {
      std::lock_guard lock(c->mu);
      c->cancelled = true;
      attempt = c->current;
      stream = c->stream;
      id = c->stream_id;
    }
    if (attempt) attempt->context.TryCancel();
    if (stream) stream->Cancel(id);
  };
}

}  // namespace smtpbridge::dispatcher
