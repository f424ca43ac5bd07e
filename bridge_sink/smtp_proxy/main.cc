// smtpbridge-proxy: the before-queue SMTP proxy host. Thin: flags, objects, run (the rest is
// host/host_main.h).
#include <prometheus/exposer.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <thread>

#include "host/host_main.h"
#include "host/io_pool.h"
#include "proxy_config.h"
#include "proxy_server.h"
#include "smtpbridge/sink/sink_factory.h"

using namespace smtpbridge;

int main(int argc, char** argv) {
  CLI::App app{"smtpbridge-proxy: before-queue SMTP proxy firing SMTP protocol events"};
  host::CommonFlags common;
  std::string listen, next_hop, config_path;
  app.add_option("--listen", listen, "HOST:PORT to accept clients on (port 0: any)");
  app.add_option("--next-hop", next_hop, "HOST:PORT of the one next-hop MTA");
  app.add_option("--config", config_path, "proxy YAML (see docs/proxy.md)");
  common.Add(app);
  CLI11_PARSE(app, argc, argv);
  host::SetUpLogging("proxy", common);

  try {
    proxy::ProxyConfig config =
        config_path.empty() ? proxy::ProxyConfig{} : proxy::LoadProxyConfig(config_path);
    if (!listen.empty()) config.listen = listen;
    if (!next_hop.empty()) config.next_hop = next_hop;

    auto registry = std::make_shared<prometheus::Registry>();
    sink::SinkOptions sink_options = host::LoadSinkOptions(common);
    if (sink_options.host_name.empty()) sink_options.host_name = config.hostname;
    sink_options.metrics_registry = registry;
    std::unique_ptr<sink::Sink> the_sink = sink::MakeSink(sink_options);
    auto exposer = host::StartMetrics(common, registry);

    const int threads = config.threads > 0
                            ? config.threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    host::IoPool io_pool(static_cast<unsigned>(threads));
    proxy::ProxyServer server(io_pool.main(), io_pool.connections(), config, *the_sink, registry);
    const auto bound = server.Start();
    const std::string bound_text = bound.address().to_string() + ":" + std::to_string(bound.port());
    spdlog::info("listening on {}, next hop {}, dispatcher {}", bound_text, config.next_hop,
                 sink_options.dispatcher_target);
    // SIGTERM/SIGINT: stop accepting, let sessions say 421 and close, then stop.
    host::RunHost(io_pool, std::chrono::seconds(10), common, bound_text,
                  {.stop_accepting = [&] { server.Stop(); },
                   .in_flight = [&] { return uint64_t(server.active_sessions()); }});
    the_sink->Shutdown();
    spdlog::info("stopped");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "smtpbridge-proxy: " << e.what() << "\n";
    return 1;
  }
}
