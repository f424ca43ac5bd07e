// The milter server: accepts MTA connections on TCP or unix sockets and runs one MilterSession
// per connection on its own strand, reading packets, asking the sink, writing replies.
#pragma once

#include <prometheus/collectable.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "host/in_flight.h"
#include "host/io_pool.h"
#include "host/listen_address.h"
#include "milter/milter_session.h"
#include "smtpbridge/sink/sink.h"

namespace smtpbridge::milter {

struct ServerOptions {
  SessionOptions session;
  // An MTA connection that sends nothing for this long is closed (Postfix's own milter
  // timeouts are shorter, so a healthy MTA never hits it).
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(10)};
  // A reply the MTA does not take within this long (it stopped reading: wedged) closes the
  // connection. Postfix gives up on a milter reply after milter_command_timeout (30s).
  std::chrono::milliseconds write_timeout{std::chrono::minutes(1)};
  std::size_t max_packet = kMaxPacketSize;
};

struct ServerStats {
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> active_connections{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> idle_timeouts{0};   // the MTA sent nothing within idle_timeout
  std::atomic<uint64_t> write_timeouts{0};  // the MTA read no reply within write_timeout
  std::atomic<uint64_t> events{0};
  std::atomic<uint64_t> refused_edits{0};  // SessionStats::refused_edits + refused_verdicts, summed
  std::atomic<uint64_t> skipped_edits{0};  // SessionStats::skipped_edits, summed
  host::InFlight in_flight;  // events being evaluated or answered: what a drain waits for
};

class MilterServer {
 public:
  // Connections on strands of `io` (run it from any number of threads).
  MilterServer(boost::asio::io_context& io, sink::Sink& sink, ServerOptions options);
  // Acceptors on `io`, each connection on the executor `connections` gives (see host::IoPool).
  MilterServer(boost::asio::io_context& io, host::ExecutorSource connections, sink::Sink& sink,
               ServerOptions options);
  ~MilterServer();
  MilterServer(const MilterServer&) = delete;
  MilterServer& operator=(const MilterServer&) = delete;

  // Binds and starts accepting. Returns "host:port" (the bound port when 0 was asked) or the
  // unix socket path. Throws std::runtime_error when it cannot bind.
  std::string Listen(const host::ListenAddress& address);
  // Stops accepting; open connections finish with their MTA.
  void StopAccepting();

  const ServerStats& stats() const { return *stats_; }
  // The stats above as Prometheus metrics (smtpbridge_milter_*), read when scraped.
  std::shared_ptr<prometheus::Collectable> Metrics() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::shared_ptr<ServerStats> stats_;
};

}  // namespace smtpbridge::milter
