// One worker pool (one binding target): its endpoints, one gRPC channel each, and the choice of
// endpoint per call, with outlier ejection (outlier_detector.h) and a retry budget.
//
// Choice: power of two choices on in-flight calls (Envoy's least-request), among the endpoints
// in rotation. Two random endpoints, the one with fewer calls outstanding wins: a replica that
// hangs or slows down piles up outstanding calls and stops being chosen within a few calls,
// before outlier ejection has seen enough failures to eject it; round robin would keep sending
// it 1/n of the events until then. Endpoints whose channel is in TRANSIENT_FAILURE (connection
// refused, reconnecting) are skipped while any other is not.
//
// Endpoints come from the target (endpoints.h); a dns target is re-resolved by the ChannelPool
// every few seconds and soon after every endpoint failed in a row, which also finds new
// replicas. An endpoint the resolver no longer returns is dropped: its channel closes once its
// last call has ended.
#pragma once

#include <grpcpp/channel.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dispatch/clock.h"
#include "smtpbridge/v1/sink.grpc.pb.h"
#include "workers/endpoints.h"
#include "workers/outlier_detector.h"

namespace smtpbridge::dispatcher {

class WorkerStream;

// How calls reach a pool's workers: batched on one OnEvents stream per endpoint (falling back
// to unary per endpoint when the worker lacks OnEvents; workers/worker_stream.h), or one unary
// OnEvent per call (benches, debugging).
enum class WorkerTransport { kStream, kUnary };

struct PoolOptions {
  OutlierOptions outlier;
  WorkerTransport transport = WorkerTransport::kStream;
  // How often a dns target is resolved again (0: only when every endpoint failed).
  std::chrono::milliseconds reresolve_interval{5000};
  // Retry budget (gRPC's retry throttling): a pool holds up to `retry_tokens`; a failed call
  // takes one, a successful one gives back `retry_token_ratio`; retries stop while it holds
  // half or less (so a pool failing everything retries about 50 calls, then one per 10 successes).
  double retry_tokens = 100;
  double retry_token_ratio = 0.1;
};

// What the pool reports for metrics and logs; called outside the pool's lock, from any thread.
class PoolListener {
 public:
  virtual ~PoolListener() = default;
  virtual void OnEjected(const std::string& target, const std::string& endpoint,
                         Clock::duration ejected_for, uint32_t times, size_t out_now) = 0;
  virtual void OnReturned(const std::string& target, const std::string& endpoint,
                          size_t out_now) = 0;
  virtual void OnEndpoints(const std::string& target, size_t endpoints) = 0;
  virtual void OnRetry(const std::string& target) = 0;
};

// The channel for one endpoint (a single-address target).
using ChannelFactory = std::function<std::shared_ptr<grpc::Channel>(const std::string& endpoint)>;

class WorkerPool {
 public:
  struct Endpoint {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;  // may be null in tests
    std::unique_ptr<v1::PolicySink::Stub> stub;
    // The endpoint's OnEvents stream, made on its first call (GrpcSinkClient); retired (its
    // answers still arrive) when the endpoint is dropped.
    std::once_flag stream_once;
    std::shared_ptr<WorkerStream> stream;
    ~Endpoint();
    // Guarded by the pool's lock.
    OutlierState outlier;
    int in_flight = 0;
    bool removed = false;
  };
  // The endpoint chosen for one call (the call keeps it alive) and whether the call is its
  // probe. Empty when the pool has no endpoint.
  struct Pick {
    std::shared_ptr<Endpoint> endpoint;
    bool probe = false;
    explicit operator bool() const { return endpoint != nullptr; }
  };

  // `listener` may be null. Static targets get their endpoints at once; dns ones on Refresh().
  WorkerPool(std::string target, Clock* clock, PoolOptions options, ChannelFactory factory,
             Resolver resolver, PoolListener* listener);

  const std::string& target() const { return target_; }
  const PoolOptions& options() const { return options_; }
  bool resolvable() const { return parsed_.kind == WorkerTarget::Kind::kDns; }

  // An endpoint for a call, never `avoid` (empty when nothing else is there). When every
  // endpoint is out of rotation or unreachable the least loaded one is still used: a call must
  // go somewhere.
  Pick Choose(const Endpoint* avoid = nullptr);
  // The call on `pick` ended.
  void Done(const Pick& pick, CallResult result);
  // Whether the retry budget allows one more retry (and counts it).
  bool TryRetry();

  // Resolves a dns target again (blocking, getaddrinfo) and adopts the answer; nothing for
  // other targets. False when the name did not resolve (the endpoints it had are kept).
  bool Refresh(std::string* error = nullptr);
  // Whether the pool asked to be resolved again soon (every endpoint failed in a row, or it
  // has none).
  bool refresh_wanted() const { return refresh_wanted_.load(); }
  // Adopts `addresses`: new ones get a channel, missing ones are dropped.
  void SetEndpoints(std::vector<std::string> addresses);
  // Starts connecting every endpoint's channel.
  void Warm();

  std::vector<std::string> addresses() const;
  size_t endpoint_count() const;
  size_t connected_count() const;  // endpoints whose channel is READY
  size_t out_count() const;        // ejected or probing
  uint64_t ejections() const { return ejections_.load(); }
  uint64_t retries() const { return retries_.load(); }

 private:
  size_t OutLocked() const;

  const std::string target_;
  const WorkerTarget parsed_;
  Clock* const clock_;
  const PoolOptions options_;
  const OutlierDetector detector_;
  const ChannelFactory factory_;
  const Resolver resolver_;
  PoolListener* const listener_;

  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Endpoint>> endpoints_;
  uint32_t failures_in_a_row_ = 0;  // across the pool: every endpoint failing means re-resolve
  double retry_tokens_;
  std::atomic<bool> refresh_wanted_{false};
  std::atomic<uint64_t> ejections_{0};
  std::atomic<uint64_t> retries_{0};
};

}  // namespace smtpbridge::dispatcher
