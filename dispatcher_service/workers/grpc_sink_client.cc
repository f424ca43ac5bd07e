#include "workers/grpc_sink_client.h"

#include <grpcpp/client_context.h>

#include "smtpbridge/trace/traceparent.h"

namespace smtpbridge::dispatcher {
namespace {

// One worker call; its own completion-queue tag. It keeps itself alive (self) until the
// finish comes back; the CancelFn holds it weakly.
struct CallState final : CqTag, std::enable_shared_from_this<CallState> {
  grpc::ClientContext context;
  std::shared_ptr<const v1::SinkRequest> request;
  v1::Verdict verdict;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::Verdict>> rpc;
  SinkCallback done;
  std::shared_ptr<CallState> self;

  void Proceed(bool) override {
    // Finish always completes with ok = true; `status` says how the call went.
    auto keep = std::move(self);
    auto callback = std::move(done);
    done = nullptr;
    callback(status, std::move(verdict));
  }
};

}  // namespace

CancelFn GrpcSinkClient::Call(const std::string& target,
                              std::shared_ptr<const v1::SinkRequest> request,
                              Clock::TimePoint deadline, SinkCallback done) {
  return Call(target, std::move(request), deadline, std::string(), std::move(done));
}

CancelFn GrpcSinkClient::Call(const std::string& target,
                              std::shared_ptr<const v1::SinkRequest> request,
                              Clock::TimePoint deadline, const std::string& traceparent,
                              SinkCallback done) {
  auto state = std::make_shared<CallState>();
  if (!traceparent.empty()) state->context.AddMetadata(trace::kMetadataKey, traceparent);
  state->request = std::move(request);
  state->done = std::move(done);
  // gRPC deadlines are system_clock time points.
  const auto left = deadline - std::chrono::steady_clock::now();
  state->context.set_deadline(std::chrono::system_clock::now() +
                              std::chrono::duration_cast<std::chrono::system_clock::duration>(left));
  auto* stub = pool_->Get(target).stub.get();
  {
    CqPool::Use use(cqs_);
    if (use) {
      state->self = state;
      state->rpc = stub->PrepareAsyncOnEvent(&state->context, *state->request, cqs_->Pick());
      state->rpc->StartCall();
      state->rpc->Finish(&state->verdict, &state->status, state.get());
      std::weak_ptr<CallState> weak = state;
      return [weak] {
        if (auto s = weak.lock()) s->context.TryCancel();
      };
    }
  }
  // Shutting down: no queue to run the call on.
  auto callback = std::move(state->done);
  callback(grpc::Status(grpc::StatusCode::UNAVAILABLE, "dispatcher shutting down"), {});
  return nullptr;
}

}  // namespace smtpbridge::dispatcher
