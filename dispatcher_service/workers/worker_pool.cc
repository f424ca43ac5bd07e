#include "workers/worker_pool.h"

#include <grpc/grpc.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <random>
#include <set>

#include "smtpbridge/grpc/client_channel.h"
#include "workers/worker_stream.h"

namespace smtpbridge::dispatcher {
namespace {

uint32_t RandomBelow(uint32_t n) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  return static_cast<uint32_t>(rng() % n);
}

bool Unreachable(const WorkerPool::Endpoint& e) {
  return e.channel && e.channel->GetState(false) == GRPC_CHANNEL_TRANSIENT_FAILURE;
}

}  // namespace

WorkerPool::Endpoint::~Endpoint() {
  if (stream) stream->Retire();
}

WorkerPool::WorkerPool(std::string target, Clock* clock, PoolOptions options,
                       ChannelFactory factory, Resolver resolver, PoolListener* listener)
    : target_(std::move(target)),
      parsed_(ParseWorkerTarget(target_)),
      clock_(clock),
      options_(options),
      detector_(options.outlier),
      factory_(std::move(factory)),
      resolver_(std::move(resolver)),
      listener_(listener),
      retry_tokens_(options.retry_tokens) {
  if (parsed_.kind != WorkerTarget::Kind::kDns) SetEndpoints(parsed_.endpoints);
}

size_t WorkerPool::OutLocked() const {
  return std::count_if(endpoints_.begin(), endpoints_.end(),
                       [](const auto& e) { return e->outlier.out(); });
}

WorkerPool::Pick WorkerPool::Choose(const Endpoint* avoid) {
  thread_local std::vector<Endpoint*> candidates;
  candidates.clear();
  const auto now = clock_->Now();
  std::lock_guard lock(mu_);
  Endpoint* fallback = nullptr;  // least loaded of all but `avoid`
  for (const auto& e : endpoints_) {
    if (e.get() == avoid) continue;
    if (!fallback || e->in_flight < fallback->in_flight) fallback = e.get();
    if (detector_.Eligible(e->outlier, now)) candidates.push_back(e.get());
  }
  if (!fallback) {
    if (endpoints_.empty()) refresh_wanted_ = true;
    return {};
  }
  // Two random candidates, the one with fewer calls in flight; one we cannot reach (its channel
  // in TRANSIENT_FAILURE) loses to one we can. Channel states are read for the two only, unless
  // both are unreachable (then for the rest, to find any reachable one).
  Endpoint* chosen = nullptr;
  const size_t n = candidates.size();
  if (n == 0) {
    chosen = fallback;
  } else if (n == 1) {
    chosen = candidates[0];
  } else {
    const uint32_t a = RandomBelow(n);
    uint32_t b = RandomBelow(n - 1);
    if (b >= a) ++b;
    Endpoint* ea = candidates[a];
    Endpoint* eb = candidates[b];
    const bool ra = !Unreachable(*ea);
    const bool rb = !Unreachable(*eb);
    if (ra != rb) {
      chosen = ra ? ea : eb;
    } else {
      chosen = eb->in_flight < ea->in_flight ? eb : ea;
      if (!ra) {
        for (Endpoint* e : candidates) {
          if (e != ea && e != eb && !Unreachable(*e)) {
            chosen = e;
            break;
          }
        }
      }
    }
  }
  ++chosen->in_flight;
  Pick pick;
  pick.probe = detector_.OnPicked(chosen->outlier);
  for (const auto& e : endpoints_) {
    if (e.get() == chosen) {
      pick.endpoint = e;
      break;
    }
  }
  return pick;
}

