// MakeSink: the only place that creates the real gRPC dispatcher client and timer thread.
#include "smtpbridge/sink/sink_factory.h"

#include <grpc/grpc.h>
#include <prometheus/registry.h>

#include <mutex>
#include <stdexcept>

#include "core/grpc_dispatcher_client.h"
#include "core/local_rules.h"
#include "core/sink_core.h"
#include "core/thread_timers.h"

namespace smtpbridge::sink {

namespace {

// gRPC tears its globals down when its last object dies and builds them again on the next use;
// gRPC 1.51 can race in that cycle (a double free in the callback completion queue was seen
// under ASan when sinks were created and destroyed back to back). A process that makes a sink
// keeps gRPC initialized for good instead.
void KeepGrpcInitialized() {
  static std::once_flag once;
  std::call_once(once, [] { grpc_init(); });
}

}  // namespace

std::unique_ptr<Sink> MakeSink(const SinkOptions& options) {
  KeepGrpcInitialized();
  if (options.dispatcher_target.empty()) {
    throw std::runtime_error("sink: the dispatcher target is empty");
  }
  LocalRules rules;
  if (!options.local_rules_file.empty()) rules = LocalRules::LoadFile(options.local_rules_file);
  // One registry for the sink's metrics and its client's (a private one when the host has none).
  SinkOptions wired = options;
  if (!wired.metrics_registry) wired.metrics_registry = std::make_shared<prometheus::Registry>();
  auto client = std::make_unique<GrpcDispatcherClient>(wired.dispatcher_target, wired.tls);
  client->set_transport(wired.transport);
  client->ExportMetrics(*wired.metrics_registry);
  return std::make_unique<SinkCore>(wired, std::move(client), std::make_shared<ThreadTimers>(),
                                    std::move(rules));
}

}  // namespace smtpbridge::sink
