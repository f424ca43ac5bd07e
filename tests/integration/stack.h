// Real processes for the integration tests: example workers and dispatchers on loopback, port 0.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "smtpbridge/v1/dispatcher.grpc.pb.h"
#include "support/metrics_scrape.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace smtpbridge::integration {

// A started server: its process and the host:port it reported in its ready file.
using Server = testing::ReadyServer;

// Paths of the binaries under test: $SMTPBRIDGE_DISPATCHER_BIN / $SMTPBRIDGE_EXAMPLE_WORKER_BIN
// when set, else the targets' paths from this build ($<TARGET_FILE:...>).
std::filesystem::path DispatcherBinary();
std::filesystem::path ExampleWorkerBinary();
std::filesystem::path PolicydBinary();  // $SMTPBRIDGE_POLICYD_BIN

// Starts smtpbridge-example-worker with `args` on 127.0.0.1:0 (its log in dir/NAME.log, at
// "warn" unless `args` set --log-level). Throws when it does not come up.
Server StartExampleWorker(const testing::TempDir& dir, const std::string& name,
                          std::vector<std::string> args);

// Starts smtpbridge-dispatcher on `listen` (127.0.0.1:0 by default) with a bindings file.
Server StartDispatcher(const testing::TempDir& dir, const std::filesystem::path& bindings,
                       const std::string& name, const std::string& listen = "127.0.0.1:0");

// One binding of the bindings YAML.
struct BindingSpec {
  std::string name;
  std::string sink;  // host:port of a worker
  std::string event = "INBOUND_COMMAND";
  std::string rule = "RCPT";
  int priority = 24575;
  std::string timeout = "1s";
  std::string on_error = "continue";
  std::string mode = "enforce";
  std::map<std::string, std::string> properties{};
};

std::string BindingsYaml(const std::vector<BindingSpec>& bindings);
// Writes the file through a temporary and a rename, as a ConfigMap update or an editor would.
void WriteAtomically(const std::filesystem::path& path, const std::string& content);

// An inbound RCPT event for `recipient` on instance 1, with `budget`.
v1::Event RcptEvent(const std::string& recipient, std::chrono::milliseconds budget);

// One Postfix policy delegation request (protocol_state=RCPT, for `recipient`) to a policyd on
// 127.0.0.1:port; the "action=..." line of the answer ("" on failure).
std::string PolicyRequest(int port, const std::string& recipient);

// Metrics scraping (tests/support/metrics_scrape.h), where the integration tests look for it.
using testing::HttpGet;
using testing::MetricSum;

// A raw Dispatcher stub (no sink in between).
std::unique_ptr<v1::Dispatcher::Stub> DispatcherStub(const std::string& address);

}  // namespace smtpbridge::integration

#include "smtpbridge/sink/sink_factory.h"

namespace smtpbridge::integration {

// Sink options for tests: the real factory's defaults, aimed at `dispatcher_address`, with the
// interests refresh off (these tests send only events they bound).
sink::SinkOptions TestSinkOptions(const std::string& dispatcher_address);

// Evaluate through the sink and wait for the callback; nullopt when the sink never answered
// (which the sink's contract forbids, so tests treat it as a failure).
std::optional<sink::Evaluation> EvaluateAndWait(sink::Sink& sink, v1::Event event,
                                                std::chrono::milliseconds budget);

// The example workers the tests share, started on first use and stopped at exit.
class Workers {
 public:
  // Rejects blocked@* at once.
  static const Server& Fast();
  // Rejects blocked@*, 50 ms later.
  static const Server& Slow();
  // Never answers.
  static const Server& Hanging();
  // Answers every event with UNAVAILABLE.
  static const Server& Failing();
};

}  // namespace smtpbridge::integration
