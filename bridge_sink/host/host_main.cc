#include "host/host_main.h"

#include <prometheus/exposer.h>
#include <prometheus/registry.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <stdexcept>
#include <thread>

#include "host/duration_flag.h"
#include "smtpbridge/common/log_format.h"
#include "smtpbridge/common/ready_file.h"

namespace smtpbridge::host {

void CommonFlags::Add(CLI::App& app) {
  app.add_option("--dispatcher", dispatcher, "dispatcher gRPC target (overrides the sink config)");
  app.add_option("--sink-config", sink_config, "YAML file with a sink: section");
  app.add_option("--ready-file", ready_file, "written with the bound address once listening");
  app.add_option("--metrics-listen", metrics_listen, "Prometheus HOST:PORT (off when empty)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off");
  app.add_option("--log-format", log_format, "text, or json: one JSON object per log line")
      ->check(CLI::IsMember({"text", "json"}));
}

void CommonFlags::AddThreadsAndDrain(CLI::App& app, const std::string& in_flight) {
  app.add_option("--threads", threads,
                 "I/O threads (one event loop each; connections spread across them); "
                 "0: half the cores, at least one")
      ->check(CLI::Range(0u, 64u))
      ->capture_default_str();
  app.add_option("--drain-timeout", drain_timeout,
                 "on SIGTERM, how long " + in_flight + " in flight may take to finish")
      ->capture_default_str();
}

std::chrono::milliseconds CommonFlags::DrainTimeout() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      DurationFlag(drain_timeout, "--drain-timeout"));
}

unsigned CommonFlags::IoThreads() const {
  return threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency() / 2);
}

void ListenFlags::Add(CLI::App& app, const std::string& listen_help) {
  app.add_option("--listen", listen, listen_help);
  app.add_option("--socket-mode", socket_mode,
                 "unix socket permissions, octal, e.g. 0660 (the MTA must be able to connect)");
  app.add_option("--socket-owner", socket_owner,
                 "unix socket USER[:GROUP] or :GROUP (names or ids)");
}

ListenAddress ListenFlags::Resolve(const std::string& fallback) const {
  std::string error;
  auto address = ParseListenAddress(listen.empty() ? fallback : listen, &error);
  if (!address) throw std::runtime_error(error);
  if (!socket_mode.empty()) {
    address->mode = ParseSocketMode(socket_mode, &error);
    if (!address->mode) throw std::runtime_error("--socket-mode: " + error);
  }
  if (!socket_owner.empty()) ParseSocketOwner(socket_owner, &*address);
  if ((address->mode || !socket_owner.empty()) && !address->is_unix) {
    throw std::runtime_error("--socket-mode/--socket-owner need --listen unix:PATH");
  }
  return *address;
}

void SetUpLogging(const std::string& name, const CommonFlags& flags) {
  spdlog::set_default_logger(spdlog::stderr_color_mt(name));
  if (flags.log_format == "json") logging::SetFormat("json");
  spdlog::set_level(spdlog::level::from_str(flags.log_level));
}

sink::SinkOptions LoadSinkOptions(const CommonFlags& flags, const std::string& config_file) {
  sink::SinkOptions options;
  if (!flags.sink_config.empty()) {
    options = sink::LoadSinkOptions(flags.sink_config);
  } else if (!config_file.empty() && YAML::LoadFile(config_file)["sink"]) {
    options = sink::LoadSinkOptions(config_file);
  }
  if (!flags.dispatcher.empty()) options.dispatcher_target = flags.dispatcher;
  return options;
}

std::unique_ptr<prometheus::Exposer> StartMetrics(
    const CommonFlags& flags, const std::shared_ptr<prometheus::Registry>& registry) {
  if (flags.metrics_listen.empty()) return nullptr;
  auto exposer = std::make_unique<prometheus::Exposer>(flags.metrics_listen);
  exposer->RegisterCollectable(registry);
  return exposer;
}

void RunHost(IoPool& pool, std::chrono::milliseconds max_drain, const CommonFlags& flags,
             const std::string& bound, RunSteps steps) {
  // SIGTERM is ours before the ready file says so: a supervisor that stops us right away gets a
  // drain.
  SignalDrain drain(pool.main(), max_drain,
                    {.stop_accepting = std::move(steps.stop_accepting),
                     .in_flight = std::move(steps.in_flight),
                     .finish = [&pool] { pool.Stop(); }});
  if (std::string error;
      !flags.ready_file.empty() && !common::WriteReadyFile(flags.ready_file, bound, &error)) {
    throw std::runtime_error(error);
  }
  pool.Run();
}

}  // namespace smtpbridge::host
