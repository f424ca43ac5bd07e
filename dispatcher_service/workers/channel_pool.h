// One gRPC channel per distinct worker target, shared by every binding that names it, with the
// shared client configuration (smtpbridge/grpc/client_channel.h): round_robin, so a "dns:///"
// target spreads calls over every address it resolves to (every worker pod behind a headless
// Service), and health checking, so a draining worker gets no new calls.
#pragma once

#include <grpcpp/channel.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "smtpbridge/v1/sink.grpc.pb.h"

namespace smtpbridge::dispatcher {

class ChannelPool {
 public:
  struct Entry {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::PolicySink::Stub> stub;
  };

  // The channel and stub for `target`, created on first use.
  const Entry& Get(const std::string& target);
  // Starts connecting to `target` ahead of the first event (after a load or reload).
  void Warm(const std::string& target);
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_;
};

}  // namespace smtpbridge::dispatcher
