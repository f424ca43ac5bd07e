// DispatcherClient over one persistent gRPC channel, with the callback (async) stub API.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/channel.h>

#include "core/dispatcher_client.h"
#include "smtpbridge/sink/sink_factory.h"
#include "smtpbridge/v1/dispatcher.grpc.pb.h"

namespace smtpbridge::sink {

class GrpcDispatcherClient final : public DispatcherClient {
 public:
  // Creates the channel: plaintext, or TLS / mutual TLS per `tls`. Throws std::runtime_error
  // when a certificate or key file cannot be read.
  GrpcDispatcherClient(const std::string& target, const TlsOptions& tls);
  // For tests against an in-process server. Both start connecting at once (in the background).
  explicit GrpcDispatcherClient(std::shared_ptr<grpc::Channel> channel);
  // Waits until every call object is gone (see CallTracker).
  ~GrpcDispatcherClient() override;

  std::shared_ptr<Call> Evaluate(const v1::EvaluateRequest& request,
                                 std::chrono::system_clock::time_point deadline,
                                 EvaluateDone done) override;
  std::shared_ptr<Call> GetInterests(const v1::GetInterestsRequest& request,
                                     std::chrono::system_clock::time_point deadline,
                                     InterestsDone done) override;

  grpc_connectivity_state channel_state() const { return channel_->GetState(false); }

 private:
  // Counts live call objects. Each call's ClientContext holds a reference to the channel; if
  // the last one were dropped on a gRPC callback thread, the channel (and its callback
  // completion queue) would be destroyed from inside that queue's own callback, which gRPC 1.51
  // answers with a double free. So the client outlives its calls and drops the channel itself.
  struct CallTracker {
    std::mutex mu;
    std::condition_variable idle;
    int live = 0;
  };

  std::shared_ptr<CallTracker> tracker_ = std::make_shared<CallTracker>();
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Dispatcher::Stub> stub_;
};

}  // namespace smtpbridge::sink
