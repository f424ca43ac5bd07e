#include "core/grpc_dispatcher_client.h"

#include <utility>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

namespace smtpbridge::sink {
namespace {

// One unary call: owns its context, request and response until the callback has run.
template <typename Request, typename Response>
class UnaryCall final : public DispatcherClient::Call {
 public:
  using Done = std::function<void(const grpc::Status&, Response)>;
  UnaryCall(const Request& request, std::chrono::system_clock::time_point deadline, Done done)
      : request_(request), done_(std::move(done)) {
    context_.set_deadline(deadline);
  }
  void Cancel() override { context_.TryCancel(); }

  grpc::ClientContext* context() { return &context_; }
  const Request* request() const { return &request_; }
  Response* response() { return &response_; }
  void Finish(const grpc::Status& status) { done_(status, std::move(response_)); }

 private:
  grpc::ClientContext context_;
  Request request_;
  Response response_;
  Done done_;
};

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target) {
  grpc::ChannelArguments args;
  // Keep the persistent channel warm and notice a dead dispatcher quickly.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Reconnect attempts stay frequent, so a restarted dispatcher is found within a second.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

}  // namespace

GrpcDispatcherClient::GrpcDispatcherClient(const std::string& target)
    : GrpcDispatcherClient(MakeChannel(target)) {}

GrpcDispatcherClient::GrpcDispatcherClient(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)), stub_(v1::Dispatcher::NewStub(channel_)) {}

std::shared_ptr<DispatcherClient::Call> GrpcDispatcherClient::Evaluate(
    const v1::EvaluateRequest& request, std::chrono::system_clock::time_point deadline,
    EvaluateDone done) {
  using C = UnaryCall<v1::EvaluateRequest, v1::EvaluateResponse>;
  auto call = std::make_shared<C>(request, deadline, std::move(done));
  // The callback keeps the call alive until gRPC is finished with its context and buffers.
  stub_->async()->Evaluate(call->context(), call->request(), call->response(),
                           [call](grpc::Status status) { call->Finish(status); });
  return call;
}

std::shared_ptr<DispatcherClient::Call> GrpcDispatcherClient::GetInterests(
    const v1::GetInterestsRequest& request, std::chrono::system_clock::time_point deadline,
    InterestsDone done) {
  using C = UnaryCall<v1::GetInterestsRequest, v1::GetInterestsResponse>;
  auto call = std::make_shared<C>(request, deadline, std::move(done));
  stub_->async()->GetInterests(call->context(), call->request(), call->response(),
                               [call](grpc::Status status) { call->Finish(status); });
  return call;
}

}  // namespace smtpbridge::sink
