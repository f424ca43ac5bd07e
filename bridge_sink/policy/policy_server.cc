#include "policy/policy_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <random>
#include <vector>

#include "host/async_evaluate.h"
#include "host/idle_watch.h"
#include "host/listener.h"
#include "host/stats_metrics.h"
#include "smtpbridge/v1/smtp_text.h"

namespace smtpbridge::policy {
namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;

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
  stats.active_connections++;
  const std::string conn_id = shared->id_prefix + "-" + std::to_string(shared->next_id++);
  RequestReader reader(shared->options.limits);
  auto idle = std::make_shared<host::IdleWatch<Socket>>(socket, shared->options.idle_timeout,
                                                        shared->options.write_timeout);
  idle->Arm(idle->io_started + idle->horizon);
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
      idle->Start(shared->options.idle_timeout);
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), kAwait);
      idle->waiting = false;
      if (idle->expired) {
        stats.idle_timeouts++;
        spdlog::debug("policy {}: idle for {} ms, closing", conn_id,
                      shared->options.idle_timeout.count());
        break;
      }
      if (ec) break;
      reader.Feed(std::string_view(buffer.data(), n));
      continue;
    }
    stats.requests++;
    host::InFlight::Scope busy(stats.in_flight);  // until the response is written
    std::string action = "DUNNO";
    if (request.Get("request") != "smtpd_access_policy") {
      // Not a request we understand: answer neutrally (Postfix itself sends only this kind).
      spdlog::warn("policy {}: unsupported request type \"{}\"", conn_id,
                   v1::EscapeForLog(request.Get("request")));
    } else {
      // One SMTP session per client endpoint: Postfix reuses the policy connection across them.
      const std::string session_id =
          conn_id + "-" + request.Get("client_address") + ":" + request.Get("client_port");
      const std::string state = request.Get("protocol_state");
      const std::string keyword = KeywordForState(state);
      v1::Event event = EventFromRequest(request, shared->options.mapping, session_id,
                                         session_id + "-" + std::to_string(++event_counter));
      if (shared->sink.Wants(shared->options.mapping.instance, event.type(), keyword)) {
        stats.events++;
        auto evaluation = co_await host::AsyncEvaluate(shared->sink, std::move(event),
                                                       shared->options.budget, asio::use_awaitable);
        int refused = 0;
        action = ActionForVerdict(evaluation.verdict, state, &refused);
        if (refused > 0) {
          stats.refused_edits += static_cast<uint64_t>(refused);
          spdlog::warn("policy {}: {} edit(s) refused (invalid header or address)", conn_id,
                       refused);
        }
        spdlog::debug("policy {}: {} {} -> {}{}", conn_id, state, keyword, action,
                      evaluation.reason == sink::FallbackReason::kNone
                          ? ""
                          : std::string(" (fallback: ") +
                                std::string(sink::FallbackReasonName(evaluation.reason)) + ")");
      }
    }
    const std::string out = FormatResponse(action);
    // A write has a deadline too: an MTA that stops reading must not pin the connection.
    idle->Start(shared->options.write_timeout);
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(out), kAwait);
    idle->waiting = false;
    if (idle->expired) {
      stats.write_timeouts++;
      spdlog::warn("policy {}: the client read no answer for {} ms, closing", conn_id,
                   shared->options.write_timeout.count());
      break;
    }
    if (ec) break;
  }
  idle->closed = true;
  idle->timer.cancel();
  boost::system::error_code ignored;
  socket.shutdown(Socket::shutdown_both, ignored);
  socket.close(ignored);
  stats.active_connections--;
}

}  // namespace

std::string FormatResponse(const std::string& action) { return "action=" + action + "\n\n"; }

struct PolicyServer::Impl {
  Impl(asio::io_context& io, host::ExecutorSource connections, std::shared_ptr<Shared> s)
      : shared(std::move(s)), listener(io, std::move(connections), "policy") {}
  std::shared_ptr<Shared> shared;
  host::Listener listener;
};

PolicyServer::PolicyServer(asio::io_context& io, sink::Sink& sink, PolicyServerOptions options)
    : PolicyServer(io, host::StrandPerConnection(io), sink, std::move(options)) {}

PolicyServer::PolicyServer(asio::io_context& io, host::ExecutorSource connections, sink::Sink& sink,
                           PolicyServerOptions options)
    : stats_(std::make_shared<PolicyServerStats>()) {
  impl_ = std::make_unique<Impl>(io, std::move(connections),
                                 std::make_shared<Shared>(sink, std::move(options), stats_));
}

PolicyServer::~PolicyServer() = default;

std::string PolicyServer::Listen(const host::ListenAddress& address) {
  auto shared = impl_->shared;
  return impl_->listener.Listen(
      address, {.tcp =
                    [shared](tcp::socket socket) {
                      boost::system::error_code ec;
                      const auto ep = socket.remote_endpoint(ec);
                      std::string peer =
                          ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
                      auto executor = socket.get_executor();
                      asio::co_spawn(executor,
                                     RunConnection(shared, std::move(socket), std::move(peer)),
                                     asio::detached);
                    },
                .unix_socket =
                    [shared](asio::local::stream_protocol::socket socket) {
                      auto executor = socket.get_executor();
                      asio::co_spawn(executor, RunConnection(shared, std::move(socket), "unix"),
                                     asio::detached);
                    }});
}

std::shared_ptr<prometheus::Collectable> PolicyServer::Metrics() const {
  return host::StatsMetrics(
      stats_,
      {
          {"smtpbridge_policy_connections_total", "Policy client connections accepted",
           &stats_->connections},
          {"smtpbridge_policy_connections_active", "Policy client connections open now",
           &stats_->active_connections, true},
          {"smtpbridge_policy_requests_total", "Policy requests read", &stats_->requests},
          {"smtpbridge_policy_events_total", "Events sent to the sink", &stats_->events},
          {"smtpbridge_policy_protocol_errors_total", "Connections closed on a malformed request",
           &stats_->protocol_errors},
          {"smtpbridge_policy_idle_timeouts_total",
           "Connections closed after idle_timeout without a request", &stats_->idle_timeouts},
          {"smtpbridge_policy_write_timeouts_total",
           "Connections closed because an answer was not read within write_timeout",
           &stats_->write_timeouts},
          {"smtpbridge_policy_refused_edits_total",
           "Verdict edits the policy protocol cannot apply", &stats_->refused_edits},
      });
}

void PolicyServer::StopAccepting() { impl_->listener.StopAccepting(); }

}  // namespace smtpbridge::policy
