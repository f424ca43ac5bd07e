// The credentials of the dispatcher's worker channels: a binding's own `tls:` block, else the
// dispatcher's --worker-tls-* settings, else plaintext. The ChannelPool asks once per channel
// it creates (ChannelPool::CredentialsFactory); the certificate files are re-read by gRPC's file
// watcher, so a rotated worker-client certificate needs no restart.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "bindings/binding_set.h"
#include "smtpbridge/tls/tls_options.h"

namespace smtpbridge::dispatcher {

class WorkerCredentials {
 public:
  explicit WorkerCredentials(tls::TlsOptions dispatcher_default);

  // After each load: the TLS each sink target's bindings ask for. A target whose settings
  // changed keeps its channel (and its old settings) until a restart; that is logged.
  void Update(const BindingSet& set);

  // The TLS settings for `target` now.
  tls::TlsOptions For(const std::string& target) const;

  // For a new channel to `target`: its credentials, with the server-name override added to
  // `args`. Never null and never plaintext when TLS is asked for: when the files cannot be used
  // the channel's handshakes fail (counted by the binding's errors) until they are fixed.
  std::shared_ptr<grpc::ChannelCredentials> Configure(const std::string& target,
                                                      grpc::ChannelArguments* args);

 private:
  const tls::TlsOptions default_;
  mutable std::mutex mu_;
  std::map<std::string, tls::TlsOptions> by_target_;  // targets with a binding `tls:` block
  std::map<std::string, tls::TlsOptions> created_;    // what each channel was built with
};

}  // namespace smtpbridge::dispatcher
