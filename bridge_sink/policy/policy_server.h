// The Postfix policy delegation server: persistent connections from Postfix's smtpd, one
// request at a time per connection, each turned into an event and answered with `action=`.
#pragma once

#include <prometheus/collectable.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "host/in_flight.h"
#include "host/io_pool.h"
#include "host/listen_address.h"
#include "policy/policy_mapping.h"
#include "policy/policy_request.h"
#include "smtpbridge/sink/sink.h"

namespace smtpbridge::policy {

struct PolicyServerOptions {
  MappingOptions mapping;
  std::chrono::microseconds budget{std::chrono::milliseconds(100)};
  // Postfix closes idle policy connections after smtpd_policy_service_max_idle (300s).
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(10)};
  // An answer the client does not take within this long (it stopped reading: wedged) closes the
  // connection. Postfix waits smtpd_policy_service_timeout (100s) for the whole exchange.
  std::chrono::milliseconds write_timeout{std::chrono::minutes(1)};
  RequestReader::Limits limits;
};

struct PolicyServerStats {
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> active_connections{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> events{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> idle_timeouts{0};   // the client sent nothing within idle_timeout
  std::atomic<uint64_t> write_timeouts{0};  // the client read no answer within write_timeout
  std::atomic<uint64_t> refused_edits{0};   // edits ActionForVerdict could not apply (invalid)
  host::InFlight in_flight;  // requests read and not yet answered: what a drain waits for
};

class PolicyServer {
 public:
  // Connections on strands of `io` (run it from any number of threads).
  PolicyServer(boost::asio::io_context& io, sink::Sink& sink, PolicyServerOptions options);
  // Acceptors on `io`, each connection on the executor `connections` gives (see host::IoPool).
  PolicyServer(boost::asio::io_context& io, host::ExecutorSource connections, sink::Sink& sink,
               PolicyServerOptions options);
  ~PolicyServer();
  PolicyServer(const PolicyServer&) = delete;
  PolicyServer& operator=(const PolicyServer&) = delete;

  // Binds and starts accepting; returns "host:port" or the unix socket path. Throws
  // std::runtime_error when it cannot bind.
  std::string Listen(const host::ListenAddress& address);
  void StopAccepting();
  const PolicyServerStats& stats() const { return *stats_; }
  // The stats above as Prometheus metrics (smtpbridge_policy_*), read when scraped.
  std::shared_ptr<prometheus::Collectable> Metrics() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::shared_ptr<PolicyServerStats> stats_;
};

// One request to one reply line block ("action=...\n\n"), with the sink consulted only when a
// binding wants the event. Exposed for tests.
std::string FormatResponse(const std::string& action);

}  // namespace smtpbridge::policy
