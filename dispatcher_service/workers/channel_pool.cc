#include "workers/channel_pool.h"

#include <grpcpp/create_channel.h>
#include <spdlog/spdlog.h>

#include "smtpbridge/grpc/client_channel.h"

namespace smtpbridge::dispatcher {
namespace {

// How often the resolver thread looks for pools that asked to be resolved again.
constexpr std::chrono::milliseconds kWantedCheck{200};
// How long after start a pool may take to connect before its bindings are reported unreachable
// (a worker starting beside the dispatcher, a reconnect backoff of up to 1 s).
constexpr std::chrono::milliseconds kReachabilityGrace{3000};

}  // namespace

ChannelPool::ChannelPool(Clock* clock, PoolOptions options, PoolListener* listener,
                         ChannelFactory factory, Resolver resolver)
    : clock_(clock),
      options_(options),
      listener_(listener),
      factory_(std::move(factory)),
      resolver_(std::move(resolver)) {}

ChannelPool::~ChannelPool() { Stop(); }

std::shared_ptr<WorkerPool> ChannelPool::Get(const std::string& target) {
  std::lock_guard lock(mu_);
  auto& pool = pools_[target];
  if (!pool) {
    ChannelFactory factory = factory_;
    if (!factory) {
      factory = [this, target](const std::string& endpoint) {
        return EndpointChannel(target, endpoint);
      };
    }
    pool = std::make_shared<WorkerPool>(target, clock_, options_, std::move(factory), resolver_,
                                        listener_);
    cv_.notify_all();  // a dns pool wants its first resolution
  }
  return pool;
}

std::shared_ptr<grpc::Channel> ChannelPool::EndpointChannel(const std::string& target,
                                                            const std::string& endpoint) const {
  grpc::ChannelArguments args = grpc_client::ClientChannelArgs(grpc_client::kWorkerHealthService);
  const WorkerTarget parsed = ParseWorkerTarget(target);
  if (parsed.kind == WorkerTarget::Kind::kDns) {
    const bool v6 = parsed.host.find(':') != std::string::npos;
    args.SetString(GRPC_ARG_DEFAULT_AUTHORITY,
                   (v6 ? "[" + parsed.host + "]" : parsed.host) + ":" + parsed.port);
  }
  auto credentials =
      credentials_ ? credentials_(target, &args) : grpc::InsecureChannelCredentials();
  return grpc::CreateCustomChannel(endpoint, credentials, args);
}

void ChannelPool::Warm(const std::string& target) {
  auto pool = Get(target);
  std::string error;
  if (!pool->Refresh(&error)) spdlog::warn("worker target {}: {}", target, error);
  pool->Warm();
}

void ChannelPool::Retain(const std::set<std::string>& targets) {
  std::vector<std::shared_ptr<WorkerPool>> dropped;  // destroyed outside the lock
  {
    std::lock_guard lock(mu_);
    for (auto it = pools_.begin(); it != pools_.end();) {
      if (targets.count(it->first)) {
        ++it;
      } else {
        dropped.push_back(std::move(it->second));
        it = pools_.erase(it);
      }
    }
  }
  for (const auto& pool : dropped) {
    spdlog::info("worker target {}: no binding names it any more; closing its channels",
                 pool->target());
  }
}

size_t ChannelPool::size() const {
  std::lock_guard lock(mu_);
  return pools_.size();
}

std::vector<std::shared_ptr<WorkerPool>> ChannelPool::pools() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<WorkerPool>> out;
  for (const auto& [target, pool] : pools_) out.push_back(pool);
  return out;
}

void ChannelPool::RefreshAll() {
  for (const auto& pool : pools()) {
    if (!pool->resolvable()) continue;
    std::string error;
    if (!pool->Refresh(&error)) spdlog::warn("worker target {}: {}", pool->target(), error);
  }
}

void ChannelPool::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  started_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { Run(); });
}

void ChannelPool::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void ChannelPool::Run() {
  auto next_round = std::chrono::steady_clock::now() + options_.reresolve_interval;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, kWantedCheck);
    if (stopping_) break;
    const bool round =
        options_.reresolve_interval.count() > 0 && std::chrono::steady_clock::now() >= next_round;
    std::vector<std::shared_ptr<WorkerPool>> due;
    for (const auto& [target, pool] : pools_) {
      if (pool->resolvable() && (round || pool->refresh_wanted() || pool->endpoint_count() == 0)) {
        due.push_back(pool);
      }
    }
    if (round) next_round = std::chrono::steady_clock::now() + options_.reresolve_interval;
    const bool report = !reachability_reported_ &&
                        std::chrono::steady_clock::now() >= started_ + kReachabilityGrace;
    if (report) reachability_reported_ = true;
    lock.unlock();
    for (const auto& pool : due) {
      std::string error;
      if (!pool->Refresh(&error)) spdlog::debug("worker target {}: {}", pool->target(), error);
    }
    if (report) ReportUnreachable();
    lock.lock();
  }
}

void ChannelPool::NameUsers(const std::string& target, std::string bindings) {
  std::lock_guard lock(mu_);
  users_[target] = std::move(bindings);
}

void ChannelPool::ReportUnreachable() {
  std::map<std::string, std::shared_ptr<WorkerPool>> pools;
  std::map<std::string, std::string> users;
  {
    std::lock_guard lock(mu_);
    pools = pools_;
    users = users_;
  }
  for (const auto& [target, pool] : pools) {
    if (pool->connected_count() > 0) continue;
    spdlog::warn(
        "binding(s) {}: no worker of sink {} is reachable {} ms after start ({} address(es)); "
        "their events get their on_error until one is",
        users.count(target) ? users[target] : "?", target, kReachabilityGrace.count(),
        pool->endpoint_count());
  }
}

}  // namespace smtpbridge::dispatcher
