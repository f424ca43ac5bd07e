// SinkClient over gRPC: the completion-queue API on the pooled channels, one call per binding.
// A call goes on the calling thread's queue when that is a CqPool thread (the Evaluate that
// caused it), so its answer comes back on the same thread.
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
  // `traceparent` (non-empty) goes out as the call's "traceparent" metadata.
  CancelFn Call(const std::string& target, std::shared_ptr<const v1::SinkRequest> request,
                Clock::TimePoint deadline, const std::string& traceparent, SinkCallback done) override;

 private:
  ChannelPool* pool_;
  CqPool* cqs_;
};

}  // namespace smtpbridge::dispatcher
