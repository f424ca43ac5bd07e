#include "workers/worker_credentials.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <spdlog/spdlog.h>

namespace smtpbridge::dispatcher {

WorkerCredentials::WorkerCredentials(tls::TlsOptions dispatcher_default)
    : default_(std::move(dispatcher_default)) {}

void WorkerCredentials::Update(const BindingSet& set) {
  std::map<std::string, tls::TlsOptions> next;
  for (const auto& b : set.bindings()) {
    if (b.tls) next.emplace(b.proto.sink(), *b.tls);
  }
  std::lock_guard lock(mu_);
  by_target_ = std::move(next);
  for (const auto& [target, used] : created_) {
    const auto it = by_target_.find(target);
    const tls::TlsOptions& now = it == by_target_.end() ? default_ : it->second;
    if (!(now == used)) {
      spdlog::warn(
          "worker {}: new TLS settings apply after a restart (its channel is open); "
          "certificate files themselves are re-read without one",
          target);
    }
  }
}

tls::TlsOptions WorkerCredentials::For(const std::string& target) const {
  std::lock_guard lock(mu_);
  const auto it = by_target_.find(target);
  return it == by_target_.end() ? default_ : it->second;
}

std::shared_ptr<grpc::ChannelCredentials> WorkerCredentials::Configure(
    const std::string& target, grpc::ChannelArguments* args) {
  const tls::TlsOptions o = For(target);
  {
    std::lock_guard lock(mu_);
    created_[target] = o;
  }
  tls::ApplyChannelArgs(o, args);
  std::string error;
  if (auto credentials = tls::MakeChannelCredentials(o, &error)) return credentials;
  // Checked at load, gone since: keep TLS (never fall back to plaintext); handshakes fail until
  // the files are back, which the watcher notices.
  spdlog::error("worker {}: {}; its calls fail until the files are fixed", target, error);
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          o.key_file, o.cert_file, o.ca_file,
          static_cast<unsigned int>(
              std::max(o.refresh_interval, tls::kMinRefreshInterval).count())));
  if (!o.ca_file.empty()) options.watch_root_certs();
  if (!o.cert_file.empty()) options.watch_identity_key_cert_pairs();
  return grpc::experimental::TlsCredentials(options);
}

}  // namespace smtpbridge::dispatcher
