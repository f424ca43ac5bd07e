// The worker pools, one per distinct binding target, shared by every binding that names it
// (worker_pool.h: one channel per endpoint, the pool picks the endpoint per call and ejects
// sick ones). A background thread re-resolves dns targets every reresolve_interval, and soon
// after a pool asks (every endpoint failed in a row, or none resolved). Pools of targets that
// no binding names any more are dropped on reload (Retain): their channels close once their
// last call has ended.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "workers/worker_pool.h"

namespace smtpbridge::dispatcher {

class ChannelPool {
 public:
  // `listener` may be null; it must outlive the pool. `factory` (tests) replaces the real
  // endpoint channels (the shared client configuration with SetCredentialsFactory's credentials).
  explicit ChannelPool(Clock* clock, PoolOptions options = {}, PoolListener* listener = nullptr,
                       ChannelFactory factory = nullptr, Resolver resolver = ResolveHostPort);
  ~ChannelPool();
  ChannelPool(const ChannelPool&) = delete;
  ChannelPool& operator=(const ChannelPool&) = delete;

  // Credentials (and TLS channel arguments) for a new channel of the binding target `target`;
  // unset: plaintext. Each endpoint's channel of a dns target also gets the target's host:port
  // as its default authority, so TLS checks the name, not the replica's address.
  using CredentialsFactory = std::function<std::shared_ptr<grpc::ChannelCredentials>(
      const std::string& target, grpc::ChannelArguments* args)>;
  // Before the first Get().
  void SetCredentialsFactory(CredentialsFactory factory) { credentials_ = std::move(factory); }

  // The pool for `target`, created on first use (a dns target created here has no endpoint
  // until the resolver thread resolves it; Warm resolves at once).
  std::shared_ptr<WorkerPool> Get(const std::string& target);
  // Creates the pool if needed, resolves a dns target now (blocking) and starts connecting:
  // after a load or reload, ahead of the first event.
  void Warm(const std::string& target);
  // Drops the pools of targets not in `targets` (a reload removed every binding naming them).
  void Retain(const std::set<std::string>& targets);
  // Which bindings use `target`, for the start-up reachability line (see Run).
  void NameUsers(const std::string& target, std::string bindings);
  size_t size() const;

  // The re-resolution thread; Stop is idempotent and the destructor calls it.
  void Start();
  void Stop();
  // Resolves every dns pool now (what the thread does each round).
  void RefreshAll();
  // Every pool (for metrics and tests).
  std::vector<std::shared_ptr<WorkerPool>> pools() const;

  const PoolOptions& options() const { return options_; }
  void set_listener(PoolListener* listener) { listener_ = listener; }

 private:
  void Run();
  // Once, kReachabilityGrace after Start(): a warning per pool none of whose replicas is
  // connected, naming its bindings (their events get on_error until a worker is up).
  void ReportUnreachable();
  // One endpoint's channel for the pool of `target`.
  std::shared_ptr<grpc::Channel> EndpointChannel(const std::string& target,
                                                 const std::string& endpoint) const;

  Clock* const clock_;
  const PoolOptions options_;
  PoolListener* listener_;
  const ChannelFactory factory_;
  const Resolver resolver_;
  CredentialsFactory credentials_;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<WorkerPool>> pools_;
  std::map<std::string, std::string> users_;  // target -> "binding, binding"
  std::chrono::steady_clock::time_point started_{};
  bool reachability_reported_ = false;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace smtpbridge::dispatcher