void WorkerPool::Done(const Pick& pick, CallResult result) {
  if (!pick) return;
  OutlierDetector::Change change = OutlierDetector::Change::kNone;
  Clock::duration ejected_for{};
  uint32_t times = 0;
  size_t out_now = 0;
  {
    std::lock_guard lock(mu_);
    Endpoint& e = *pick.endpoint;
    --e.in_flight;
    if (result == CallResult::kSuccess) {
      failures_in_a_row_ = 0;
      retry_tokens_ = std::min(options_.retry_tokens, retry_tokens_ + options_.retry_token_ratio);
    } else if (result == CallResult::kFailure) {
      retry_tokens_ = std::max(0.0, retry_tokens_ - 1);
      if (++failures_in_a_row_ >= std::max<size_t>(endpoints_.size(), 1) * 2)
        refresh_wanted_ = true;
    }
    if (e.removed) return;
    change = detector_.OnResult(e.outlier, result, pick.probe, clock_->Now(), OutLocked(),
                                endpoints_.size());
    if (change == OutlierDetector::Change::kEjected) {
      ejected_for = e.outlier.ejected_until - clock_->Now();
      times = e.outlier.times_ejected;
      ejections_.fetch_add(1);
    }
    out_now = OutLocked();
  }
  if (!listener_) return;
  if (change == OutlierDetector::Change::kEjected) {
    listener_->OnEjected(target_, pick.endpoint->address, ejected_for, times, out_now);
  } else if (change == OutlierDetector::Change::kReturned) {
    listener_->OnReturned(target_, pick.endpoint->address, out_now);
  }
}

bool WorkerPool::TryRetry() {
  {
    std::lock_guard lock(mu_);
    if (retry_tokens_ <= options_.retry_tokens / 2) return false;
  }
  retries_.fetch_add(1);
  if (listener_) listener_->OnRetry(target_);
  return true;
}

bool WorkerPool::Refresh(std::string* error) {
  if (parsed_.kind != WorkerTarget::Kind::kDns) return true;
  std::string why;
  auto addresses = resolver_(parsed_.host, parsed_.port, &why);
  if (addresses.empty()) {
    if (error) *error = why.empty() ? parsed_.host + ": no addresses" : why;
    return false;
  }
  refresh_wanted_ = false;
  SetEndpoints(std::move(addresses));
  return true;
}

void WorkerPool::SetEndpoints(std::vector<std::string> addresses) {
  const std::set<std::string> wanted(addresses.begin(), addresses.end());
  std::vector<std::shared_ptr<Endpoint>> dropped;  // their channels close outside the lock
  size_t count = 0;
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    std::set<std::string> have;
    std::vector<std::shared_ptr<Endpoint>> kept;
    for (auto& e : endpoints_) {
      if (wanted.count(e->address)) {
        have.insert(e->address);
        kept.push_back(std::move(e));
      } else {
        e->removed = true;
        dropped.push_back(std::move(e));
      }
    }
    for (const auto& address : wanted) {
      if (have.count(address)) continue;
      auto e = std::make_shared<Endpoint>();
      e->address = address;
      e->channel = factory_ ? factory_(address) : nullptr;
      if (e->channel) e->stub = v1::PolicySink::NewStub(e->channel);
      kept.push_back(std::move(e));
    }
    changed = !dropped.empty() || kept.size() != endpoints_.size() || have.size() != kept.size();
    endpoints_ = std::move(kept);
    count = endpoints_.size();
    failures_in_a_row_ = 0;
  }
  if (changed && listener_) listener_->OnEndpoints(target_, count);
}

void WorkerPool::Warm() {
  std::vector<std::shared_ptr<Endpoint>> endpoints;
  {
    std::lock_guard lock(mu_);
    endpoints = endpoints_;
  }
  for (const auto& e : endpoints) {
    if (e->channel) e->channel->GetState(true);
  }
}

std::vector<std::string> WorkerPool::addresses() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& e : endpoints_) out.push_back(e->address);
  return out;
}

size_t WorkerPool::endpoint_count() const {
  std::lock_guard lock(mu_);
  return endpoints_.size();
}

size_t WorkerPool::connected_count() const {
  std::lock_guard lock(mu_);
  return static_cast<size_t>(std::count_if(endpoints_.begin(), endpoints_.end(), [](const auto& e) {
    return e->channel && e->channel->GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_READY;
  }));
}

size_t WorkerPool::out_count() const {
  std::lock_guard lock(mu_);
  return OutLocked();
}

}  // namespace smtpbridge::dispatcher
