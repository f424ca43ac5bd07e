#include "host/io_pool.h"

#include <algorithm>
#include <boost/asio/strand.hpp>
#include <thread>

namespace smtpbridge::host {

ExecutorSource StrandPerConnection(boost::asio::io_context& io) {
  return [&io] { return boost::asio::any_io_executor(boost::asio::make_strand(io)); };
}

IoPool::IoPool(unsigned threads) {
  threads = std::max(1u, threads);
  for (unsigned i = 0; i < threads; ++i) {
    // Concurrency hint 1: one thread runs each context (others may still post to it).
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    guards_.emplace_back(contexts_.back()->get_executor());
  }
}

boost::asio::any_io_executor IoPool::Next() {
  const std::size_t i = next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size();
  return contexts_[i]->get_executor();
}

void IoPool::Run() {
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < contexts_.size(); ++i) {
    threads.emplace_back([this, i] { contexts_[i]->run(); });
  }
  contexts_.front()->run();
  for (auto& t : threads) t.join();
}

void IoPool::Stop() {
  for (auto& context : contexts_) context->stop();
}

}  // namespace smtpbridge::host
