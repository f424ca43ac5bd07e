#include "smtpbridge/cq/cq_pool.h"

#include <algorithm>

namespace smtpbridge::cq {
namespace {

// The pool and queue the current thread drives (null on other threads).
thread_local const CqPool* tls_pool = nullptr;
thread_local grpc::CompletionQueue* tls_cq = nullptr;

}  // namespace

void CqPool::AddTo(grpc::ServerBuilder& builder, size_t threads) {
  for (size_t i = 0; i < std::max<size_t>(1, threads); ++i)
    cqs_.push_back(builder.AddCompletionQueue());
  gate_.Open();
}

grpc::CompletionQueue* CqPool::Pick() {
  if (tls_pool == this) return tls_cq;
  return cqs_[next_.fetch_add(1, std::memory_order_relaxed) % cqs_.size()].get();
}

void CqPool::Run(size_t index) {
  tls_pool = this;
  tls_cq = cqs_[index].get();
  void* tag = nullptr;
  bool ok = false;
  while (cqs_[index]->Next(&tag, &ok)) static_cast<CqTag*>(tag)->Proceed(ok);
  tls_pool = nullptr;
  tls_cq = nullptr;
}

void CqPool::Shutdown() {
  if (shut_down_.exchange(true)) return;
  gate_.Close();  // no operation starts on a queue from here on
  for (auto& cq : cqs_) cq->Shutdown();
  if (threads_.empty()) {
    // Never started (the server failed to start): drain here.
    for (auto& cq : cqs_) {
      void* tag = nullptr;
      bool ok = false;
      while (cq->Next(&tag, &ok)) static_cast<CqTag*>(tag)->Proceed(false);
    }
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

}  // namespace smtpbridge::cq
