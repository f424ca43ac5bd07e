// smtpbridge-milter: a Sendmail milter (protocol v6) server for Postfix and Sendmail that turns
// milter steps into smtpbridge events. Thin: flags, objects, run (the rest is host/host_main.h).
#include <prometheus/exposer.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "host/duration_flag.h"
#include "host/host_main.h"
#include "host/io_pool.h"
#include "milter/host_config.h"
#include "milter/milter_server.h"
#include "smtpbridge/sink/sink_factory.h"

int main(int argc, char** argv) {
  using namespace smtpbridge;
  CLI::App app{"smtpbridge milter (protocol v6) host for Postfix and Sendmail"};
  host::CommonFlags common;
  host::ListenFlags listen;
  std::string config_file, budget_command, budget_eom, host_name;
  int instance = 0;
  listen.Add(app, "inet:HOST:PORT, HOST:PORT or unix:/path (port 0: any)");
  common.Add(app);
  common.AddThreadsAndDrain(app, "events");
  app.add_option("--config", config_file, "YAML file with a milter: section (and sink:)");
  app.add_option("--budget-command", budget_command, "budget of a command event, e.g. 20ms");
  app.add_option("--budget-eom", budget_eom, "budget of the end-of-message event, e.g. 200ms");
  app.add_option("--instance", instance, "SMTP virtual server instance (>= 1)");
  app.add_option("--host-name", host_name, "SessionContext.host_name (default: the MTA's j macro)");
  CLI11_PARSE(app, argc, argv);
  host::SetUpLogging("milter", common);

  try {
    const auto drain_timeout = common.DrainTimeout();
    milter::HostConfig config;
    if (!config_file.empty()) milter::LoadHostConfig(config_file, config);
    if (!budget_command.empty())
      config.server.session.command_budget = host::DurationFlag(budget_command, "--budget-command");
    if (!budget_eom.empty())
      config.server.session.eom_budget = host::DurationFlag(budget_eom, "--budget-eom");
    if (instance > 0) config.server.session.instance = static_cast<uint32_t>(instance);
    if (!host_name.empty()) config.server.session.host_name = host_name;
    const auto address = listen.Resolve(config.listen);

    sink::SinkOptions sink_options = host::LoadSinkOptions(common, config_file);
    auto registry = std::make_shared<prometheus::Registry>();
    auto exposer = host::StartMetrics(common, registry);
    if (exposer) sink_options.metrics_registry = registry;
    auto the_sink = sink::MakeSink(sink_options);

    host::IoPool io_pool(common.IoThreads());
    milter::MilterServer server(io_pool.main(), io_pool.connections(), *the_sink, config.server);
    const auto server_metrics = server.Metrics();  // the exposer holds it weakly
    if (exposer) exposer->RegisterCollectable(server_metrics);
    const std::string bound = server.Listen(address);
    spdlog::info("milter listening on {} (dispatcher {}, budgets {}us/{}us)", bound,
                 sink_options.dispatcher_target, config.server.session.command_budget.count(),
                 config.server.session.eom_budget.count());
    host::RunHost(io_pool, drain_timeout, common, bound,
                  {.stop_accepting = [&] { server.StopAccepting(); },
                   .in_flight = [&] { return server.stats().in_flight.count(); }});
    // Nothing is in flight any more (or the drain deadline passed): what is left answers from the
    // fallback at once.
    the_sink->Shutdown();
    spdlog::info(
        "milter stopped: {} connections, {} events, {} protocol errors, {} idle and {} write "
        "timeouts, {} refused edits, {} edits not granted by the MTA",
        server.stats().connections.load(), server.stats().events.load(),
        server.stats().protocol_errors.load(), server.stats().idle_timeouts.load(),
        server.stats().write_timeouts.load(), server.stats().refused_edits.load(),
        server.stats().skipped_edits.load());
    return 0;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
