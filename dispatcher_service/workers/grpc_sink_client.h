// SinkClient over gRPC: the completion-queue API on the pool's per-endpoint channels, one call
// per binding. A call goes on the calling thread's queue when that is a CqPool thread (the
// Evaluate that caused it), so its answer comes back on the same thread.
//
// The pool (worker_pool.h) picks the endpoint and learns each call's outcome (outlier
// ejection). A call that ends UNAVAILABLE (the endpoint refused the connection, was
// reconnecting, or died with the call on it) is tried once more on another endpoint within the
// same deadline, while the pool's retry budget allows: what gRPC's retry policy does for
// UNAVAILABLE, which it cannot do here because the pool, not gRPC, chooses the endpoint.
// Policy calls are decisions, and hedging already sends second copies, so a worker may see
// an event twice. (The endpoint channel's own retry policy, from the shared client config, may
// first retry once on the same endpoint after a few ms: that covers a call racing the worker's
// max-connection-age GOAWAY, which a single-replica pool has no other endpoint for.)
#pragma once

#include "dispatch/sink_client.h"
#include "server/cq_pool.h"
#include "workers/channel_pool.h"

namespace smtpbridge::dispatcher {

class GrpcSinkClient : public SinkClient {
 public:
  GrpcSinkClient(ChannelPool* pool, CqPool* cqs) : pool_(pool), cqs_(cqs) {}
  // Once the queues are shut down, `done` runs inline with UNAVAILABLE.
  CancelFn Call(const std::string& target, std::shared_ptr<const v1::SinkRequest> request,
                Clock::TimePoint deadline, SinkCallback done) override;
  // `traceparent` (non-empty) goes out as every attempt's "traceparent" metadata.
  CancelFn Call(const std::string& target, std::shared_ptr<const v1::SinkRequest> request,
                Clock::TimePoint deadline, const std::string& traceparent, SinkCallback done) override;

 private:
  ChannelPool* pool_;
  CqPool* cqs_;
};

// How a finished call counts for its endpoint's health: a success, a failure (an error status,
// or cancelled/expired at its deadline: a timeout), or nothing (cancelled before its deadline,
// because the decision was made elsewhere).
CallResult ClassifyCall(const grpc::Status& status, Clock::TimePoint now, Clock::TimePoint deadline);

}  // namespace smtpbridge::dispatcher
