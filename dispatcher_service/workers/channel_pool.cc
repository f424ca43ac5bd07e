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
    // Credentials from the factory (per-binding or dispatcher TLS); the rest is the shared
    // client configuration.
    grpc::ChannelArguments args = grpc_client::ClientChannelArgs(grpc_client::kWorkerHealthService);
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
