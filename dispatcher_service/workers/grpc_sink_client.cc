#include "workers/grpc_sink_client.h"

#include <grpcpp/client_context.h>

namespace smtpbridge::dispatcher {
namespace {

struct CallState {
  grpc::ClientContext context;
  std::shared_ptr<const v1::SinkRequest> request;
  v1::Verdict verdict;
  SinkCallback done;
};

}  // namespace

CancelFn GrpcSinkClient::Call(const std::string& target,
                              std::shared_ptr<const v1::SinkRequest> request,
                              Clock::TimePoint deadline, SinkCallback done) {
  auto state = std::make_shared<CallState>();
  state->request = std::move(request);
  state->done = std::move(done);
  // gRPC deadlines are system_clock time points.
  const auto left = deadline - std::chrono::steady_clock::now();
  state->context.set_deadline(std::chrono::system_clock::now() +
                              std::chrono::duration_cast<std::chrono::system_clock::duration>(left));
  pool_->Get(target).stub->async()->OnEvent(
      &state->context, state->request.get(), &state->verdict, [state](grpc::Status status) {
        auto callback = std::move(state->done);
        state->done = nullptr;
        callback(status, std::move(state->verdict));
      });
  std::weak_ptr<CallState> weak = state;
  return [weak] {
    if (auto s = weak.lock()) s->context.TryCancel();
  };
}

}  // namespace smtpbridge::dispatcher
