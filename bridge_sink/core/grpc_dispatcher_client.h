// DispatcherClient over one persistent gRPC channel, on the completion-queue API with one thread
// of its own. (gRPC 1.51's callback API starts two "nexting" threads that share the process's
// poller; measured in the dispatcher, one queue and one thread cost about 2 context switches per
// call instead of about 7.)
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/completion_queue.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/dispatcher_client.h"
#include "core/evaluate_stream.h"
#include "smtpbridge/sink/sink_factory.h"  // TlsOptions, Transport
#include "smtpbridge/v1/dispatcher.grpc.pb.h"

namespace prometheus {
class Registry;
}

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

  void NotifyWhenReady(std::function<void()> ready) override;

  grpc_connectivity_state channel_state() const { return channel_->GetState(false); }

  // What the queue hands back: one per unary call, and the evaluation stream's tags.
  using Completion = EvaluateStream::Tag;

  // How evaluations go (see Transport; default kAuto: over Dispatcher.EvaluateStream, see
  // evaluate_stream.h, once a GetInterests answer said the dispatcher serves the batched form,
  // evaluate_batches). Before any call.
  void set_transport(Transport transport);
  bool streaming() const {
    return use_stream_ && stream_offered_.load(std::memory_order_acquire) &&
           !stream_->unsupported();
  }

  // Before any call: registers smtpbridge_sink_stream_batch_events (events per EvaluateStream
  // message, by direction) in `registry`.
  void ExportMetrics(prometheus::Registry& registry);
  // The evaluation stream's counts (tests, debugging); see EvaluateStream::Stats.
  EvaluateStream::Stats stream_stats() const { return stream_->stats(); }
  // Before any call: how long one evaluation stream takes new evaluations (tests; default 1 s).
  void set_stream_lifetime(std::chrono::steady_clock::duration lifetime) {
    stream_->set_lifetime(lifetime);
  }

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
  grpc::CompletionQueue queue_;
  std::unique_ptr<EvaluateStream> stream_;
  bool use_stream_ = true;
  std::atomic<bool> stream_offered_{false};
  // The connectivity watch behind NotifyWhenReady (at most one on the queue at a time).
  class ReadyWatch;
  std::unique_ptr<ReadyWatch> ready_watch_;
  std::thread thread_;  // last: started once the rest exists

  void DriveQueue();
  std::shared_ptr<Call> UnaryEvaluate(const v1::EvaluateRequest& request,
                                      std::chrono::system_clock::time_point deadline,
                                      EvaluateDone done);
};

}  // namespace smtpbridge::sink
