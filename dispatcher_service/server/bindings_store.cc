#include "server/bindings_store.h"

#include <spdlog/spdlog.h>

namespace smtpbridge::dispatcher {

BindingsStore::BindingsStore(std::string path, OnSwap on_swap, OnFailure on_failure)
    : path_(std::move(path)), on_swap_(std::move(on_swap)), on_failure_(std::move(on_failure)) {}

BindingsStore::~BindingsStore() { StopWatching(); }

BindingsStore::FileId BindingsStore::Identify() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return {};
  return FileId{st.st_ino, st.st_size,
                static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

ReloadOutcome BindingsStore::Reload() {
  std::lock_guard reload_lock(reload_mu_);
  const FileId id = Identify();
  LoadResult result = LoadBindingsFile(path_);
  ReloadOutcome outcome;
  {
    std::lock_guard lock(mu_);
    loaded_id_ = id;  // also on failure: do not retry the same broken file every second
  }
  if (!result.ok()) {
    outcome.errors = std::move(result.errors);
    outcome.generation = generation_.load();
    const auto current = Current();
    outcome.bindings = current ? current->bindings().size() : 0;
    for (const auto& e : outcome.errors) spdlog::error("bindings: {}", e);
    if (on_failure_) on_failure_(outcome.errors);
    if (current) {
      spdlog::warn("bindings: reload of {} failed with {} error(s); keeping generation {}", path_,
                   outcome.errors.size(), outcome.generation);
    }
    return outcome;
  }
  {
    std::lock_guard lock(mu_);
    current_ = result.set;
  }
  outcome.ok = true;
  outcome.generation = ++generation_;
  outcome.bindings = result.set->bindings().size();
  spdlog::info("bindings: loaded {} binding(s) from {} (generation {})", outcome.bindings, path_,
               outcome.generation);
  if (on_swap_) on_swap_(result.set);
  return outcome;
}

std::shared_ptr<const BindingSet> BindingsStore::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

void BindingsStore::StartWatching(std::chrono::milliseconds interval) {
  StopWatching();
  stop_watching_ = false;
  watcher_ = std::thread([this, interval] {
    std::unique_lock lock(watch_mu_);
    while (!watch_cv_.wait_for(lock, interval, [this] { return stop_watching_; })) {
      FileId loaded;
      {
        std::lock_guard id_lock(mu_);
        loaded = loaded_id_;
      }
      const FileId now = Identify();
      if (now.size < 0 || now == loaded) continue;  // missing (mid-swap) or unchanged
      spdlog::info("bindings: {} changed, reloading", path_);
      Reload();
    }
  });
}

void BindingsStore::StopWatching() {
  {
    std::lock_guard lock(watch_mu_);
    stop_watching_ = true;
  }
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

}  // namespace smtpbridge::dispatcher
