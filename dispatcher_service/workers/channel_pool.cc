#include "workers/channel_pool.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

namespace smtpbridge::dispatcher {

const ChannelPool::Entry& ChannelPool::Get(const std::string& target) {
  std::lock_guard lock(mu_);
  auto& entry = entries_[target];
  if (!entry) {
    grpc::ChannelArguments args;
    args.SetServiceConfigJSON(kWorkerServiceConfig);
    entry = std::make_unique<Entry>();
    auto credentials = credentials_ ? credentials_(target, &args) : grpc::InsecureChannelCredentials();
    entry->channel = grpc::CreateCustomChannel(target, credentials, args);
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
