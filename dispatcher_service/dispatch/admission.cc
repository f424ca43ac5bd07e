#include "dispatch/admission.h"

#include "dispatch/adaptive_limiter.h"

namespace smtpbridge::dispatcher {

bool Admission::AdmitEvent() {
  const size_t before = in_flight_.fetch_add(1, std::memory_order_relaxed);
  if (options_.max_in_flight > 0 && before >= options_.max_in_flight) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

std::shared_ptr<ConcurrencyLimiter> Admission::MakeLimiter() {
  if (options_.adaptive) {
    GradientOptions g = options_.gradient;
    if (options_.pool_limit > 0) g.max_limit = std::min(g.max_limit, options_.pool_limit);
    g.max_limit = std::max<size_t>(g.max_limit, 1);
    g.min_limit = std::clamp<size_t>(g.min_limit, 1, g.max_limit);
    return std::make_shared<GradientLimiter>(g);
  }
  return std::make_shared<ConcurrencyLimiter>(options_.pool_limit);
}

std::shared_ptr<ConcurrencyLimiter> Admission::Pool(const std::string& target) {
  std::lock_guard lock(mu_);
  auto& limiter = pools_[target];
  if (!limiter) limiter = MakeLimiter();
  return limiter;
}

void Admission::Retain(const std::set<std::string>& targets) {
  std::lock_guard lock(mu_);
  std::erase_if(pools_, [&](const auto& entry) { return targets.count(entry.first) == 0; });
}

std::vector<Admission::PoolView> Admission::pools() const {
  std::lock_guard lock(mu_);
  std::vector<PoolView> out;
  for (const auto& [target, limiter] : pools_) {
    out.push_back(PoolView{target, limiter->in_flight(), limiter->limit()});
  }
  return out;
}

}  // namespace smtpbridge::dispatcher
