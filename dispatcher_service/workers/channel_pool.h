// The worker pools, one per distinct binding target, shared by every binding that names it
// (worker_pool.h: one channel per endpoint, the pool picks the endpoint per call and ejects
// sick ones). A background thread re-resolves dns targets every reresolve_interval, and soon
// after a pool asks (every endpoint failed in a row, or none resolved). Pools of targets that
// no binding names any more are dropped on reload (Retain): their channels close once their
// last call has ended.
#pragma once

#include <condition_variable>
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
  // `listener` may be null; it must outlive the pool.
  explicit ChannelPool(Clock* clock, PoolOptions options = {}, PoolListener* listener = nullptr,
                       ChannelFactory factory = MakeWorkerChannel,
                       Resolver resolver = ResolveHostPort);
  ~ChannelPool();
  ChannelPool(const ChannelPool&) = delete;
  ChannelPool& operator=(const ChannelPool&) = delete;

  // The pool for `target`, created on first use (a dns target created here has no endpoint
  // until the resolver thread resolves it; Warm resolves at once).
  std::shared_ptr<WorkerPool> Get(const std::string& target);
  // Creates the pool if needed, resolves a dns target now (blocking) and starts connecting:
  // after a load or reload, ahead of the first event.
  void Warm(const std::string& target);
  // Drops the pools of targets not in `targets` (a reload removed every binding naming them).
  void Retain(const std::set<std::string>& targets);
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

  Clock* const clock_;
  const PoolOptions options_;
  PoolListener* listener_;
  const ChannelFactory factory_;
  const Resolver resolver_;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<WorkerPool>> pools_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace smtpbridge::dispatcher
