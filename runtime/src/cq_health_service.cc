#include "smtpbridge/health/cq_health_service.h"

#include <vector>

namespace smtpbridge::health {

using grpc::health::v1::HealthCheckResponse;

grpc::Status HealthServiceBase::CheckStatus(const std::string& service,
                                            HealthCheckResponse* response) const {
  if (!service.empty() && service != service_name_) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service " + service);
  }
  response->set_status(serving_.load(std::memory_order_acquire) ? HealthCheckResponse::SERVING
                                                                : HealthCheckResponse::NOT_SERVING);
  return grpc::Status::OK;
}

HealthServiceBase::ServingStatus HealthServiceBase::WatchStatus(const std::string& service) const {
  if (!service.empty() && service != service_name_) return HealthCheckResponse::SERVICE_UNKNOWN;
  return serving_.load(std::memory_order_acquire) ? HealthCheckResponse::SERVING
                                                  : HealthCheckResponse::NOT_SERVING;
}

void HealthServiceBase::SetServing(bool serving) {
  serving_.store(serving, std::memory_order_release);
  std::lock_guard lock(mu_);
  for (Watcher* w : watchers_) w->Pump();
}

void HealthServiceBase::EndWatches() {
  serving_.store(false, std::memory_order_release);
  watches_ended_.store(true, std::memory_order_release);
  std::lock_guard lock(mu_);
  for (Watcher* w : watchers_) w->Pump();
}

bool HealthServiceBase::WaitWatchersTold(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return told_.wait_for(lock, timeout, [this] {
    for (Watcher* w : watchers_) {
      if (!w->Told()) return false;
    }
    return true;
  });
}

size_t HealthServiceBase::watchers() const {
  std::lock_guard lock(mu_);
  return watchers_.size();
}

bool HealthServiceBase::AddWatcher(Watcher* watcher) {
  std::lock_guard lock(mu_);
  if (watches_ended_.load(std::memory_order_acquire)) return false;
  watchers_.insert(watcher);
  return true;
}

void HealthServiceBase::RemoveWatcher(Watcher* watcher) {
  {
    std::lock_guard lock(mu_);
    watchers_.erase(watcher);
  }
  told_.notify_all();
}

void HealthServiceBase::WatcherWrote() {
  { std::lock_guard lock(mu_); }  // a waiter is either before its check or waiting
  told_.notify_all();
}

}  // namespace smtpbridge::health
