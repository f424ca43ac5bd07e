// SIGINT/SIGTERM for every host, the same way: stop taking new work, wait until nothing is in
// flight (or the drain deadline passes), then finish. A second signal during the drain changes
// nothing; after the drain, late duplicates (tests signal the process and its group) are ignored
// instead of killing the clean shutdown by the default action.
//
// Construct it before writing the ready file: a supervisor that stops the host right after
// readiness must get a drain.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace smtpbridge::host {

struct DrainSteps {
  std::function<void()> stop_accepting;  // close listeners (and say goodbye where the protocol can)
  std::function<uint64_t()> in_flight;   // work still to finish; 0 ends the drain
  std::function<void()> finish;          // e.g. IoPool::Stop(); runs once, on `io`
};

class SignalDrain {
 public:
  SignalDrain(boost::asio::io_context& io, std::chrono::milliseconds max_drain, DrainSteps steps);
  ~SignalDrain();  // ignores SIGINT/SIGTERM from here on (the process is shutting down)
  SignalDrain(const SignalDrain&) = delete;
  SignalDrain& operator=(const SignalDrain&) = delete;

  bool draining() const { return draining_; }

 private:
  void OnSignal(const boost::system::error_code& ec, int signo);
  void Poll();

  std::unique_ptr<boost::asio::signal_set> signals_;
  boost::asio::steady_timer poll_;
  const std::chrono::milliseconds max_drain_;
  DrainSteps steps_;
  std::chrono::steady_clock::time_point deadline_{};
  bool draining_ = false;
};

}  // namespace smtpbridge::host
