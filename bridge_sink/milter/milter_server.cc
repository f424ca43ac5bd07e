#include "milter/milter_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <optional>
#include <random>
#include <stdexcept>
#include <vector>

#include "host/async_evaluate.h"
#include "host/idle_watch.h"
#include "host/listener.h"
#include "host/stats_metrics.h"

namespace smtpbridge::milter {
namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
// Below glibc's 64 KiB consolidation threshold: freeing a 64 KiB buffer at the end of every MTA
// connection (one per SMTP session) made malloc consolidate and trim the heap each time, and the
// next connection fault fresh pages back in. A larger packet just takes more reads.
constexpr std::size_t kReadChunk = 16 * 1024;

std::string RandomPrefix() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(gen()));
  return std::string("m") + buf;
}

struct Shared {
  Shared(sink::Sink& s, ServerOptions o, std::shared_ptr<ServerStats> st)
      : sink(s), options(std::move(o)), stats(std::move(st)) {}
  sink::Sink& sink;
  ServerOptions options;
  std::shared_ptr<ServerStats> stats;
  std::string id_prefix = RandomPrefix();
  std::atomic<uint64_t> next_id{0};
};

// Postfix writes to a milter without TCP_NODELAY, and sends some packets that get no reply
// (macros, and every command negotiated as NR_* or skipped). Left to the kernel, our ACK for such a
// packet is delayed (40 ms on Linux) and Postfix's next small packet waits for it behind Nagle:
// 40 ms per message with the DATA step skipped. So when we go back to reading without having
// written anything since the last read, we ask for the ACK at once (TCP_QUICKACK sends the pending
// ACK and is not sticky). When we did reply, the reply carried the ACK: asking again would only
// add a bare ACK segment (and a setsockopt) per packet.
using QuickAck = asio::detail::socket_option::boolean<IPPROTO_TCP, TCP_QUICKACK>;

template <typename Socket>
void AckNow(Socket& socket) {
  if constexpr (std::is_same_v<typename Socket::protocol_type, tcp>) {
    boost::system::error_code ignored;
    socket.set_option(QuickAck(true), ignored);
  }
}

// For log lines only: a getpeername per connection is not worth paying up front.
template <typename Socket>
std::string PeerName(const Socket& socket) {
  if constexpr (std::is_same_v<typename Socket::protocol_type, tcp>) {
    boost::system::error_code ec;
    auto ep = socket.remote_endpoint(ec);
    return ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  } else {
    return "unix";
  }
}

template <typename Socket>
awaitable<void> RunConnection(std::shared_ptr<Shared> shared, Socket socket) {
  auto& stats = *shared->stats;
  stats.connections++;
  stats.active_connections++;
  const std::string id = shared->id_prefix + "-" + std::to_string(shared->next_id++);
  MilterSession session(shared->sink, shared->options.session, id);
  PacketReader reader(shared->options.max_packet);
  auto idle = std::make_shared<host::IdleWatch<Socket>>(socket, shared->options.idle_timeout,
                                                        shared->options.write_timeout);
  idle->Arm(idle->io_started + idle->horizon);
  auto buffer = std::make_unique_for_overwrite<char[]>(kReadChunk);  // no zeroing: reads fill it
  std::string out;
  if (spdlog::should_log(spdlog::level::debug))
    spdlog::debug("milter {}: connection from {}", id, PeerName(socket));

  auto fail = [&](const std::string& why) {
    stats.protocol_errors++;
    spdlog::warn("milter {}: closing MTA connection from {}: {}", id, PeerName(socket), why);
  };

  bool open = true;
  bool answered = true;  // nothing read yet that might want an ACK
  while (open) {
    Packet packet;
    auto status = reader.Next(packet);
    if (status == PacketReader::Status::kError) {
      fail(reader.error());
      break;
    }
    if (status == PacketReader::Status::kNeedMore) {
      if (!answered) AckNow(socket);
      idle->Start(shared->options.idle_timeout);
      auto [ec, n] =
          co_await socket.async_read_some(asio::buffer(buffer.get(), kReadChunk), kAwait);
      idle->waiting = false;
      if (idle->expired) {
        stats.idle_timeouts++;
        spdlog::info("milter {}: idle for {} ms, closing", id,
                     shared->options.idle_timeout.count());
        break;
      }
      if (ec) {
        if (ec != asio::error::eof && ec != asio::error::operation_aborted)
          spdlog::debug("milter {}: read: {}", id, ec.message());
        break;
      }
      answered = false;
      reader.Feed(std::string_view(buffer.get(), n));
      continue;
    }
    std::string error;
    auto command = DecodeCommand(packet, &error);
    if (!command) {
      fail(error);
      break;
    }
    auto step = session.Handle(std::move(*command));
    if (!step.error.empty()) {
      fail(step.error);
      break;
    }
    out.clear();
    for (const auto& r : step.replies) AppendFrame(EncodeReplyPacket(r), out);
    std::optional<host::InFlight::Scope> busy;  // until the verdict's reply is written
    if (step.event) {
      busy.emplace(stats.in_flight);
      stats.events++;
      auto evaluation = co_await host::AsyncEvaluate(shared->sink, std::move(*step.event),
                                                     step.budget, asio::use_awaitable);
      if (evaluation.reason != sink::FallbackReason::kNone)
        spdlog::debug("milter {}: fallback verdict ({})", id,
                      sink::FallbackReasonName(evaluation.reason));
      const uint64_t refused_before =
          session.stats().refused_edits + session.stats().refused_verdicts;
      const uint64_t skipped_before = session.stats().skipped_edits;
      for (const auto& r : session.Complete(evaluation)) AppendFrame(EncodeReplyPacket(r), out);
      stats.refused_edits +=
          session.stats().refused_edits + session.stats().refused_verdicts - refused_before;
      stats.skipped_edits += session.stats().skipped_edits - skipped_before;
    }
    if (!out.empty()) {
      idle->Start(shared->options.write_timeout);
      auto [ec, n] = co_await asio::async_write(socket, asio::buffer(out), kAwait);
      idle->waiting = false;
      if (idle->expired) {
        stats.write_timeouts++;
        spdlog::warn("milter {}: the MTA read no reply for {} ms, closing", id,
                     shared->options.write_timeout.count());
        break;
      }
      if (ec) {
        spdlog::debug("milter {}: write: {}", id, ec.message());
        break;
      }
      answered = true;
    }
    if (step.close) open = false;
  }
  idle->closed = true;
  idle->timer.cancel();
  boost::system::error_code ignored;
  socket.close(ignored);  // sends the FIN: no separate shutdown() needed
  stats.active_connections--;
  spdlog::debug("milter {}: closed", id);
}

}  // namespace

