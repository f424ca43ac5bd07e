// smtpbridge-example-worker: a configurable policy worker for demos, tests and benchmarks.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "example_policy.h"
#include "smtpbridge/common/log_format.h"
#include "smtpbridge/common/ready_file.h"
#include "smtpbridge/v1/names.h"
#include "smtpbridge/worker/worker.h"

int main(int argc, char** argv) {
  CLI::App app{"smtpbridge example policy worker"};
  std::string listen = "127.0.0.1:50051";
  std::string ready_file;
  std::string log_level = "info";
  std::string add_header;
  std::string delay = "0";
  std::string cache_ttl = "0";
  std::string max_age = "0";
  std::string max_age_grace = "0";
  std::string drain = "10s";
  smtpbridge::example::ExamplePolicyOptions options;
  // Each flag falls back to the environment, as in every SDK (docs/sdk.md).
  app.add_option("--listen", listen, "host:port to listen on (port 0: any free port)")
      ->envname("SMTPBRIDGE_LISTEN");
  app.add_option("--ready-file", ready_file, "write the bound host:port here once listening")
      ->envname("SMTPBRIDGE_READY_FILE");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off")
      ->envname("SMTPBRIDGE_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  std::string log_format = "text";
  app.add_option("--log-format", log_format, "text, or json: one JSON object per log line")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--name", options.name, "name used in logs");
  app.add_option("--reject-rcpt", options.reject_rcpt,
                 "reject recipients matching this glob (repeatable), e.g. blocked@*");
  app.add_option("--add-header", add_header,
                 "add this header at end of data, e.g. \"X-Policy: checked\"");
  app.add_option("--delay", delay, "answer every event this much later, e.g. 5ms");
  app.add_option("--fail-rate", options.fail_rate, "fraction of events answered with UNAVAILABLE")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option(
      "--cache-ttl", cache_ttl,
      "let the dispatcher and sinks reuse every verdict (but _EOD's) this long, e.g. 10s");
  smtpbridge::tls::TlsOptions tls;
  app.add_option("--tls-cert", tls.cert_file, "serve mutual TLS: certificate chain (PEM)")
      ->envname("SMTPBRIDGE_TLS_CERT")
      ->group("TLS");
  app.add_option("--tls-key", tls.key_file, "serve mutual TLS: private key (PEM)")
      ->envname("SMTPBRIDGE_TLS_KEY")
      ->group("TLS");
  app.add_option("--tls-client-ca", tls.ca_file,
                 "serve mutual TLS: CA of the accepted client certificates")
      ->envname("SMTPBRIDGE_TLS_CLIENT_CA")
      ->group("TLS");
  app.add_option("--max-connection-age", max_age,
                 "close connections older than this, so dispatchers find new replicas (0: never)");
  app.add_option("--max-connection-age-grace", max_age_grace,
                 "after --max-connection-age, how long calls in flight may finish");
  app.add_option("--drain-timeout", drain, "on SIGTERM, how long calls in flight may finish")
      ->capture_default_str();
  app.add_flag("--hang", options.hang, "never answer (calls end when cancelled or at shutdown)");
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("example-worker");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));
  if (log_format == "json") smtpbridge::logging::SetFormat("json");

  const auto parsed_delay = smtpbridge::v1::ParseDurationText(delay);
  if (!parsed_delay) {
    std::fprintf(stderr, "--delay: cannot parse '%s' (examples: 5ms, 250us, 1s)\n", delay.c_str());
    return 2;
  }
  options.delay = *parsed_delay;
  const auto parsed_ttl = smtpbridge::v1::ParseDurationText(cache_ttl);
  if (!parsed_ttl || parsed_ttl->count() < 0) {
    std::fprintf(stderr, "--cache-ttl: cannot parse '%s' (examples: 10s, 500ms)\n",
                 cache_ttl.c_str());
    return 2;
  }
  options.cache_ttl = *parsed_ttl;
  const auto parsed_age = smtpbridge::v1::ParseDurationText(max_age);
  const auto parsed_grace = smtpbridge::v1::ParseDurationText(max_age_grace);
  const auto parsed_drain = smtpbridge::v1::ParseDurationText(drain);
  if (!parsed_drain || parsed_drain->count() < 0) {
    std::fprintf(stderr, "--drain-timeout: cannot parse '%s' (examples: 10s, 500ms)\n",
                 drain.c_str());
    return 2;
  }
  if (!parsed_age || !parsed_grace) {
    std::fprintf(stderr, "--max-connection-age(-grace): cannot parse (examples: 5m, 30s, 0)\n");
    return 2;
  }
  if (!add_header.empty()) {
    options.add_header = smtpbridge::example::ParseHeaderFlag(add_header);
    if (!options.add_header) {
      std::fprintf(stderr, "--add-header: expected \"Name: value\", got '%s'\n",
                   add_header.c_str());
      return 2;
    }
  }

  try {
    smtpbridge::example::ExamplePolicy policy(options);
    smtpbridge::worker::WorkerOptions worker_options;
    worker_options.name = options.name;
    worker_options.tls = tls;
    worker_options.drain_timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(*parsed_drain);
    worker_options.tls.enabled =
        !tls.cert_file.empty() || !tls.key_file.empty() || !tls.ca_file.empty();
    worker_options.max_connection_age =
        std::chrono::duration_cast<std::chrono::milliseconds>(*parsed_age);
    worker_options.max_connection_age_grace =
        std::chrono::duration_cast<std::chrono::milliseconds>(*parsed_grace);
    smtpbridge::worker::Worker worker(worker_options);
    policy.Register(worker);
    worker.OnReady([&](const std::string& host_port, int) {
      if (!ready_file.empty()) smtpbridge::common::WriteReadyFile(ready_file, host_port);
    });
    worker.Serve(listen);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
  return 0;
}
