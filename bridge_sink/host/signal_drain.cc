#include "host/signal_drain.h"

#include <spdlog/spdlog.h>

#include <csignal>

namespace smtpbridge::host {
namespace {
// How often the drain looks at what is left: short next to any budget, cheap when idle.
constexpr auto kPollInterval = std::chrono::milliseconds(20);
}  // namespace

SignalDrain::SignalDrain(boost::asio::io_context& io, std::chrono::milliseconds max_drain,
                         DrainSteps steps)
    : signals_(std::make_unique<boost::asio::signal_set>(io, SIGINT, SIGTERM)),
      poll_(io),
      max_drain_(max_drain),
      steps_(std::move(steps)) {
  signals_->async_wait(
      [this](const boost::system::error_code& ec, int signo) { OnSignal(ec, signo); });
}

SignalDrain::~SignalDrain() {
  // Removing the signal_set restores the default action, so ignore instead.
  signals_.reset();
  std::signal(SIGTERM, SIG_IGN);
  std::signal(SIGINT, SIG_IGN);
}

void SignalDrain::OnSignal(const boost::system::error_code& ec, int signo) {
  if (ec) return;
  signals_->async_wait([this](const boost::system::error_code& e, int s) { OnSignal(e, s); });
  if (draining_) return;
  draining_ = true;
  spdlog::info("signal {}: draining {} in flight (up to {} ms)", signo, steps_.in_flight(),
               max_drain_.count());
  steps_.stop_accepting();
  deadline_ = std::chrono::steady_clock::now() + max_drain_;
  Poll();
}

void SignalDrain::Poll() {
  const uint64_t left = steps_.in_flight();
  if (left == 0 || std::chrono::steady_clock::now() >= deadline_) {
    if (left > 0) spdlog::warn("drain deadline passed with {} still in flight", left);
    steps_.finish();
    return;
  }
  poll_.expires_after(kPollInterval);
  poll_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) Poll();
  });
}

}  // namespace smtpbridge::host
