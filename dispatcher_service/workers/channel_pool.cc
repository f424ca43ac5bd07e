#include "workers/channel_pool.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "smtpbridge/grpc/client_channel.h"

namespace smtpbridge::dispatcher {

const ChannelPool::Entry& ChannelPool::Get(const std::string& target) {
  std::lock_guard lock(mu_);
  auto& entry = entries_[target];
  if (!entry) {
    entry = std::make_unique<Entry>();
    entry->channel = grpc_client::CreateClientChannel(target, grpc::InsecureChannelCredentials(),
                                                      grpc_client::kWorkerHealthService);
    entry->stub = v1::PolicySink::NewStub(entry->channel);
  }
  return *entry;
}

void ChannelPool::Warm(const std::string& target) { Get(target).channel->GetState(true); }

size_t ChannelPool::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace smtpbridge::dispatcher
