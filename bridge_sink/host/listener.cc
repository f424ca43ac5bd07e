#include "host/listener.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <mutex>
#include <stdexcept>

namespace smtpbridge::host {
namespace asio = boost::asio;
using asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;

// Callback-driven rather than a coroutine, so that arming the next accept and closing the
// acceptor can share a mutex: initiation happens inside async_accept itself, under the lock.
// (A coroutine initiates after it suspends, outside any lock it could hold.)
class Listener::Loop {
 public:
  virtual ~Loop() = default;
  virtual void Close() = 0;
};

namespace {

template <typename Protocol>
class AcceptLoop final : public Listener::Loop,
                         public std::enable_shared_from_this<AcceptLoop<Protocol>> {
 public:
  using Acceptor = typename Protocol::acceptor;
  using Socket = typename Protocol::socket;

  AcceptLoop(Acceptor acceptor, ExecutorSource connections, std::function<void(Socket)> on_accept,
             const std::string& name)
      : acceptor_(std::move(acceptor)),
        connections_(std::move(connections)),
        on_accept_(std::move(on_accept)),
        name_(name) {}

  void Next() {
    std::lock_guard lock(mu_);
    if (!open_) return;
    acceptor_.async_accept(connections_(), [self = this->shared_from_this()](
                                               boost::system::error_code ec, Socket socket) {
      self->Accepted(ec, std::move(socket));
    });
  }

  void Close() override {
    std::lock_guard lock(mu_);
    open_ = false;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

 private:
  void Accepted(const boost::system::error_code& ec, Socket socket) {
    {
      std::lock_guard lock(mu_);
      if (!open_) return;
    }
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      spdlog::warn("{}: accept: {}", name_, ec.message());
    } else {
      on_accept_(std::move(socket));
    }
    Next();
  }

  std::mutex mu_;  // the acceptor: re-armed on an I/O thread, closed from any thread
  bool open_ = true;
  Acceptor acceptor_;
  const ExecutorSource connections_;
  const std::function<void(Socket)> on_accept_;
  const std::string name_;
};

}  // namespace

Listener::Listener(asio::io_context& io, ExecutorSource connections, std::string name)
    : io_(io), connections_(std::move(connections)), name_(std::move(name)) {}

Listener::~Listener() {
  StopAccepting();
  for (const auto& path : unix_paths_) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
}

std::string Listener::Listen(const ListenAddress& address, AcceptHandlers handlers) {
  const std::string where =
      address.is_unix ? address.path : address.host + ":" + std::to_string(address.port);
  try {
    if (address.is_unix) {
      if (!handlers.unix_socket) throw std::runtime_error("this host listens on TCP only");
      std::error_code ec;
      // A stale socket from an earlier run would make bind fail.
      if (std::filesystem::is_socket(address.path, ec)) std::filesystem::remove(address.path, ec);
      unix_socket::acceptor acceptor(io_, unix_socket::endpoint(address.path));
      unix_paths_.push_back(address.path);
      ApplySocketPermissions(address);
      auto loop = std::make_shared<AcceptLoop<unix_socket>>(std::move(acceptor), connections_,
                                                            std::move(handlers.unix_socket), name_);
      loops_.push_back(loop);
      loop->Next();
      return address.path;
    }
    const auto bound = ListenTcp(tcp::endpoint(asio::ip::make_address(address.host), address.port),
                                 std::move(handlers.tcp));
    std::string host = bound.address().to_string();
    if (bound.address().is_v6()) host = "[" + host + "]";
    return host + ":" + std::to_string(bound.port());
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen on " + where + ": " + e.what());
  }
}

tcp::endpoint Listener::ListenTcp(const tcp::endpoint& endpoint,
                                  std::function<void(tcp::socket)> on_accept) {
  tcp::acceptor acceptor(io_, endpoint, /*reuse_address=*/true);
  const auto bound = acceptor.local_endpoint();
  auto loop = std::make_shared<AcceptLoop<tcp>>(std::move(acceptor), connections_,
                                                std::move(on_accept), name_);
  loops_.push_back(loop);
  loop->Next();
  return bound;
}

void Listener::StopAccepting() {
  for (auto& loop : loops_) loop->Close();
}

}  // namespace smtpbridge::host
