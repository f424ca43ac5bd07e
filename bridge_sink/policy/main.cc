// smtpbridge-policyd: a Postfix SMTPD access policy delegation server that turns policy
// requests into smtpbridge events. Thin: flags, objects, run.
#include <csignal>
#include <fstream>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "smtpbridge/common/log_format.h"
#include "host/duration_flag.h"
#include "host/io_pool.h"
#include "host/signal_drain.h"
#include "policy/policy_server.h"
#include "smtpbridge/common/ready_file.h"
#include "smtpbridge/sink/sink_factory.h"
#include "smtpbridge/v1/names.h"

int main(int argc, char** argv) {
  using namespace smtpbridge;
  CLI::App app{"smtpbridge Postfix policy delegation host"};
  std::string listen = "127.0.0.1:10040", dispatcher, sink_config, ready_file, metrics_listen;
  std::string budget = "100ms", log_level = "info", host_name, drain = "10s", idle = "10m", write = "1m";
  int instance = 1;
  unsigned threads = 2;
  app.add_option("--listen", listen, "HOST:PORT or unix:/path (port 0: any)");
  std::string socket_mode, socket_owner;
  app.add_option("--socket-mode", socket_mode, "unix socket permissions, octal, e.g. 0660 (the MTA must be able to connect)");
  app.add_option("--socket-owner", socket_owner, "unix socket USER[:GROUP] or :GROUP (names or ids)");
  app.add_option("--dispatcher", dispatcher, "dispatcher gRPC target (overrides the sink config)");
  app.add_option("--sink-config", sink_config, "YAML file with a sink: section");
  app.add_option("--ready-file", ready_file, "written with the bound address once listening");
  app.add_option("--budget", budget, "budget of each event, e.g. 100ms");
  app.add_option("--idle-timeout", idle, "close a connection that sends no request for this long")->capture_default_str();
  app.add_option("--write-timeout", write, "close a connection that does not read an answer for this long")
      ->capture_default_str();
  app.add_option("--instance", instance, "SMTP virtual server instance (>= 1)")->check(CLI::Range(1, 1 << 30));
  app.add_option("--host-name", host_name, "SessionContext.host_name");
  app.add_option("--threads", threads, "I/O threads (one event loop each; connections spread across them)")->check(CLI::Range(1u, 64u));
  app.add_option("--drain-timeout", drain, "on SIGTERM, how long requests in flight may take to finish")->capture_default_str();
  app.add_option("--metrics-listen", metrics_listen, "Prometheus HOST:PORT (off when empty)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off");
  std::string log_format = "text";
  app.add_option("--log-format", log_format, "text, or json: one JSON object per log line")
      ->check(CLI::IsMember({"text", "json"}));
  CLI11_PARSE(app, argc, argv);

  spdlog::set_default_logger(spdlog::stderr_color_mt("policyd"));
  spdlog::set_level(spdlog::level::from_str(log_level));
  if (log_format == "json") smtpbridge::logging::SetFormat("json");
  try {
    policy::PolicyServerOptions options;
    options.budget = host::DurationFlag(budget, "--budget");
    options.idle_timeout = host::MillisecondsFlag(idle, "--idle-timeout");
    options.write_timeout = host::MillisecondsFlag(write, "--write-timeout");
    const auto drain_timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(host::DurationFlag(drain, "--drain-timeout"));
    options.mapping.instance = static_cast<uint32_t>(instance);
    options.mapping.host_name = host_name;
    std::string error;
    auto address = host::ParseListenAddress(listen, &error);
    if (!address) throw std::runtime_error(error);
    if (!socket_mode.empty()) {
      address->mode = host::ParseSocketMode(socket_mode, &error);
      if (!address->mode) throw std::runtime_error("--socket-mode: " + error);
    }
    if (!socket_owner.empty()) host::ParseSocketOwner(socket_owner, &*address);
    if ((address->mode || !socket_owner.empty()) && !address->is_unix) {
      throw std::runtime_error("--socket-mode/--socket-owner need --listen unix:PATH");
    }

    sink::SinkOptions sink_options;
    if (!sink_config.empty()) sink_options = sink::LoadSinkOptions(sink_config);
    if (!dispatcher.empty()) sink_options.dispatcher_target = dispatcher;
    std::unique_ptr<prometheus::Exposer> exposer;
    if (!metrics_listen.empty()) {
      auto registry = std::make_shared<prometheus::Registry>();
      exposer = std::make_unique<prometheus::Exposer>(metrics_listen);
      exposer->RegisterCollectable(registry);
      sink_options.metrics_registry = registry;
    }
    auto the_sink = sink::MakeSink(sink_options);

    host::IoPool io_pool(threads);
    auto& io = io_pool.main();
    policy::PolicyServer server(io, io_pool.connections(), *the_sink, options);
    const std::string bound = server.Listen(*address);
    spdlog::info("policyd listening on {} (dispatcher {}, budget {}us)", bound, sink_options.dispatcher_target,
                 options.budget.count());
    // SIGTERM is ours before the ready file says so: a supervisor that stops us right away gets a drain.
    host::SignalDrain signal_drain(io, drain_timeout,
                                   {.stop_accepting = [&] { server.StopAccepting(); },
                                    .in_flight = [&] { return server.stats().in_flight.count(); },
                                    .finish = [&] { io_pool.Stop(); }});
    if (std::string error; !ready_file.empty() && !common::WriteReadyFile(ready_file, bound, &error)) {
      throw std::runtime_error(error);
    }
    io_pool.Run();
    // Nothing is in flight any more (or the drain deadline passed): what is left answers from the
    // fallback at once.
    the_sink->Shutdown();
    spdlog::info("policyd stopped: {} connections, {} requests, {} protocol errors, {} idle and {} write "
                 "timeouts",
                 server.stats().connections.load(), server.stats().requests.load(),
                 server.stats().protocol_errors.load(), server.stats().idle_timeouts.load(),
                 server.stats().write_timeouts.load());
    return 0;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
