// Threads that drive gRPC completion queues (the CQ API), one ServerCompletionQueue each.
// The dispatcher serves Evaluate from these queues and starts its worker calls on the queue of
// the thread it runs on, so an event and its fan-out stay on one thread: no hand-off between
// gRPC's own threads and ours (the callback API cost ~11 context switches per event). In the
// runtime library, not dispatcher_service/server/, because workers/ starts its calls on it too.
#pragma once

#include <grpcpp/completion_queue.h>
#include <grpcpp/server_builder.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "smtpbridge/cq/cq_gate.h"

namespace smtpbridge::cq {

class CqPool {
 public:
  CqPool() = default;
  ~CqPool() { Shutdown(); }
  CqPool(const CqPool&) = delete;
  CqPool& operator=(const CqPool&) = delete;

  // Before BuildAndStart(): adds `threads` (at least 1) completion queues to the server.
  void AddTo(grpc::ServerBuilder& builder, size_t threads);
  // After BuildAndStart(): `arm` posts the first tags on each queue, then one thread per queue
  // runs Next() until the queue is shut down and drained.
  template <typename Arm>
  void Start(Arm arm) {
    for (auto& cq : cqs_) arm(cq.get());
    for (size_t i = 0; i < cqs_.size(); ++i) threads_.emplace_back([this, i] { Run(i); });
  }

  // The queue to start a call on: the calling thread's own when it is a pool thread, else the
  // next one round robin. Only valid inside a Use() scope that returned true.
  grpc::CompletionQueue* Pick();

  // A shared lock that keeps the queues open while a caller starts an operation on them;
  // false (and no lock held) once Shutdown() has begun or before AddTo().
  class Use : public CqGate::Use {
   public:
    explicit Use(CqPool* pool) : CqGate::Use(&pool->gate_) {}
  };

  // After Server::Shutdown(): shuts every queue down, lets the threads drain every remaining
  // tag (each gets Proceed(false) or its real result) and joins them. Idempotent.
  void Shutdown();

  size_t size() const { return cqs_.size(); }

 private:
  void Run(size_t index);

  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs_;
  std::vector<std::thread> threads_;
  CqGate gate_;
  std::atomic<bool> shut_down_{false};
  std::atomic<size_t> next_{0};
};

}  // namespace smtpbridge::cq
