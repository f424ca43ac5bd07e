// DispatcherClient over one persistent gRPC channel, with the callback (async) stub API.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "core/dispatcher_client.h"
#include "smtpbridge/v1/dispatcher.grpc.pb.h"

namespace smtpbridge::sink {

class GrpcDispatcherClient final : public DispatcherClient {
 public:
  // Creates the channel (insecure; mTLS is configured by the hosts' deployment, see docs).
  explicit GrpcDispatcherClient(const std::string& target);
  // For tests against an in-process server.
  explicit GrpcDispatcherClient(std::shared_ptr<grpc::Channel> channel);

  std::shared_ptr<Call> Evaluate(const v1::EvaluateRequest& request,
                                 std::chrono::system_clock::time_point deadline,
                                 EvaluateDone done) override;
  std::shared_ptr<Call> GetInterests(const v1::GetInterestsRequest& request,
                                     std::chrono::system_clock::time_point deadline,
                                     InterestsDone done) override;

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Dispatcher::Stub> stub_;
};

}  // namespace smtpbridge::sink
