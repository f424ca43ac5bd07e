// smtpbridge-policyd: a Postfix SMTPD access policy delegation server that turns policy
// requests into smtpbridge events. Thin: flags, objects, run (the rest is host/host_main.h).
#include <prometheus/exposer.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "host/duration_flag.h"
#include "host/host_main.h"
#include "host/io_pool.h"
#include "policy/policy_server.h"
#include "smtpbridge/sink/sink_factory.h"

int main(int argc, char** argv) {
  using namespace smtpbridge;
  CLI::App app{"smtpbridge Postfix policy delegation host"};
  host::CommonFlags common;
  host::ListenFlags listen;
  std::string budget = "100ms", host_name, idle = "10m", write = "1m";
  int instance = 1;
  listen.Add(app, "HOST:PORT or unix:/path (port 0: any)");
  common.Add(app);
  common.AddThreadsAndDrain(app, "requests");
  app.add_option("--budget", budget, "budget of each event, e.g. 100ms");
  app.add_option("--idle-timeout", idle, "close a connection that sends no request for this long")
      ->capture_default_str();
  app.add_option("--write-timeout", write,
                 "close a connection that does not read an answer for this long")
      ->capture_default_str();
  app.add_option("--instance", instance, "SMTP virtual server instance (>= 1)")
      ->check(CLI::Range(1, 1 << 30));
  app.add_option("--host-name", host_name, "SessionContext.host_name");
  CLI11_PARSE(app, argc, argv);
  host::SetUpLogging("policyd", common);

  try {
    policy::PolicyServerOptions options;
    options.budget = host::DurationFlag(budget, "--budget");
    options.idle_timeout = host::MillisecondsFlag(idle, "--idle-timeout");
    options.write_timeout = host::MillisecondsFlag(write, "--write-timeout");
    const auto drain_timeout = common.DrainTimeout();
    options.mapping.instance = static_cast<uint32_t>(instance);
    options.mapping.host_name = host_name;
    const auto address = listen.Resolve("127.0.0.1:10040");

    sink::SinkOptions sink_options = host::LoadSinkOptions(common);
    auto registry = std::make_shared<prometheus::Registry>();
    auto exposer = host::StartMetrics(common, registry);
    if (exposer) sink_options.metrics_registry = registry;
    auto the_sink = sink::MakeSink(sink_options);

    host::IoPool io_pool(common.IoThreads());
    policy::PolicyServer server(io_pool.main(), io_pool.connections(), *the_sink, options);
    const auto server_metrics = server.Metrics();  // the exposer holds it weakly
    if (exposer) exposer->RegisterCollectable(server_metrics);
    const std::string bound = server.Listen(address);
    spdlog::info("policyd listening on {} (dispatcher {}, budget {}us)", bound,
                 sink_options.dispatcher_target, options.budget.count());
    host::RunHost(io_pool, drain_timeout, common, bound,
                  {.stop_accepting = [&] { server.StopAccepting(); },
                   .in_flight = [&] { return server.stats().in_flight.count(); }});
    // Nothing is in flight any more (or the drain deadline passed): what is left answers from the
    // fallback at once.
    the_sink->Shutdown();
    spdlog::info(
        "policyd stopped: {} connections, {} requests, {} protocol errors, {} idle and {} write "
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
