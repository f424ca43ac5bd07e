// smtpbridge-dispatcher: parse flags, build the DispatcherApp, run until SIGTERM/SIGINT.
// SIGHUP reloads the bindings. Exit codes: 0 clean stop, 1 cannot start, 2 invalid bindings.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "server/dispatcher_app.h"
#include "smtpbridge/common/log_format.h"
#include "smtpbridge/common/ready_file.h"
#include "smtpbridge/v1/names.h"

namespace {

using smtpbridge::dispatcher::AppOptions;

// --tls-* (this server: mutual TLS) and --worker-tls-* (the default for calls to workers).
// A group turns on when any of its files is given; docs/security.md.
void AddTlsFlags(CLI::App& cli, AppOptions& options, std::string& refresh) {
  cli.add_option("--tls-cert", options.tls.cert_file,
                 "serve mutual TLS: this server's certificate chain (PEM)")
      ->group("TLS");
  cli.add_option("--tls-key", options.tls.key_file, "serve mutual TLS: its private key (PEM)")
      ->group("TLS");
  cli.add_option("--tls-client-ca", options.tls.ca_file,
                 "serve mutual TLS: CA that signs the client certificates accepted (required)")
      ->group("TLS");
  cli.add_option("--worker-tls-ca", options.worker_tls.ca_file,
                 "TLS to workers: CA that signs their certificates (default: the system's roots)")
      ->group("TLS");
  cli.add_option("--worker-tls-cert", options.worker_tls.cert_file,
                 "TLS to workers: the dispatcher's client certificate (PEM)")
      ->group("TLS");
  cli.add_option("--worker-tls-key", options.worker_tls.key_file,
                 "TLS to workers: its private key (PEM)")
      ->group("TLS");
  cli.add_option("--worker-tls-server-name", options.worker_tls.server_name,
                 "TLS to workers: name their certificates carry, instead of the target's host")
      ->group("TLS");
  cli.add_flag("--worker-tls", options.worker_tls.enabled,
               "TLS to workers with the system's roots (implied by any --worker-tls-* file)")
      ->group("TLS");
  cli.add_option("--tls-refresh-interval", refresh,
                 "how often certificate, key and CA files are re-read (rotation without restart)")
      ->capture_default_str()
      ->group("TLS");
}

bool FinishTlsFlags(AppOptions& options, const std::string& refresh) {
  const auto d = smtpbridge::v1::ParseDurationText(refresh);
  if (!d || *d < std::chrono::seconds(1)) {
    std::cerr << "--tls-refresh-interval takes a duration of at least 1s, like \"60s\"\n";
    return false;
  }
  const auto interval = std::chrono::duration_cast<std::chrono::seconds>(*d);
  options.tls.refresh_interval = options.worker_tls.refresh_interval = interval;
  options.tls.enabled = !options.tls.cert_file.empty() || !options.tls.key_file.empty() ||
                        !options.tls.ca_file.empty();
  options.worker_tls.enabled = options.worker_tls.enabled || !options.worker_tls.ca_file.empty() ||
                               !options.worker_tls.cert_file.empty() ||
                               !options.worker_tls.key_file.empty();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using smtpbridge::dispatcher::DispatcherApp;

  AppOptions options;
  std::string ready_file;
  std::string log_level = "info";
  std::string log_format = "text";
  std::string watch = "1s";
  std::string drain = "5s";
  std::string max_age = "0";
  std::string max_age_grace = "0";
  CLI::App cli{
      "smtpbridge dispatcher: fans SMTP events out to policy workers by binding and "
      "returns the priority-merged verdict"};
  cli.add_option("--listen", options.listen,
                 "gRPC listen address HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  cli.add_option("--bindings", options.bindings_path, "bindings YAML file (see docs/bindings.md)")
      ->required();
  cli.add_option("--ready-file", ready_file,
                 "once listening, write the bound HOST:PORT and a newline to this file");
  cli.add_option("--metrics-listen", options.metrics_listen,
                 "serve Prometheus metrics on HOST:PORT (off when empty)");
  std::string argv_token, token_file;
  cli.add_option("--admin-token", argv_token,
                 "refused: use --admin-token-file or SMTPBRIDGE_ADMIN_TOKEN");
  cli.add_option(
      "--admin-token-file", token_file,
      "file holding the admin token (default: the SMTPBRIDGE_ADMIN_TOKEN environment "
      "variable); Admin calls and test events then need \"authorization: Bearer TOKEN\"");
  cli.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  cli.add_option("--log-format", log_format, "text, or json: one JSON object per log line")
      ->check(CLI::IsMember({"text", "json"}));
  cli.add_option("--watch-interval", watch,
                 "how often to check the bindings file for changes (0: only SIGHUP/Admin.Reload)")
      ->capture_default_str();
  cli.add_option("--drain-timeout", drain,
                 "on SIGTERM, how long in-flight events may take to finish")
      ->capture_default_str();
  cli.add_option("--max-connection-age", max_age,
                 "close client connections older than this (GOAWAY), so clients re-resolve their "
                 "dns:/// name and find new replicas (0: never; docs/scaling.md)")
      ->capture_default_str();
  cli.add_option("--max-connection-age-grace", max_age_grace,
                 "after --max-connection-age, how long calls and streams in flight may finish")
      ->capture_default_str();
  cli.add_option("--cache-entries", options.cache_entries, "verdict cache size (0: no cache)")
      ->capture_default_str();
  cli.add_option("--threads", options.threads,
                 "threads serving every gRPC method and the worker calls (one completion queue "
                 "each; 0: half the cores, at least 1)")
      ->capture_default_str();
  cli.add_option("--decision-log", options.decision_log.path,
                 "write one JSON line per decision to this file (\"-\": stdout; off when empty)")
      ->group("Decision log");
  cli.add_option("--decision-log-sample", options.decision_log.sample_rate,
                 "fraction of decisions logged, 0..1")
      ->capture_default_str()
      ->group("Decision log");
  cli.add_option("--decision-log-max-per-second", options.decision_log.max_per_second,
                 "at most this many lines a second (0: no cap)")
      ->capture_default_str()
      ->group("Decision log");
  cli.add_flag("--decision-log-hash-addresses", options.decision_log.hash_addresses,
               "log envelope addresses as sha256 prefixes instead of in clear")
      ->group("Decision log");
  std::string tls_refresh = "60s";
  AddTlsFlags(cli, options, tls_refresh);
  cli.add_flag("--reflection,!--no-reflection", options.reflection,
               "serve gRPC server reflection (grpcurl without .proto files); on by default, "
               "--no-reflection turns it off");
  // Admission control (docs/overload.md).
  cli.add_option("--max-in-flight", options.admission.max_in_flight,
                 "events held at once; more are answered at once as shed (0: unlimited)")
      ->capture_default_str();
  cli.add_option("--pool-concurrency-limit", options.admission.pool_limit,
                 "worker calls in flight per worker pool (binding target); an event needing a "
                 "full pool is shed (0: unlimited; with --adaptive-concurrency, the cap)")
      ->capture_default_str();
  // Worker pools (docs/overload.md).
  std::string ejection = "1s";
  std::string reresolve = "5s";
  cli.add_option("--outlier-failures", options.pools.outlier.consecutive_failures,
                 "failures or timeouts in a row that eject a worker replica (0: never eject)")
      ->capture_default_str();
  cli.add_option("--outlier-ejection", ejection,
                 "how long a first ejection lasts (x times ejected, 30x at most)")
      ->capture_default_str();
  cli.add_option("--outlier-max-ejected-percent", options.pools.outlier.max_ejection_percent,
                 "most of a pool's replicas out at once (at least one of two, never all)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  cli.add_option("--worker-reresolve", reresolve,
                 "how often dns worker targets are resolved again (0: only when every replica "
                 "failed)")
      ->capture_default_str();
  std::string worker_transport = "stream";
  cli.add_option("--worker-transport", worker_transport,
                 "stream: batched OnEvents stream per worker replica (unary OnEvent for a worker "
                 "without it); unary: one OnEvent call per event (benches, debugging)")
      ->capture_default_str()
      ->check(CLI::IsMember({"stream", "unary"}));
  cli.add_flag("--adaptive-concurrency", options.admission.adaptive,
               "adapt each worker pool's concurrency limit to its latency (a gradient controller; "
               "--pool-concurrency-limit caps it); off by default");
  CLI11_PARSE(cli, argc, argv);
  options.pools.transport = worker_transport == "unary"
                                ? smtpbridge::dispatcher::WorkerTransport::kUnary
                                : smtpbridge::dispatcher::WorkerTransport::kStream;

  auto logger = spdlog::stderr_color_mt("dispatcher");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));
  smtpbridge::logging::SetFormat(log_format);

