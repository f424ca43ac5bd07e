// What every host's main() does besides building its own server: the common flags, logging, the
// sink from its YAML, the metrics endpoint, the ready file, and running the I/O threads until a
// signal drain ends them. Each main.cc then reads as: flags, server, RunHost.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "host/io_pool.h"
#include "host/listen_address.h"
#include "host/signal_drain.h"
#include "smtpbridge/sink/sink_factory.h"

namespace CLI {
class App;
}
namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace smtpbridge::host {

// --dispatcher, --sink-config, --ready-file, --metrics-listen, --log-level, --log-format.
struct CommonFlags {
  std::string dispatcher;
  std::string sink_config;
  std::string ready_file;
  std::string metrics_listen;
  std::string log_level = "info";
  std::string log_format = "text";
  unsigned threads = 0;  // 0: IoThreads() picks
  std::string drain_timeout = "10s";

  void Add(CLI::App& app);
  // --threads and --drain-timeout (the proxy takes its threads from its YAML). `in_flight` says
  // what a drain waits for ("events", "requests").
  void AddThreadsAndDrain(CLI::App& app, const std::string& in_flight);
  std::chrono::milliseconds DrainTimeout() const;  // throws naming the flag
  // --threads, or half the cores (at least one) when it is 0: the sink's gRPC thread and the
  // MTA want the rest, and on 2 cores one I/O thread spent 10 % less CPU and 1.7 fewer context
  // switches per message than two (bench/README.md, "issue #15, host CPU cuts").
  unsigned IoThreads() const;
};

// --listen, --socket-mode, --socket-owner: the address a milter or policy host listens on.
struct ListenFlags {
  std::string listen;
  std::string socket_mode;
  std::string socket_owner;

  void Add(CLI::App& app, const std::string& listen_help);
  // `listen` (or `fallback` when the flag was not given) with the socket flags applied; throws
  // std::runtime_error naming the flag on a bad value.
  ListenAddress Resolve(const std::string& fallback) const;
};

// The default logger named `name` on stderr, at the flags' level and format.
void SetUpLogging(const std::string& name, const CommonFlags& flags);

// The sink's options: from --sink-config, else from `config_file`'s sink: section when it has
// one; --dispatcher overrides the target.
sink::SinkOptions LoadSinkOptions(const CommonFlags& flags, const std::string& config_file = "");

// The Prometheus endpoint on --metrics-listen (none when empty), serving `registry`.
std::unique_ptr<prometheus::Exposer> StartMetrics(
    const CommonFlags& flags, const std::shared_ptr<prometheus::Registry>& registry);

struct RunSteps {
  std::function<void()> stop_accepting;  // see DrainSteps
  std::function<uint64_t()> in_flight;
};

// Takes SIGTERM/SIGINT (a drain of at most `max_drain`), then writes the ready file with `bound`
// (ready only once a signal gets a drain), then runs `pool` until the drain ends. Throws
// std::runtime_error when the ready file cannot be written.
void RunHost(IoPool& pool, std::chrono::milliseconds max_drain, const CommonFlags& flags,
             const std::string& bound, RunSteps steps);

}  // namespace smtpbridge::host
