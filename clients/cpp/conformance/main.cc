// smtpbridge-conformance-worker-cpp: the C++ SDK's worker for the shared conformance suite
// (tests/vectors/SPEC.md). One handler per event type, verdicts from sink_properties.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "conformance_verdict.h"
#include "smtpbridge/common/ready_file.h"
#include "smtpbridge/worker/worker.h"

int main(int argc, char** argv) {
  CLI::App app{"smtpbridge C++ conformance worker"};
  std::string listen = "127.0.0.1:0";
  std::string ready_file;
  std::string log_level = "info";
  app.add_option("--listen", listen, "host:port to listen on (port 0: any free port)");
  app.add_option("--ready-file", ready_file, "write the bound host:port here once listening");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  CLI11_PARSE(app, argc, argv);
  spdlog::set_default_logger(spdlog::stderr_color_mt("conformance-worker-cpp"));
  spdlog::set_level(spdlog::level::from_str(log_level));

  namespace v1 = smtpbridge::v1;
  smtpbridge::worker::WorkerOptions options;
  options.name = "conformance-cpp";
  smtpbridge::worker::Worker worker(options);
  for (int t = v1::EventType_MIN; t <= v1::EventType_MAX; ++t) {
    if (t == v1::EVENT_TYPE_UNSPECIFIED || !v1::EventType_IsValid(t)) continue;
    worker.On(static_cast<v1::EventType>(t), smtpbridge::conformance::BuildConformanceVerdict);
  }
  worker.OnReady([&](const std::string& host_port, int) {
    if (!ready_file.empty()) smtpbridge::common::WriteReadyFile(ready_file, host_port);
  });
  try {
    worker.Serve(listen);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
  return 0;
}
