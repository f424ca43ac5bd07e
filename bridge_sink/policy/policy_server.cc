#include "policy/policy_server.h"

#include <filesystem>
#include <random>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "milter/async_evaluate.h"
#include "smtpbridge/v1/smtp_text.h"

namespace smtpbridge::policy {
namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 16 * 1024;

std::string RandomPrefix() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(gen()));
  return std::string("p") + buf;
}

struct Shared {
  Shared(sink::Sink& s, PolicyServerOptions o, std::shared_ptr<PolicyServerStats> st)
      : sink(s), options(std::move(o)), stats(std::move(st)) {}
  sink::Sink& sink;
  PolicyServerOptions options;
  std::shared_ptr<PolicyServerStats> stats;
  std::string id_prefix = RandomPrefix();
  std::atomic<uint64_t> next_id{0};
};

template <typename Socket>
awaitable<void> RunConnection(std::shared_ptr<Shared> shared, Socket socket, std::string peer) {
  auto& stats = *shared->stats;
  stats.connections++;
  const std::string conn_id = shared->id_prefix + "-" + std::to_string(shared->next_id++);
  RequestReader reader(shared->options.limits);
  asio::steady_timer idle(socket.get_executor());
  std::vector<char> buffer(kReadChunk);
  uint64_t event_counter = 0;
  for (;;) {
    PolicyRequest request;
    auto status = reader.Next(request);
    if (status == RequestReader::Status::kError) {
      stats.protocol_errors++;
      spdlog::warn("policy {}: closing connection from {}: {}", conn_id, peer, reader.error());
      break;
    }
    if (status == RequestReader::Status::kNeedMore) {
      idle.expires_after(shared->options.idle_timeout);
      auto result = co_await (socket.async_read_some(asio::buffer(buffer), kAwait) || idle.async_wait(kAwait));
      if (result.index() == 1) break;
      auto [ec, n] = std::get<0>(result);
      if (ec) break;
      reader.Feed(std::string_view(buffer.data(), n));
      continue;
    }
    stats.requests++;
    host::InFlight::Scope busy(stats.in_flight);  // until the response is written
    std::string action = "DUNNO";
    if (request.Get("request") != "smtpd_access_policy") {
      // Not a request we understand: answer neutrally (Postfix itself sends only this kind).
      spdlog::warn("policy {}: unsupported request type \"{}\"", conn_id, v1::EscapeForLog(request.Get("request")));
    } else {
      // One SMTP session per client endpoint: Postfix reuses the policy connection across them.
      const std::string session_id = conn_id + "-" + request.Get("client_address") + ":" + request.Get("client_port");
      const std::string state = request.Get("protocol_state");
      const std::string keyword = KeywordForState(state);
      v1::Event event = EventFromRequest(request, shared->options.mapping, session_id,
                                         session_id + "-" + std::to_string(++event_counter));
      if (shared->sink.Wants(shared->options.mapping.instance, event.type(), keyword)) {
        stats.events++;
        auto evaluation = co_await milter::AsyncEvaluate(shared->sink, std::move(event),
                                                         shared->options.budget, asio::use_awaitable);
        int refused = 0;
        action = ActionForVerdict(evaluation.verdict, state, &refused);
        if (refused > 0) {
          stats.refused_edits += static_cast<uint64_t>(refused);
          spdlog::warn("policy {}: {} edit(s) refused (invalid header or address)", conn_id, refused);
        }
        spdlog::debug("policy {}: {} {} -> {}{}", conn_id, state, keyword, action,
                      evaluation.reason == sink::FallbackReason::kNone
                          ? ""
                          : std::string(" (fallback: ") + std::string(sink::FallbackReasonName(evaluation.reason)) + ")");
      }
    }
    const std::string out = FormatResponse(action);
    // A write has the same deadline as a read: an MTA that stops reading must not pin us.
    idle.expires_after(shared->options.idle_timeout);
    auto written = co_await (asio::async_write(socket, asio::buffer(out), kAwait) || idle.async_wait(kAwait));
    if (written.index() == 1) {
      spdlog::warn("policy {}: the client read no answer for {} ms, closing", conn_id,
                   shared->options.idle_timeout.count());
      break;
    }
    if (auto [ec, n] = std::get<0>(written); ec) break;
  }
  boost::system::error_code ignored;
  socket.shutdown(Socket::shutdown_both, ignored);
  socket.close(ignored);
}