struct MilterServer::Impl {
  Impl(asio::io_context& io, host::ExecutorSource connections, std::shared_ptr<Shared> s)
      : shared(std::move(s)), listener(io, std::move(connections), "milter") {}
  std::shared_ptr<Shared> shared;
  host::Listener listener;
};

MilterServer::MilterServer(asio::io_context& io, sink::Sink& sink, ServerOptions options)
    : MilterServer(io, host::StrandPerConnection(io), sink, std::move(options)) {}

MilterServer::MilterServer(asio::io_context& io, host::ExecutorSource connections, sink::Sink& sink,
                           ServerOptions options)
    : stats_(std::make_shared<ServerStats>()) {
  impl_ = std::make_unique<Impl>(io, std::move(connections),
                                 std::make_shared<Shared>(sink, std::move(options), stats_));
}

MilterServer::~MilterServer() = default;

std::string MilterServer::Listen(const host::ListenAddress& address) {
  auto shared = impl_->shared;
  return impl_->listener.Listen(
      address,
      {.tcp =
           [shared](tcp::socket socket) {
             boost::system::error_code ignored;
             socket.set_option(tcp::no_delay(true), ignored);
             auto executor = socket.get_executor();
             asio::co_spawn(executor, RunConnection(shared, std::move(socket)), asio::detached);
           },
       .unix_socket =
           [shared](asio::local::stream_protocol::socket socket) {
             auto executor = socket.get_executor();
             asio::co_spawn(executor, RunConnection(shared, std::move(socket)), asio::detached);
           }});
}

std::shared_ptr<prometheus::Collectable> MilterServer::Metrics() const {
  return host::StatsMetrics(
      stats_,
      {
          {"smtpbridge_milter_connections_total", "MTA connections accepted", &stats_->connections},
          {"smtpbridge_milter_connections_active", "MTA connections open now",
           &stats_->active_connections, true},
          {"smtpbridge_milter_events_total", "Events sent to the sink", &stats_->events},
          {"smtpbridge_milter_protocol_errors_total",
           "MTA connections closed on a malformed or unexpected packet", &stats_->protocol_errors},
          {"smtpbridge_milter_idle_timeouts_total",
           "MTA connections closed after idle_timeout without a packet", &stats_->idle_timeouts},
          {"smtpbridge_milter_write_timeouts_total",
           "MTA connections closed because a reply was not read within write_timeout",
           &stats_->write_timeouts},
          {"smtpbridge_milter_refused_edits_total",
           "Verdicts and edits refused as invalid or not applicable", &stats_->refused_edits},
          {"smtpbridge_milter_skipped_edits_total", "Edits the MTA did not grant in negotiation",
           &stats_->skipped_edits},
      });
}

void MilterServer::StopAccepting() { impl_->listener.StopAccepting(); }

}  // namespace smtpbridge::milter
