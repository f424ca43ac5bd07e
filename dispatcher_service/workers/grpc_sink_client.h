// SinkClient over gRPC: the completion-queue API on the pool's per-endpoint channels, one call
// per binding. By default a call rides the endpoint's OnEvents stream (worker_stream.h: batched,
// answers matched by id); an endpoint whose worker lacks OnEvents, or every endpoint with
// PoolOptions::transport = kUnary, gets one unary OnEvent per call instead. A unary call goes on
// the calling thread's queue when that is a CqPool thread (the Evaluate that caused it), so its
// answer comes back on the same thread.
//
// The pool (worker_pool.h) picks the endpoint and learns each call's outcome (outlier
// ejection). A call that ends UNAVAILABLE (the endpoint refused the connection, was
// reconnecting, or died with the call on it, or its stream broke) is tried once more on another
// endpoint within the same deadline, while the pool's retry budget allows: what gRPC's retry
// policy does for UNAVAILABLE, which it cannot do here because the pool, not gRPC, chooses the
// endpoint. Policy calls are decisions, and hedging already sends second copies, so a worker may
// see an event twice. (The endpoint channel's own retry policy, from the shared client config,
// may first retry a unary call once on the same endpoint after a few ms: that covers a call
// racing the worker's max-connection-age GOAWAY, which a single-replica pool has no other
// endpoint for.)
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "dispatch/sink_client.h"
#include "smtpbridge/cq/cq_pool.h"
#include "workers/channel_pool.h"
#include "workers/worker_stream.h"

namespace smtpbridge::dispatcher {

class GrpcSinkClient : public SinkClient {
 public:
  GrpcSinkClient(ChannelPool* pool, cq::CqPool* cqs) : pool_(pool), cqs_(cqs) {}
  // Once the queues are shut down, `done` runs inline with UNAVAILABLE.
  CancelFn Call(const std::string& target, std::shared_ptr<const v1::SinkRequest> request,
                Clock::TimePoint deadline, SinkCallback done) override;
  // `traceparent` (non-empty) goes out with every attempt: the request's traceparent on a
  // stream, the "traceparent" metadata of a unary call.
  CancelFn Call(const std::string& target, std::shared_ptr<const v1::SinkRequest> request,
                Clock::TimePoint deadline, const std::string& traceparent,
                SinkCallback done) override;

  // Metrics for the streams (may be null); before the first call.
  void set_stream_listener(StreamListener* listener) { listener_ = listener; }

  // Ends every worker stream (what they owe fails UNAVAILABLE) and waits for their last tags.
  // Before the queues shut down, from a thread that is not a queue's; calls made afterwards go
  // as unary.
  void CloseStreams();

  // The endpoint's stream (made on first use); null when the pool is unary-only or has no channel.
  std::shared_ptr<WorkerStream> StreamFor(WorkerPool& pool, WorkerPool::Endpoint& endpoint);

 private:
  ChannelPool* pool_;
  cq::CqPool* cqs_;
  StreamListener* listener_ = nullptr;
  std::mutex streams_mu_;
  std::vector<std::weak_ptr<WorkerStream>> streams_;  // every stream made, for CloseStreams
};

// How a finished call counts for its endpoint's health: a success, a failure (an error status,
// or cancelled/expired at its deadline: a timeout), or nothing (cancelled before its deadline,
// because the decision was made elsewhere).
CallResult ClassifyCall(const grpc::Status& status, Clock::TimePoint now,
                        Clock::TimePoint deadline);

}  // namespace smtpbridge::dispatcher
