// SinkClient over gRPC: the async callback API on the pooled channels, one call per binding.
#pragma once

#include "dispatch/sink_client.h"
#include "workers/channel_pool.h"

namespace smtpbridge::dispatcher {

class GrpcSinkClient : public SinkClient {
 public:
  explicit GrpcSinkClient(ChannelPool* pool) : pool_(pool) {}
  CancelFn Call(const std::string& target, std::shared_ptr<const v1::SinkRequest> request,
                Clock::TimePoint deadline, SinkCallback done) override;

 private:
  ChannelPool* pool_;
};

}  // namespace smtpbridge::dispatcher
