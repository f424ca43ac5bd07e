// smtpbridge-proxy: the before-queue SMTP proxy host. Thin: flags, objects, run.
#include <CLI/CLI.hpp>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <csignal>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "host/io_pool.h"
#include "host/signal_drain.h"
#include "proxy_config.h"
#include "proxy_server.h"
#include "smtpbridge/common/ready_file.h"
#include "smtpbridge/sink/sink_factory.h"

namespace asio = boost::asio;
using namespace smtpbridge;

int main(int argc, char** argv) {
  CLI::App app{"smtpbridge-proxy: before-queue SMTP proxy firing SMTP protocol events"};
  std::string listen, next_hop, dispatcher, config_path, sink_config, ready_file, metrics_listen;
  std::string log_level = "info";
  app.add_option("--listen", listen, "HOST:PORT to accept clients on (port 0: any)");
  app.add_option("--next-hop", next_hop, "HOST:PORT of the one next-hop MTA");
  app.add_option("--dispatcher", dispatcher, "gRPC target of the dispatcher, e.g. ipv4:127.0.0.1:50050");
  app.add_option("--config", config_path, "proxy YAML (see docs/proxy.md)");
  app.add_option("--sink-config", sink_config, "YAML with the sink: section (fallback, breaker, caches)");
  app.add_option("--ready-file", ready_file, "written with HOST:PORT once listening");
  app.add_option("--metrics-listen", metrics_listen, "HOST:PORT for Prometheus /metrics (off when empty)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off");
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_default_logger(spdlog::stderr_color_mt("proxy"));
  spdlog::set_level(spdlog::level::from_str(log_level));

  try {
    proxy::ProxyConfig config = config_path.empty() ? proxy::ProxyConfig{} : proxy::LoadProxyConfig(config_path);
    if (!listen.empty()) config.listen = listen;
    if (!next_hop.empty()) config.next_hop = next_hop;

    auto registry = std::make_shared<prometheus::Registry>();
    sink::SinkOptions sink_options = sink_config.empty() ? sink::SinkOptions{} : sink::LoadSinkOptions(sink_config);
    if (!dispatcher.empty()) sink_options.dispatcher_target = dispatcher;
    if (sink_options.host_name.empty()) sink_options.host_name = config.hostname;
    sink_options.metrics_registry = registry;
    std::unique_ptr<sink::Sink> the_sink = sink::MakeSink(sink_options);

    std::unique_ptr<prometheus::Exposer> exposer;
    if (!metrics_listen.empty()) {
      exposer = std::make_unique<prometheus::Exposer>(metrics_listen);
      exposer->RegisterCollectable(registry);
    }

    const int threads = config.threads > 0 ? config.threads
                                           : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    host::IoPool io_pool(static_cast<unsigned>(threads));
    auto& io = io_pool.main();
    proxy::ProxyServer server(io, io_pool.connections(), config, *the_sink, registry);
    const auto bound = server.Start();
    const std::string bound_text = bound.address().to_string() + ":" + std::to_string(bound.port());
    spdlog::info("listening on {}, next hop {}, dispatcher {}", bound_text, config.next_hop,
                 sink_options.dispatcher_target);

    // SIGTERM/SIGINT: stop accepting, let sessions say 421 and close, then stop.
    host::SignalDrain signal_drain(io, std::chrono::seconds(10),
                                   {.stop_accepting = [&] { server.Stop(); },
                                    .in_flight = [&] { return uint64_t(server.active_sessions()); },
                                    .finish = [&] { io_pool.Stop(); }});
    // Ready only once SIGTERM is ours: a supervisor that stops us right after the ready file
    // appears must get a drain, not the default action.
    if (std::string error; !ready_file.empty() && !common::WriteReadyFile(ready_file, bound_text, &error)) {
      throw std::runtime_error(error);
    }

    io_pool.Run();
    the_sink->Shutdown();
    spdlog::info("stopped");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "smtpbridge-proxy: " << e.what() << "\n";
    return 1;
  }
}