  const auto watch_d = smtpbridge::v1::ParseDurationText(watch);
  const auto drain_d = smtpbridge::v1::ParseDurationText(drain);
  if (!watch_d || !drain_d) {
    std::cerr << "--watch-interval and --drain-timeout take durations like \"1s\" or \"500ms\"\n";
    return 1;
  }
  options.watch_interval = std::chrono::duration_cast<std::chrono::milliseconds>(*watch_d);
  const auto ejection_d = smtpbridge::v1::ParseDurationText(ejection);
  const auto reresolve_d = smtpbridge::v1::ParseDurationText(reresolve);
  if (!ejection_d || !reresolve_d || ejection_d->count() <= 0) {
    std::cerr << "--outlier-ejection and --worker-reresolve take durations like \"1s\"\n";
    return 1;
  }
  options.pools.outlier.base_ejection =
      std::chrono::duration_cast<std::chrono::milliseconds>(*ejection_d);
  options.pools.outlier.max_ejection = options.pools.outlier.base_ejection * 30;
  options.pools.reresolve_interval =
      std::chrono::duration_cast<std::chrono::milliseconds>(*reresolve_d);
  options.drain_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*drain_d);
  const auto age_d = smtpbridge::v1::ParseDurationText(max_age);
  const auto grace_d = smtpbridge::v1::ParseDurationText(max_age_grace);
  if (!age_d || !grace_d) {
    std::cerr << "--max-connection-age and --max-connection-age-grace take durations like \"5m\" "
                 "or \"0\"\n";
    return 1;
  }
  options.max_connection_age = std::chrono::duration_cast<std::chrono::milliseconds>(*age_d);
  options.max_connection_age_grace =
      std::chrono::duration_cast<std::chrono::milliseconds>(*grace_d);
  if (!FinishTlsFlags(options, tls_refresh)) return 1;
  if (!argv_token.empty()) {
    std::cerr << "smtpbridge-dispatcher: " << smtpbridge::dispatcher::kAdminTokenArgvRefused
              << "\n";
    return 1;
  }
  if (std::string e;
      !smtpbridge::dispatcher::LoadAdminToken(token_file, &options.admin_token, &e)) {
    std::cerr << "smtpbridge-dispatcher: " << e << "\n";
    return 1;
  }

  // Block the signals in every thread (gRPC's included, so block before any start); this
  // thread takes them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::vector<std::string> errors;
  auto app = DispatcherApp::Create(options, &errors);
  if (!app) {
    for (const auto& e : errors) std::cerr << e << "\n";
    std::cerr << "smtpbridge-dispatcher: not starting: " << errors.size() << " error(s)\n";
    // Exit 2 is for invalid bindings; an address that cannot be bound is 1, like --listen.
    const bool cannot_bind = errors.size() == 1 && errors[0].rfind("--metrics-listen", 0) == 0;
    return cannot_bind ? 1 : 2;
  }
  std::string error;
  if (!app->Start(&error)) {
    std::cerr << "smtpbridge-dispatcher: " << error << "\n";
    return 1;
  }
  if (!app->metrics_address().empty())
    spdlog::info("metrics on http://{}/metrics", app->metrics_address());
  if (!ready_file.empty() && !smtpbridge::common::WriteReadyFile(ready_file, app->address())) {
    std::cerr << "smtpbridge-dispatcher: cannot write " << ready_file << "\n";
    app->Shutdown();
    return 1;
  }

  while (true) {
    int signo = 0;
    if (sigwait(&signals, &signo) != 0) continue;
    if (signo == SIGHUP) {
      spdlog::info("SIGHUP: reloading bindings");
      app->Reload();
      continue;
    }
    spdlog::info("{}: draining and stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  if (!app->Shutdown()) {
    // Work still running holds pointers into the app; leave without unwinding it.
    spdlog::default_logger()->flush();
    std::_Exit(0);
  }
  app.reset();
  spdlog::info("stopped");
  return 0;
}