template <typename Acceptor>
awaitable<void> AcceptLoop(std::shared_ptr<Shared> shared, std::shared_ptr<Acceptor> acceptor,
                           host::ExecutorSource connections) {
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(connections(), kAwait);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
      spdlog::warn("policy: accept: {}", ec.message());
      continue;
    }
    std::string peer = "unix";
    if constexpr (std::is_same_v<Acceptor, tcp::acceptor>) {
      boost::system::error_code pec;
      auto ep = socket.remote_endpoint(pec);
      peer = pec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
    }
    auto executor = socket.get_executor();
    asio::co_spawn(executor, RunConnection(shared, std::move(socket), std::move(peer)), asio::detached);
  }
}

}  // namespace

std::string FormatResponse(const std::string& action) { return "action=" + action + "\n\n"; }

struct PolicyServer::Impl {
  asio::io_context& io;
  host::ExecutorSource connections;
  std::shared_ptr<Shared> shared;
  std::vector<std::shared_ptr<tcp::acceptor>> tcp_acceptors;
  std::vector<std::shared_ptr<asio::local::stream_protocol::acceptor>> unix_acceptors;
  std::vector<std::string> unix_paths;
};

PolicyServer::PolicyServer(asio::io_context& io, sink::Sink& sink, PolicyServerOptions options)
    : PolicyServer(io, host::StrandPerConnection(io), sink, std::move(options)) {}

PolicyServer::PolicyServer(asio::io_context& io, host::ExecutorSource connections, sink::Sink& sink,
                           PolicyServerOptions options)
    : stats_(std::make_shared<PolicyServerStats>()) {
  impl_ = std::make_unique<Impl>(Impl{io, std::move(connections),
                                      std::make_shared<Shared>(sink, std::move(options), stats_), {}, {}, {}});
}

PolicyServer::~PolicyServer() {
  StopAccepting();
  for (const auto& path : impl_->unix_paths) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
}

std::string PolicyServer::Listen(const milter::ListenAddress& address) {
  try {
    if (address.is_unix) {
      std::error_code ec;
      if (std::filesystem::is_socket(address.path, ec)) std::filesystem::remove(address.path, ec);
      auto acceptor = std::make_shared<asio::local::stream_protocol::acceptor>(
          impl_->io, asio::local::stream_protocol::endpoint(address.path));
      milter::ApplySocketPermissions(address);
      asio::co_spawn(impl_->io, AcceptLoop(impl_->shared, acceptor, impl_->connections), asio::detached);
      impl_->unix_acceptors.push_back(acceptor);
      impl_->unix_paths.push_back(address.path);
      return address.path;
    }
    tcp::endpoint endpoint(asio::ip::make_address(address.host), address.port);
    auto acceptor = std::make_shared<tcp::acceptor>(impl_->io, endpoint, true);
    auto bound = acceptor->local_endpoint();
    asio::co_spawn(impl_->io, AcceptLoop(impl_->shared, acceptor, impl_->connections), asio::detached);
    impl_->tcp_acceptors.push_back(acceptor);
    std::string host = bound.address().to_string();
    if (bound.address().is_v6()) host = "[" + host + "]";
    return host + ":" + std::to_string(bound.port());
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen on " +
                             (address.is_unix ? address.path : address.host + ":" + std::to_string(address.port)) +
                             ": " + e.what());
  }
}

void PolicyServer::StopAccepting() {
  boost::system::error_code ec;
  for (auto& a : impl_->tcp_acceptors) a->close(ec);
  for (auto& a : impl_->unix_acceptors) a->close(ec);
}

}  // namespace smtpbridge::policy
