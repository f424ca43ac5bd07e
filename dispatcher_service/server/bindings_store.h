// The current bindings: an immutable BindingSet behind a shared_ptr, swapped atomically on
// reload (SIGHUP, file change, Admin.Reload). In-flight events keep the set they started with.
// A reload that fails validation keeps the previous set and reports the errors.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bindings/loader.h"

namespace smtpbridge::dispatcher {

struct ReloadOutcome {
  bool ok = false;
  std::vector<std::string> errors;
  uint64_t generation = 0;
  size_t bindings = 0;
};

class BindingsStore {
 public:
  // Called after every successful load with the new set (clear caches, warm channels).
  using OnSwap = std::function<void(const std::shared_ptr<const BindingSet>&)>;

  // Called after every failed load with its errors.
  using OnFailure = std::function<void(const std::vector<std::string>&)>;

  BindingsStore(std::string path, OnSwap on_swap, OnFailure on_failure = nullptr);
  ~BindingsStore();

  // Loads (or reloads) the file. The first successful load is generation 1.
  ReloadOutcome Reload();

  std::shared_ptr<const BindingSet> Current() const;
  uint64_t generation() const { return generation_.load(); }
  const std::string& path() const { return path_; }

  // Polls the file's identity (inode, size, mtime) every `interval` and reloads on change;
  // catches ConfigMap symlink swaps and editors that replace the file.
  void StartWatching(std::chrono::milliseconds interval);
  void StopWatching();

 private:
  struct FileId {
    ino_t inode = 0;
    off_t size = -1;
    int64_t mtime_ns = 0;
    bool operator==(const FileId&) const = default;
  };
  FileId Identify() const;

  const std::string path_;
  OnSwap on_swap_;
  OnFailure on_failure_;
  std::mutex reload_mu_;  // one reload at a time
  mutable std::mutex mu_;
  std::shared_ptr<const BindingSet> current_;
  std::atomic<uint64_t> generation_{0};
  FileId loaded_id_;

  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  bool stop_watching_ = false;
  std::thread watcher_;
};

}  // namespace smtpbridge::dispatcher
