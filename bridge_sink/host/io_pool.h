// The hosts' I/O threads: one io_context per thread. Each connection is placed on one context
// when it is accepted and stays there, so its handlers never change threads and need no strand.
// (One io_context run by N threads wakes a second thread for most handlers it queues: on a
// busy 2-core machine that doubled the milter's context switches and cost ~40 % more CPU per
// message than one thread.)
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

namespace smtpbridge::host {

// Where a server puts each new connection.
using ExecutorSource = std::function<boost::asio::any_io_executor()>;
// One strand per connection on a shared io_context (any number of threads may run it).
ExecutorSource StrandPerConnection(boost::asio::io_context& io);

class IoPool {
 public:
  explicit IoPool(unsigned threads);
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  // The first context: acceptors, signals and timers of the process live here.
  boost::asio::io_context& main() { return *contexts_.front(); }
  // The context for a new connection: each in turn.
  boost::asio::any_io_executor Next();
  ExecutorSource connections() {
    return [this] { return Next(); };
  }
  std::size_t size() const { return contexts_.size(); }

  // Runs every context, the first on the calling thread, until Stop(); joins the others.
  void Run();
  // Lets every context finish: callable from any thread and from inside a handler.
  void Stop();

 private:
  using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<Guard> guards_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace smtpbridge::host
